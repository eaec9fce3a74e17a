#!/usr/bin/python3
"""Makes tests/data/prompt_goldens/<model>.json: the prompt-based fine-tuning objective (zo's
PromptObjective, include/zo/tasks/prompt_loss.hpp) computed by PyTorch from token ids, for
tests/train/prompt_golden_test.cpp. Run with Debian's torch 1.13 CPU, from anywhere:

  /usr/bin/python3 scripts/make_prompt_goldens.py

Each candidate's full sequence (prompt + option tokens) goes alone (B = 1, no padding) through
scripts/nn_reference.py's forward in float64 (the test models' float32 weights converted exactly).
ℓ_c,j = log_softmax(logits at the position before option token j)[option token j], and from ℓ:

  mean score s_c = mean_j ℓ_c,j            sum score = Σ_j ℓ_c,j
  lm loss        = − Σ_examples Σ_j ℓ_gold,j / Σ_examples n_gold   (token mean over the whole batch)
  classification = (1/B) Σ_examples − log softmax_c(s_c)[gold]      (mean scores)
  prediction     = argmax_c score (lowest index on ties), accuracy, balanced accuracy (mean per-class
                   recall over the gold classes present), margin = mean over examples of
                   s_gold − max_{c≠gold} s_c (mean scores)

All of it in float64. The examples cover candidates of different lengths (1, 2, 3 tokens: mean and
sum scores rank them differently), binary one-token label words ("yes"/"no" after one prompt, which
zo scores from one sequence), and one-token candidates next to a longer one. The script checks that
every prediction wins by a clear gap, so that float32 rounding in zo cannot flip it, and records the
deviation of a float32, right-padded, batched run of the same reference (zo's arithmetic and layout)
from the float64 values."""
import json
import math
import os
import re
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_reference as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "tests", "data", "models")
OUT = os.path.join(HERE, "..", "tests", "data", "prompt_goldens")
MIN_GAP = 1e-3  # the smallest allowed difference between the best and the second-best score


def examples(bos):
    """(prompt ids, candidates' option ids, gold index); the prompt starts with the model's BOS."""
    yes, no = 900, 901  # label words
    return [
        ([bos, 101, 202, 303, 404, 505], [[611, 612], [721], [831, 832, 833]], 2),
        ([bos, 45, 67, 89, 123, 234, 345, 456], [[yes], [no]], 0),
        ([bos, 17, 18, 19], [[yes], [no]], 1),
        ([bos, 300, 301, 302, 303, 304, 305, 306, 307, 308], [[70], [80], [90, 91]], 1),
        ([bos, 500, 12, 640, 12, 780], [[33, 34, 35], [44], [55, 56]], 0),
        ([bos, 250, 251, 252, 253], [[yes], [no]], 0),
        ([bos, 150, 160, 170], [[40, 41], [10]], 0),  # on opt-tied the mean score picks 0, the sum 1
    ]


def batches():
    """Training batches (example indices) for the losses."""
    return [[0, 1, 2, 3, 4, 5, 6], [3, 1], [2], [4, 0, 6, 5]]


def log_probs_alone(config, W, sequence, n):
    """ℓ of the last n tokens of `sequence`, the sequence alone through the reference."""
    x = torch.tensor([sequence])
    with torch.no_grad():
        logits = ref.forward(config, W, x, torch.ones_like(x))[0]
    T = len(sequence)
    lp = F.log_softmax(logits[T - 1 - n:T - 1], dim=-1)
    return [float(lp[j, sequence[T - n + j]]) for j in range(n)]


def log_probs_padded(config, W, sequences, lengths, pad):
    """ℓ of every sequence's last lengths[i] tokens from ONE right-padded batch (zo's layout)."""
    T = max(len(s) for s in sequences)
    x = torch.full((len(sequences), T), pad, dtype=torch.long)
    mask = torch.zeros_like(x)
    for i, s in enumerate(sequences):
        x[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    with torch.no_grad():
        logits = ref.forward(config, W, x, mask)
    out = []
    for i, (s, n) in enumerate(zip(sequences, lengths)):
        lp = F.log_softmax(logits[i, len(s) - 1 - n:len(s) - 1].double(), dim=-1)
        out.append([float(lp[j, s[len(s) - n + j]]) for j in range(n)])
    return out


def predict(scores):
    best = 0
    for c in range(1, len(scores)):
        if scores[c] > scores[best]:
            best = c
    return best


def lm_loss(log_probs, gold, batch):
    total = sum(sum(log_probs[e][gold[e]]) for e in batch)
    count = sum(len(log_probs[e][gold[e]]) for e in batch)
    return -total / count


def classification_loss(means, gold, batch):
    total = 0.0
    for e in batch:
        s = means[e]
        m = max(s)
        total += -(s[gold[e]] - m - math.log(sum(math.exp(v - m) for v in s)))
    return total / len(batch)


def evaluation(scores, means, gold):
    predictions = [predict(s) for s in scores]
    for s in scores:
        top = sorted(s, reverse=True)
        assert top[0] - top[1] > MIN_GAP, f"scores {s}: the best wins by less than {MIN_GAP}"
    recall = {}
    for p, g in zip(predictions, gold):
        hit, total = recall.get(g, (0, 0))
        recall[g] = (hit + (p == g), total + 1)
    margin = sum(m[g] - max(v for c, v in enumerate(m) if c != g) for m, g in zip(means, gold)) / len(gold)
    return {
        "predictions": predictions,
        "accuracy": sum(p == g for p, g in zip(predictions, gold)) / len(gold),
        "balanced_accuracy": sum(h / t for h, t in recall.values()) / len(recall),
        "margin": margin,
    }


def golden(name):
    folder = os.path.join(MODELS, name)
    config, W32 = ref.load_folder(folder)
    W64 = {k: v.double() for k, v in W32.items()}
    bos = config.get("bos_token_id", 1)
    pad = config.get("pad_token_id") or 0  # zo pads with pad_token_id, 0 when the model has none
    out_examples, log_probs, gold = [], [], []
    flat, flat_lengths = [], []
    for prompt, options, g in examples(bos):
        sequences = [prompt + o for o in options]
        lengths = [len(o) for o in options]
        lp = [log_probs_alone(config, W64, s, n) for s, n in zip(sequences, lengths)]
        log_probs.append(lp)
        gold.append(g)
        flat += sequences
        flat_lengths += lengths
        out_examples.append({
            "sequences": sequences, "option_lengths": lengths, "gold": g, "log_probs": lp,
            "mean": [sum(v) / len(v) for v in lp], "sum": [sum(v) for v in lp],
        })
    means = [e["mean"] for e in out_examples]
    sums = [e["sum"] for e in out_examples]
    every = list(range(len(out_examples)))
    # The float32 reference in zo's layout (every candidate right-padded into one batch) against float64.
    lp32 = log_probs_padded(config, W32, flat, flat_lengths, pad)
    lp64 = [v for lp in log_probs for v in lp]
    deviation = max(abs(a - b) for x, y in zip(lp32, lp64) for a, b in zip(x, y))
    out = {
        "made_by": "scripts/make_prompt_goldens.py",
        "command": "/usr/bin/python3 scripts/make_prompt_goldens.py",
        "reference": "scripts/nn_reference.py forward in float64 (torch " + torch.__version__.split("+")[0] +
                     "), each candidate sequence alone (B = 1, no padding)",
        "model": "tests/data/models/" + name,
        "examples": out_examples,
        "batches": [{"examples": b, "lm": lm_loss(log_probs, gold, b),
                     "classification": classification_loss(means, gold, b)} for b in batches()],
        "evaluate": {
            "lm_loss": lm_loss(log_probs, gold, every),
            "classification_loss": classification_loss(means, gold, every),
            "mean": evaluation(means, means, gold),
            "sum": evaluation(sums, means, gold),
        },
        "float32_padded_max_abs_log_prob_deviation": deviation,
    }
    os.makedirs(OUT, exist_ok=True)
    text = json.dumps(out, indent=1)
    text = re.sub(r"\[[-0-9.e,\s]*\]", lambda m: " ".join(m.group(0).split()), text)  # number lists on one line
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        f.write(text + "\n")
    ev = out["evaluate"]
    print(f"{name}: lm {ev['lm_loss']:.6f} classification {ev['classification_loss']:.6f} "
          f"predictions mean {ev['mean']['predictions']} sum {ev['sum']['predictions']} gold {gold}; "
          f"float32 padded vs float64 max |Δℓ| {deviation:.3g}")


def main():
    for name in ("opt-tied", "llama-gqa"):
        golden(name)


if __name__ == "__main__":
    main()
