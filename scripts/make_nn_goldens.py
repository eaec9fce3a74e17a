#!/usr/bin/python3
"""Makes the forward engine's test models and goldens (run from anywhere; Debian torch 1.13 CPU):

  tests/data/models/<name>/           HF-format folders: config.json + model.safetensors (or shards)
  tests/data/models/goldens/<name>.safetensors
      tokens (B, T), mask (B, T), labels (B, T) as F32 (small integers, exact), logits (B, T, V) F32,
      loss () F32 — from scripts/nn_reference.py, a PyTorch reimplementation of HF's modeling code.

The models are random (fixed torch seeds), small (vocab 1024, width 64, 2 layers) and cover: OPT
pre-norm with a tied head (f32), OPT post-norm (350m-style, stored f16), LLaMA with grouped-query
attention and an untied head (f32), LLaMA tied (stored bf16), and LLaMA sharded over two files with an
index and head_dim ≠ hidden/heads. The matrices use std 0.15 (not HF's 0.02) so that the logits are far
from uniform and the comparison means something.

It also copies the 1024-token byte-level BPE tokenizer (tests/data/tokenizers/bytelevel-1k, whose
ids match OPT's: </s> = 2 as BOS, <pad> = 1) into opt-tied/, and writes goldens/text.json: the
reference's perplexity of a text (token ids from that tokenizer's HF-made golden.json, not from zo)
in windows, and greedy continuations, for zo's score / generate."""
import json
import math
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_reference as ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "models")
V = 1024


def models():
    return {
        "opt-tied": ref.opt_config(V, 64, 256, 2, 4, 64),
        "opt-postnorm-f16": ref.opt_config(V, 64, 128, 2, 4, 64, dtype="float16", pre=False),
        "llama-gqa": ref.llama_config(V, 64, 176, 2, 4, 2, 64),
        "llama-tied-bf16": ref.llama_config(V, 64, 128, 2, 4, 4, 64, dtype="bfloat16", tie=True),
        "llama-sharded": ref.llama_config(V, 64, 96, 2, 4, 1, 64, head_dim=32),
    }


def batch(seed):
    """B = 3, T = 12: a full row, a right-padded row (4 pads), a left-padded row (3 pads)."""
    g = torch.Generator().manual_seed(seed)
    B, T = 3, 12
    tokens = torch.randint(3, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 8:] = 0
    mask[2, :3] = 0
    tokens[mask == 0] = 1  # the pad id
    labels = tokens.clone()
    labels[mask == 0] = -100
    return tokens, mask, labels


def main():
    os.makedirs(os.path.join(ROOT, "goldens"), exist_ok=True)
    for i, (name, config) in enumerate(models().items()):
        g = torch.Generator().manual_seed(1000 + i)
        W = ref.random_weights(config, g, std=0.15)
        folder = os.path.join(ROOT, name)
        ref.write_folder(folder, config, W, shards=2 if name.endswith("sharded") else 1)
        # The reference reads the folder back, as zo does: bf16/f16 rounding included.
        config, W = ref.load_folder(folder)
        tokens, mask, labels = batch(7 + i)
        with torch.no_grad():
            logits = ref.forward(config, W, tokens, mask)
            loss = ref.causal_lm_loss(logits, labels)
        ref.save_safetensors(os.path.join(ROOT, "goldens", name + ".safetensors"), [
            ("tokens", tokens.float()), ("mask", mask.float()), ("labels", labels.float()),
            ("logits", logits.float().contiguous()), ("loss", loss.float().reshape(())),
        ], {"format": "pt", "source": "scripts/make_nn_goldens.py"})
        print(f"{name}: loss {loss.item():.6f}, max |logit| {logits.abs().max().item():.3f}")
    text_goldens()


def score_windows(config, W, ids, window):
    """HF perplexity with stride = window: each window alone, its first token unscored."""
    total, count = 0.0, 0
    for start in range(0, len(ids), window):
        chunk = torch.tensor(ids[start:start + window]).reshape(1, -1)
        if chunk.shape[1] < 2:
            continue
        with torch.no_grad():
            logits = ref.forward(config, W, chunk, torch.ones_like(chunk))
            n = chunk.shape[1] - 1
            total += ref.causal_lm_loss(logits, chunk).item() * n
        count += n
    return {"max_length": window, "sum": total, "count": count, "mean_loss": total / count,
            "perplexity": math.exp(total / count)}


def greedy(config, W, ids, n):
    seq = list(ids)
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor(seq).reshape(1, -1)
            seq.append(int(ref.forward(config, W, x, torch.ones_like(x))[0, -1].argmax()))
    return seq[len(ids):]


def text_goldens():
    tok_dir = os.path.join(ROOT, "..", "tokenizers", "bytelevel-1k")
    shutil.copy(os.path.join(tok_dir, "tokenizer.json"), os.path.join(ROOT, "opt-tied", "tokenizer.json"))
    with open(os.path.join(tok_dir, "golden.json")) as f:
        lines = json.load(f)["lines"]
    with open(os.path.join(tok_dir, "..", "corpus.json")) as f:
        corpus = json.load(f)
    text_index, prompt_index = 2, 0
    ids, prompt = lines[text_index]["ids"], lines[prompt_index]["ids"]
    out = {"made_by": "scripts/make_nn_goldens.py", "text": corpus[text_index], "ids": ids,
           "prompt": corpus[prompt_index], "prompt_ids": prompt, "models": {}}
    for name in ("opt-tied", "llama-gqa"):
        config, W = ref.load_folder(os.path.join(ROOT, name))
        out["models"][name] = {
            "score": [score_windows(config, W, ids, w) for w in (16, 64)],
            "greedy": greedy(config, W, prompt, 8),
        }
    with open(os.path.join(ROOT, "goldens", "text.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("text.json:", {k: v["score"][1]["perplexity"] for k, v in out["models"].items()})


if __name__ == "__main__":
    main()
