#!/usr/bin/python3
"""Writes the golden of `zo score` on a pretrained model under models/ (--model, default opt-text-proto;
tests/tasks/opt_text_score_test.cpp):

  tests/data/text/heldout.txt                 the first 8 spam and first 16 sotu-party validation-split
                                              records' texts, joined by blank lines (held-out text: not
                                              in the pretraining corpus)
  tests/data/text/<model>_heldout_score.json  (e.g. opt_text_proto_heldout_score.json: the model's
                                              name with '-' as '_') its token ids by Hugging Face
                                              tokenizers (npm @anush008/tokenizers, special tokens
                                              added) and the PyTorch model's per-window perplexity
                                              (HF's recipe with stride = max_length, as zo::nn::score
                                              documents it)

The model's forward pass is scripts/nn_reference.py's opt_forward (HF modeling_opt.py's math), run
in float64 here (its softmax in float32, as HF's eager attention does) so that the golden's own
rounding is far below the test's 1e-4 relative tolerance.

Usage: /usr/bin/python3 scripts/data/make_score_golden.py [--model opt-text-proto]
       (after scripts/data/build.sh; any model folder pretrained by scripts/pretrain.py, e.g. a rebuilt
       models/opt-text, works: models/README.md)
"""
import argparse
import json
import math
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import nn_reference as ref  # noqa: E402

MAX_LENGTH = 512


def first_texts(path, n):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line)["text"])
            if len(out) == n:
                break
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="opt-text-proto", help="the folder under models/")
    args = ap.parse_args()
    model_dir = os.path.join(ROOT, "models", args.model)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not os.path.isfile(os.path.join(model_dir, name)):
            sys.exit(f"make_score_golden.py: error: {model_dir}/{name}: missing (models/README.md says how to build it)")
    texts = first_texts(os.path.join(ROOT, "data", "spam", "validation.jsonl"), 8)
    texts += first_texts(os.path.join(ROOT, "data", "sotu-party", "validation.jsonl"), 16)
    text = "\n\n".join(texts) + "\n"
    out_dir = os.path.join(ROOT, "tests", "data", "text")
    os.makedirs(out_dir, exist_ok=True)
    text_path = os.path.join(out_dir, "heldout.txt")
    with open(text_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)

    js = ("const {Tokenizer}=require(require.resolve('@anush008/tokenizers',{paths:[process.argv[1]]}));"
          "const fs=require('fs');(async()=>{const t=Tokenizer.fromFile(process.argv[2]);"
          "const e=await t.encode(fs.readFileSync(process.argv[3],'utf8'),null,{addSpecialTokens:true});"
          "process.stdout.write(JSON.stringify(Array.from(e.getIds())));})()"
          ".catch((e)=>{console.error(e.message);process.exit(1);});")
    ids = json.loads(subprocess.run(["node", "-e", js, os.path.join(HERE, "node_modules"),
                                     os.path.join(model_dir, "tokenizer.json"), text_path],
                                    check=True, capture_output=True, text=True).stdout)

    config, W = ref.load_folder(model_dir)
    W = {k: v.double() for k, v in W.items()}
    x = torch.tensor(ids, dtype=torch.int64)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), MAX_LENGTH):
            w = x[start:start + MAX_LENGTH][None]
            if w.shape[1] < 2:
                continue
            # opt_forward builds its mask in float32; the weights are float64, so the sums are too.
            logits = ref.opt_forward(config, W, w, torch.ones_like(w)).double()
            nll = F.cross_entropy(logits[0, :-1], w[0, 1:], reduction="sum")
            total += float(nll)
            count += w.shape[1] - 1
    golden = {"text": "tests/data/text/heldout.txt", "model": "models/" + args.model, "max_length": MAX_LENGTH,
              "ids": ids, "tokens_scored": count, "sum": total, "mean_loss": total / count,
              "perplexity": math.exp(total / count),
              "reference": "scripts/nn_reference.py opt_forward in float64 (PyTorch %s)" % torch.__version__}
    with open(os.path.join(out_dir, args.model.replace("-", "_") + "_heldout_score.json"), "w") as f:
        json.dump(golden, f)
        f.write("\n")
    print(f"{len(ids)} tokens, {count} scored, perplexity {golden['perplexity']:.6f}")


if __name__ == "__main__":
    main()
