#!/usr/bin/python3
"""Generation speed: `zo generate` with its KV cache, without it (--no-kv-cache: every token re-runs
the whole sequence), and a PyTorch peer doing the same two ways, on one model and one prompt.

  zo cached      build/zo generate --stats (prefill once, then one position per token)
  zo uncached    build/zo generate --stats --no-kv-cache
  torch cached   scripts/nn_modules.py's HF-layout model, run as HF does with past_key_values: the
                 prompt once, then one position per token over per-layer key/value tensors
                 (concatenated each step, as HF's DynamicCache does)
  torch uncached the same model re-run on the whole sequence for every token
Every side decodes greedily (--ignore-eos) the same prompt ids (zo's tokenizer) for --new-tokens
tokens, each in its own process with --threads threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS,
torch.set_num_threads), --repeats times after one warm-up run. Time counted: generation only (the
first token's forward over the prompt plus every later token), not loading. Reports tokens/s
(new tokens / median seconds), each side's speed-up over zo uncached, and whether its tokens equal
zo cached's. Prints a table; writes bench/results/generate/generate.csv (one row per side and
repeat) and generate.md (the table).

  /usr/bin/python3 bench/generate_bench.py [--model models/opt-text-proto] [--new-tokens 256]
      [--prompt TEXT] [--tokenizer FILE] [--threads 2] [--repeats 3] [--sides zo-cached,zo-uncached,torch-cached,torch-uncached]
"""
import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

SIDES = ["zo-cached", "zo-uncached", "torch-cached", "torch-uncached"]


def thread_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def run_zo(args, cached):
    """One `zo generate` run: (seconds of generation, prompt ids, generated ids)."""
    cmd = [args.zo, "generate", "--model", args.model, "--prompt", args.prompt, "--max-new-tokens",
           str(args.new_tokens), "--ignore-eos", "--ids", "--stats"] + ([] if cached else ["--no-kv-cache"])
    if args.tokenizer:
        cmd += ["--tokenizer", args.tokenizer]
    p = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(args.threads))
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    fields = {}
    for line in p.stderr.splitlines():
        if line.startswith("stats "):
            words = line.split()[1:]
            fields = dict(zip(words[::2], words[1::2]))
    ids = {}
    for line in p.stdout.splitlines():
        for key in ("prompt_ids", "generated_ids"):
            if line.startswith(key):
                ids[key] = [int(x) for x in line.split()[1:]]
    seconds = float(fields["prefill_s"]) + float(fields["decode_s"])
    return seconds, ids["prompt_ids"], ids["generated_ids"]


# --- the PyTorch peer (runs in its own process: --worker) ----------------------------------------

def torch_generate(model, config, prompt, new_tokens, cached):
    import torch
    import nn_reference as ref
    opt = config["model_type"] == "opt"
    seq = torch.tensor([prompt], dtype=torch.long)
    if not cached:
        out = []
        for _ in range(new_tokens):
            logits = model(seq)[0, -1]
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
        return out

    C = config["hidden_size"]
    NH = config["num_attention_heads"]
    NKV = config.get("num_key_value_heads") or NH
    HD = config.get("head_dim") or C // NH
    past = [None] * config["num_hidden_layers"]  # per layer (k, v), each (1, heads, positions, HD)

    def step(ids, start):
        T = ids.shape[1]
        mask = None
        if T > 1:  # the prompt: causal among its own positions (nothing is cached before it)
            mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)[None, None]
        if opt:
            d = model.model.decoder
            x = d.embed_tokens(ids) + d.embed_positions(torch.arange(start, start + T)[None] + 2)
            for l, layer in enumerate(d.layers):
                a = layer.self_attn
                h = layer.self_attn_layer_norm(x) if layer.pre else x
                q = (a.q_proj(h) * a.scaling).view(1, T, NH, HD).transpose(1, 2)
                k = a.k_proj(h).view(1, T, NH, HD).transpose(1, 2)
                v = a.v_proj(h).view(1, T, NH, HD).transpose(1, 2)
                if past[l] is not None:
                    k, v = torch.cat([past[l][0], k], 2), torch.cat([past[l][1], v], 2)
                past[l] = (k, v)
                att = ref.eager_attention(q, k, v, 0.0 if mask is None else mask, 1.0).reshape(1, T, C)
                x = x + a.out_proj(att)
                if not layer.pre:
                    x = layer.self_attn_layer_norm(x)
                h = layer.final_layer_norm(x) if layer.pre else x
                x = x + layer.fc2(torch.relu(layer.fc1(h)))
                if not layer.pre:
                    x = layer.final_layer_norm(x)
            if d.final:
                x = d.final_layer_norm(x)
        else:
            m = model.model
            base = config.get("rope_theta", 10000.0)
            inv_freq = 1.0 / (base ** (torch.arange(0, HD, 2, dtype=torch.int64).float() / HD))
            freqs = torch.arange(start, start + T).float()[:, None] * inv_freq[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos()[None, None], emb.sin()[None, None]
            x = m.embed_tokens(ids)
            for l, layer in enumerate(m.layers):
                a = layer.self_attn
                h = layer.input_layernorm(x)
                q = a.q_proj(h).view(1, T, NH, HD).transpose(1, 2)
                k = a.k_proj(h).view(1, T, NKV, HD).transpose(1, 2)
                v = a.v_proj(h).view(1, T, NKV, HD).transpose(1, 2)
                q = q * cos + ref.rotate_half(q) * sin
                k = k * cos + ref.rotate_half(k) * sin
                if past[l] is not None:
                    k, v = torch.cat([past[l][0], k], 2), torch.cat([past[l][1], v], 2)
                past[l] = (k, v)
                rep = NH // NKV
                kk = k[:, :, None].expand(1, NKV, rep, k.shape[2], HD).reshape(1, NH, k.shape[2], HD)
                vv = v[:, :, None].expand(1, NKV, rep, v.shape[2], HD).reshape(1, NH, v.shape[2], HD)
                att = ref.eager_attention(q, kk, vv, 0.0 if mask is None else mask, HD ** -0.5).reshape(1, T, NH * HD)
                x = x + a.o_proj(att)
                h = layer.post_attention_layernorm(x)
                x = x + layer.mlp.down_proj(torch.nn.functional.silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
            x = m.norm(x)
        return model.lm_head(x[:, -1])[0]

    out = []
    logits = step(seq, 0)
    for i in range(new_tokens):
        nxt = int(torch.argmax(logits))
        out.append(nxt)
        if i + 1 < new_tokens:
            logits = step(torch.tensor([[nxt]]), len(prompt) + i)
    return out


def torch_worker(args):
    import torch
    import nn_modules
    torch.set_num_threads(args.threads)
    import nn_reference as ref
    config, _ = ref.load_folder(args.model)
    model = nn_modules.from_folder(args.model).eval()
    prompt = [int(x) for x in args.prompt_ids.split(",")]
    with torch.no_grad():
        start = time.perf_counter()
        tokens = torch_generate(model, config, prompt, args.new_tokens, args.worker == "torch-cached")
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "tokens": tokens}))


def run_torch(args, side, prompt):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--model", args.model, "--new-tokens",
           str(args.new_tokens), "--threads", str(args.threads), "--prompt-ids", ",".join(map(str, prompt))]
    p = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(args.threads))
    if p.returncode != 0:
        sys.exit(f"{side} failed ({p.returncode}):\n{p.stderr}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["seconds"], r["tokens"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models/opt-text-proto"))
    ap.add_argument("--tokenizer", help="tokenizer.json when the model folder has none")
    ap.add_argument("--prompt", default="Call me Ishmael. Some years ago")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument("--zo", default=os.path.join(ROOT, "build/zo"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/generate"))
    ap.add_argument("--worker", choices=["torch-cached", "torch-uncached"], help=argparse.SUPPRESS)
    ap.add_argument("--prompt-ids", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return torch_worker(args)
    sides = args.sides.split(",")
    for s in sides:
        if s not in SIDES:
            sys.exit(f"--sides: unknown side '{s}' (known: {', '.join(SIDES)})")
    if args.new_tokens < 1 or args.repeats < 1 or args.threads < 1:
        sys.exit("--new-tokens, --repeats and --threads must be >= 1")

    _, prompt, reference = run_zo(args, True)  # the prompt ids every side uses, and the reference tokens
    rows, seconds, same = [], {s: [] for s in sides}, {}
    for r in range(args.repeats + 1):  # round 0 warms up (page cache, libraries); not counted
        for side in sides:
            if side.startswith("zo"):
                s, _, tokens = run_zo(args, side == "zo-cached")
            else:
                s, tokens = run_torch(args, side, prompt)
            same[side] = same.get(side, True) and tokens == reference
            if r > 0:
                seconds[side].append(s)
                rows.append({"side": side, "repeat": r, "prompt_tokens": len(prompt), "new_tokens": len(tokens),
                             "seconds": f"{s:.6f}", "tokens_per_s": f"{len(tokens) / s:.3f}",
                             "same_tokens_as_zo_cached": tokens == reference})
            print(f"  round {r} {side}: {s:.3f} s", file=sys.stderr)

    median = {s: statistics.median(v) for s, v in seconds.items()}
    base = median.get("zo-uncached")
    lines = [f"model {os.path.relpath(args.model, ROOT)}, prompt {len(prompt)} tokens, {args.new_tokens} new tokens "
             f"(greedy), {args.threads} threads, median of {args.repeats}; {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs",
             "",
             "| side | median s | tokens/s | × zo uncached | same tokens as zo cached |",
             "|---|---|---|---|---|"]
    for s in sides:
        speedup = f"{base / median[s]:.2f}" if base else "—"
        lines.append(f"| {s} | {median[s]:.3f} | {args.new_tokens / median[s]:.1f} | {speedup} | "
                     f"{'yes' if same[s] else 'no'} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "generate.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "generate.md"), "w") as f:
        f.write(table + "\n\n`/usr/bin/python3 bench/generate_bench.py " + " ".join(sys.argv[1:]) + "`\n")


if __name__ == "__main__":
    main()
