#!/usr/bin/python3
"""Pretrains a small OPT-architecture causal language model on zo's pretraining corpus (Moby-Dick +
training-split SOTU addresses + training-split e-mails, data/pretrain/): the models under models/
(models/README.md gives the command line of each).

The forward pass is scripts/nn_reference.py's opt_forward (HF modeling_opt.py's math, line by line)
applied to a dict of trainable tensors, so the trained weights mean exactly what HF's
OPTForCausalLM and zo's engine make of them. Dropout is 0 (the config says so), embeddings tied.

Data: data/pretrain/train.u16 and validation.u16, flat little-endian uint16 token streams written by
scripts/data/tokenize_corpus.js with models/opt-text-proto/tokenizer.json (every document starts with
</s>).
Batches: --batch windows of --seq tokens at uniformly drawn offsets of the training stream
(torch.Generator seeded with --seed, state checkpointed). Loss: HF's causal-LM loss.
Optimizer: AdamW (beta 0.9/0.95, weight decay 0.1 on matrices), linear warm-up then cosine decay
to 10 % of --lr, gradient norm clipped to 1.

Held-out perplexity: exp(mean next-token NLL) over validation.u16 cut into consecutive,
non-overlapping windows of --eval-seq tokens, every --eval-every-th window scored (the CPU budget);
each window is scored alone (no context across windows), its first token not predicted (HF's
perplexity recipe with stride = window, as zo score does it).

Resumable: every --ckpt-every steps the full state (weights, AdamW moments, step, RNG) goes to
--work/ckpt.pt (atomically); --resume continues from it. Loss of every step goes to --work/loss.csv.
At the end: --out/{config.json, model.safetensors, tokenizer.json (a copy of --tokenizer), loss.csv,
loss.png, perplexity.json}. The defaults are models/opt-text's CPU recipe (800 steps of 8 x 128 tokens);
models/opt-text-proto is --steps 1200 --batch 16 --out models/opt-text-proto.

Usage: nice -n 10 /usr/bin/python3 scripts/pretrain.py [--steps 800] [--out models/opt-text] [--resume]
"""
import argparse
import csv
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_reference as ref  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def fail(msg):
    print(f"pretrain: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_stream(path, vocab, tokenizer):
    if not os.path.exists(path):
        fail(f"{path}: missing; run scripts/data/build.sh")
    ids = np.fromfile(path, dtype="<u2").astype(np.int64)
    if ids.size == 0:
        fail(f"{path}: empty token stream")
    if ids.max() >= vocab:
        fail(f"{path}: token id {int(ids.max())} >= vocab_size {vocab} of {tokenizer}: the stream was made with "
             "another tokenizer; rerun scripts/data/build.sh")
    return torch.from_numpy(ids)


def tokenizer_vocab(path):
    if not os.path.exists(path):
        fail(f"{path}: missing; run node scripts/make_text_tokenizer.js")
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    ids = set(tj["model"]["vocab"].values()) | {t["id"] for t in tj.get("added_tokens", [])}
    return max(ids) + 1


def init_weights(config, gen):
    """HF OPTPreTrainedModel._init_weights: Linear/Embedding N(0, init_std), biases 0, LayerNorm 1/0."""
    std = config["init_std"]
    C, V, Fd = config["hidden_size"], config["vocab_size"], config["ffn_dim"]
    p = "model.decoder."
    W = {p + "embed_tokens.weight": torch.randn(V, C, generator=gen) * std,
         p + "embed_positions.weight": torch.randn(config["max_position_embeddings"] + 2, C, generator=gen) * std,
         p + "final_layer_norm.weight": torch.ones(C), p + "final_layer_norm.bias": torch.zeros(C)}
    W[p + "embed_tokens.weight"][config["pad_token_id"]] = 0  # HF zeroes the padding row
    for l in range(config["num_hidden_layers"]):
        lp = f"{p}layers.{l}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            W[lp + f"self_attn.{proj}.weight"] = torch.randn(C, C, generator=gen) * std
            W[lp + f"self_attn.{proj}.bias"] = torch.zeros(C)
        W[lp + "self_attn_layer_norm.weight"] = torch.ones(C)
        W[lp + "self_attn_layer_norm.bias"] = torch.zeros(C)
        W[lp + "fc1.weight"] = torch.randn(Fd, C, generator=gen) * std
        W[lp + "fc1.bias"] = torch.zeros(Fd)
        W[lp + "fc2.weight"] = torch.randn(C, Fd, generator=gen) * std
        W[lp + "fc2.bias"] = torch.zeros(C)
        W[lp + "final_layer_norm.weight"] = torch.ones(C)
        W[lp + "final_layer_norm.bias"] = torch.zeros(C)
    return W


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def batch(stream, args, gen, device):
    starts = torch.randint(0, stream.numel() - args.seq, (args.batch,), generator=gen)
    x = torch.stack([stream[s:s + args.seq] for s in starts.tolist()]).to(device)
    return x


@torch.no_grad()
def perplexity(config, W, stream, seq, device, every=1):
    total, count = 0.0, 0
    windows = [stream[i:i + seq] for i in range(0, stream.numel(), seq)]
    windows = [w for w in windows[::every] if w.numel() >= 2]
    for i in range(0, len(windows), 8):
        group = windows[i:i + 8]
        same = [w for w in group if w.numel() == seq]  # only the last window is shorter
        rest = [w for w in group if w.numel() != seq]
        chunks = ([torch.stack(same)] if same else []) + [w[None] for w in rest]
        for x in chunks:
            x = x.to(device)
            logits = ref.opt_forward(config, W, x, torch.ones_like(x))
            nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1),
                                  reduction="sum")
            total += float(nll)
            count += x[:, 1:].numel()
    return math.exp(total / count), count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "pretrain"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "opt-text-proto", "tokenizer.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "opt-text"))
    ap.add_argument("--work", default="/tmp/zo-pretrain", help="checkpoint and log folder")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--eval-seq", type=int, default=512)
    ap.add_argument("--eval-every", type=int, default=4,
                    help="score every n-th --eval-seq window of the validation stream (1 = all of it)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--max-positions", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads; 1 was fastest on a loaded 2-core machine")
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    vocab = tokenizer_vocab(args.tokenizer)
    train = load_stream(os.path.join(args.data, "train.u16"), vocab, args.tokenizer)
    valid = load_stream(os.path.join(args.data, "validation.u16"), vocab, args.tokenizer)
    if args.seq + 1 > train.numel():
        fail(f"training stream of {train.numel()} tokens is shorter than --seq {args.seq}")
    if max(args.seq, args.eval_seq) > args.max_positions:
        fail(f"--seq/--eval-seq exceed --max-positions {args.max_positions}")

    config = ref.opt_config(vocab, args.hidden, args.ffn, args.layers, args.heads, args.max_positions)
    config.update({"_name_or_path": "zo-opt-text", "dropout": 0.0})
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "ckpt.pt")
    log_path = os.path.join(args.work, "loss.csv")

    gen = torch.Generator().manual_seed(args.seed)
    W = init_weights(config, gen)
    names = list(W)
    params = [W[n].to(device).requires_grad_(True) for n in names]
    W = dict(zip(names, params))
    decay = [W[n] for n in names if W[n].dim() == 2]
    no_decay = [W[n] for n in names if W[n].dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    step, elapsed, history = 0, 0.0, []
    if args.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path)
        if state["config"] != config:
            fail(f"{ckpt_path}: checkpoint made for another model config; remove it or match the settings")
        history = state.get("history", [])
        if state["args"]["steps"] != args.steps:  # the schedule follows the new total from here on
            print(f"note: --steps changed from {state['args']['steps']} to {args.steps} on resume", flush=True)
            history.append({"at_step": state["step"], "steps_from": state["args"]["steps"], "steps_to": args.steps})
        with torch.no_grad():
            for n in names:
                W[n].copy_(state["weights"][n])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed at step {step} ({elapsed:.0f} s)", flush=True)
    elif not args.resume or not os.path.exists(log_path):
        with open(log_path, "w") as f:
            f.write("step,loss,lr,seconds\n")
    nparams = sum(p.numel() for p in params)
    print(f"{nparams} parameters, {train.numel()} training tokens, device {device}", flush=True)

    def save_ckpt():
        state = {"config": config, "args": vars(args), "weights": {n: W[n].detach().cpu() for n in names},
                 "opt": opt.state_dict(), "gen": gen.get_state(), "step": step, "elapsed": elapsed,
                 "history": history}
        torch.save(state, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)

    t0 = time.time()
    while step < args.steps:
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        x = batch(train, args, gen, device)
        logits = ref.opt_forward(config, W, x, torch.ones_like(x))
        loss = ref.causal_lm_loss(logits, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        now = time.time()
        elapsed += now - t0
        t0 = now
        with open(log_path, "a") as f:
            f.write(f"{step},{loss.item():.6f},{lr:.6g},{elapsed:.1f}\n")
        if step % 10 == 0:
            tps = step * args.batch * args.seq / max(elapsed, 1e-9)
            print(f"step {step}/{args.steps} loss {loss.item():.4f} lr {lr:.2e} {elapsed:.0f} s ({tps:.0f} tokens/s)",
                  flush=True)
        if step % args.ckpt_every == 0 or step == args.steps:
            save_ckpt()

    # Export: HF folder + perplexity + loss curve.
    final = {n: W[n].detach().cpu().float() for n in names}
    os.makedirs(args.out, exist_ok=True)
    ref.write_folder(args.out, config, final)
    tokenizer_out = os.path.join(args.out, "tokenizer.json")
    if not os.path.exists(tokenizer_out) or not os.path.samefile(args.tokenizer, tokenizer_out):
        shutil.copyfile(args.tokenizer, tokenizer_out)  # the folder is complete: zo score --model reads it
    ppl, count = perplexity(config, {n: v.to(device) for n, v in final.items()}, valid, args.eval_seq, device,
                            args.eval_every)
    with open(log_path) as f:  # a resumed run redoes the steps after its checkpoint: keep the last row
        rows = sorted({int(r["step"]): r for r in csv.DictReader(f)}.values(), key=lambda r: int(r["step"]))
    with open(os.path.join(args.out, "loss.csv"), "w") as f:
        f.write("step,loss,lr,seconds\n")
        for r in rows:
            f.write(f"{r['step']},{r['loss']},{r['lr']},{r['seconds']}\n")
    result = {"heldout": "data/pretrain/validation.u16 (validation splits of spam and sotu-party), "
              f"every {args.eval_every}. window of {args.eval_seq} tokens",
              "perplexity": ppl, "predicted_tokens": count, "eval_window": args.eval_seq, "steps": args.steps,
              "batch": args.batch, "seq": args.seq, "parameters": nparams, "train_seconds": round(elapsed, 1),
              "device": device, "threads": args.threads, "lr": args.lr, "seed": args.seed,
              "steps_changed_on_resume": history,
              "final_train_loss_mean_last_50": sum(float(r["loss"]) for r in rows[-50:]) / len(rows[-50:])}
    with open(os.path.join(args.out, "perplexity.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [int(r["step"]) for r in rows]
    losses = [float(r["loss"]) for r in rows]
    k = 20
    smooth = [sum(losses[max(0, i - k + 1):i + 1]) / len(losses[max(0, i - k + 1):i + 1]) for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, lw=0.5, alpha=0.4, label="training loss (per step)")
    ax.plot(steps, smooth, lw=1.5, label=f"mean of last {k} steps")
    ax.axhline(math.log(ppl), color="k", ls="--", lw=1, label=f"held-out: ln({ppl:.1f})")
    ax.set_xlabel("step (batch %d x %d tokens)" % (args.batch, args.seq))
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(f"opt-text pretraining, {nparams / 1e6:.2f} M parameters")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "loss.png"), dpi=100)
    print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
