#!/usr/bin/env python3
"""Goldens from Hugging Face transformers itself (not zo's PyTorch reimplementation): needs transformers,
torch and safetensors, which Debian 12 does not package, so it runs on a machine that has them
(scripts/device_check.sh runs it there). Everything is computed on the CPU, in float64 with eager attention where that
leaves no NaN (SETTINGS), weights upcast from the files exactly as stored.

Writes, under --out:
  <name>.safetensors   (logits at padded positions are NaN: not compared) for each test model of tests/data/models (opt-tied, opt-postnorm-f16, llama-gqa,
                       llama-tied-bf16, llama-sharded) and for the pretrained model (--model, default
                       models/opt-text-proto): for the test models the same batch as
                       scripts/make_nn_goldens.py's golden (tokens, mask, labels as F32), the logits of
                       AutoModelForCausalLM (B, T, V) F32 and HF's own loss for `labels` (F32 scalar).
                       The pretrained model's logits keep the first 1 024 of 8 192 columns; its batch:
                       three rows of 48 tokens of tests/data/text/heldout.txt (ids from
                       tests/data/text/<model>_heldout_score.json, scripts/data/make_score_golden.py),
                       right-padded and left-padded as in the test batch.
  <model>_heldout_score_hf.json   (e.g. opt_text_proto_heldout_score_hf.json)
                       HF's perplexity of the held-out text under the pretrained model, windows of 512
                       tokens scored alone (stride = window), first token of each window unscored.
tests/nn/hf_reference_test.cpp reads the test models' files from tests/data/models/goldens/hf/. The
pretrained model's two files are written for comparison; no test reads them.

Usage: python3 scripts/make_hf_goldens.py --out DIR [--model opt-text-proto]
"""
import argparse
import json
import math
import os

import torch
import transformers
from safetensors.torch import load_file, save_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
KEPT_COLUMNS = 1024  # the pretrained model's logits keep these vocabulary columns: 0.6 MB instead of 4.7 MB
TEST_MODELS = ["opt-tied", "opt-postnorm-f16", "llama-gqa", "llama-tied-bf16", "llama-sharded"]


def load(folder, dtype=torch.float64, attention="eager"):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attention)
    return model.eval()


# transformers 5 gives NaN for every position of a left-padded row under eager attention in float64 (its
# padded queries see no key; the NaN then reaches the real positions through the next layer's values).
# So each model is run in the first of these settings that leaves every real position finite.
SETTINGS = [(torch.float64, "eager"), (torch.float64, "sdpa"), (torch.float32, "eager"), (torch.float32, "sdpa")]


def run_finite(folder, tokens, mask, labels):
    for dtype, attention in SETTINGS:
        model = load(folder, dtype, attention)
        logits, loss = run(model, tokens, mask, labels)
        bad = torch.isnan(logits).any(-1) & mask.bool()
        print(f"  {str(dtype)[6:]} {attention}: NaN at {int(bad.sum())} real positions, loss {loss.item():.8f}", flush=True)
        if not bad.any() and torch.isfinite(loss):
            return model, logits, loss, f"{str(dtype)[6:]}, {attention} attention"
    raise SystemExit(f"{folder}: every setting leaves NaN at real positions")


def hf_labels(labels, mask):
    """The test batch's labels, also -100 where the predicting position is padding (the first real token
    of a left-padded row): HF 5's eager attention gives NaN logits at a query whose every key is masked,
    and its loss would take them in. The logits of padded positions are not compared either."""
    labels = labels.clone()
    labels[:, 1:][mask[:, :-1] == 0] = -100
    return labels


def run(model, tokens, mask, labels):
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, labels=labels)
    return out.logits, out.loss


def save(path, tokens, mask, labels, logits, loss, source, note=None):
    metadata = {"format": "pt", "source": source, "transformers": transformers.__version__, "torch": torch.__version__}
    if note:
        metadata["note"] = note
    save_file({"tokens": tokens.float().contiguous(), "mask": mask.float().contiguous(),
               "labels": labels.float().contiguous(), "logits": logits.float().contiguous(),
               "loss": loss.float().reshape(())}, path, metadata=metadata)


def heldout_batch(ids):
    """B = 3, T = 48 from the held-out ids: a full row, a right-padded row (8 pads), a left-padded row (5)."""
    B, T = 3, 48
    tokens = torch.tensor([ids[i * T:(i + 1) * T] for i in range(B)], dtype=torch.long)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T - 8:] = 0
    mask[2, :5] = 0
    tokens[mask == 0] = 1  # OPT's pad id
    labels = tokens.clone()
    labels[mask == 0] = -100
    return tokens, mask, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="opt-text-proto", help="the pretrained model's folder under models/")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    source = "scripts/make_hf_goldens.py (transformers AutoModelForCausalLM, float64, CPU)"

    for name in TEST_MODELS:
        g = load_file(os.path.join(ROOT, "tests", "data", "models", "goldens", name + ".safetensors"))
        tokens, mask, labels = (g[k].long() for k in ("tokens", "mask", "labels"))
        labels = hf_labels(labels, mask)
        model, logits, loss, setting = run_finite(os.path.join(ROOT, "tests", "data", "models", name), tokens, mask, labels)
        # How far HF is from the PyTorch reimplementation's golden: printed for the notes, not asserted.
        real = mask.bool()
        diff = (logits.float() - g["logits"])[real].abs().max().item() / g["logits"][real].abs().max().item()
        print(f"{name}: {type(model).__name__} loss {loss.item():.8f} (reimplementation {g['loss'].item():.8f}); "
              f"max |HF - reimplementation| / max |logit| = {diff:.2e}", flush=True)
        save(os.path.join(args.out, name + ".safetensors"), tokens, mask, labels, logits, loss, f"{source}; {setting}")

    stem = args.model.replace("-", "_")
    with open(os.path.join(ROOT, "tests", "data", "text", stem + "_heldout_score.json")) as f:
        heldout = json.load(f)
    ids, window = heldout["ids"], heldout["max_length"]
    tokens, mask, labels = heldout_batch(ids)
    labels = hf_labels(labels, mask)
    folder = os.path.join(ROOT, "models", args.model)
    _, logits, loss, setting = run_finite(folder, tokens, mask, labels)
    print(f"{args.model}: loss {loss.item():.8f}", flush=True)
    save(os.path.join(args.out, args.model + ".safetensors"), tokens, mask, labels, logits[:, :, :KEPT_COLUMNS], loss,
         f"{source}; {setting}", f"logits: the first {KEPT_COLUMNS} of the {logits.shape[-1]} vocabulary columns (file "
         "size); loss: HF over the whole vocabulary")
    model = load(folder)  # unpadded windows: float64, eager

    total, count = 0.0, 0
    for start in range(0, len(ids), window):
        chunk = torch.tensor(ids[start:start + window], dtype=torch.long).reshape(1, -1)
        if chunk.shape[1] < 2:
            continue
        _, loss = run(model, chunk, torch.ones_like(chunk), chunk)
        n = chunk.shape[1] - 1
        total += loss.item() * n
        count += n
    result = {"text": heldout["text"], "model": "models/" + args.model, "max_length": window, "ids": ids,
              "tokens_scored": count, "sum": total, "mean_loss": total / count, "perplexity": math.exp(total / count),
              "reference": f"{source}, transformers {transformers.__version__}, torch {torch.__version__}"}
    with open(os.path.join(args.out, stem + "_heldout_score_hf.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"{args.model} held-out perplexity (HF): {result['perplexity']:.10g} over {count} tokens; "
          f"reimplementation {heldout['perplexity']:.10g}", flush=True)


if __name__ == "__main__":
    main()
