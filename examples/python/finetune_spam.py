#!/usr/bin/env python3
"""Fine-tune a causal language model on the spam task with zo.torch (MeZO: forward passes only).

The model answers "Is this email spam? Answer:" with " no" or " yes" (configs/spam.json); the loss is
the cross-entropy over those two words at the answer position. The script scores the test e-mails
before and after training (balanced accuracy) and replays the seed ledger onto a fresh copy of the
base weights to show that the ledger alone rebuilds the trained model.

    # the shipped model as a plain torch nn.Module (scripts/nn_modules.py), no transformers needed
    PYTHONPATH=build/python:python /usr/bin/python3 examples/python/finetune_spam.py
    # the same folder, or any Hugging Face causal LM, through transformers (where it is installed)
    python3 examples/python/finetune_spam.py --transformers --model models/opt-text-proto
    python3 examples/python/finetune_spam.py --transformers --model facebook/opt-125m --lr 1e-6

--layers auto turns on MeZO-BCD with a shared prefix: one decoder layer moves a step and the layers
below it run once for both perturbed evaluations."""

import argparse
import copy
import json
import pathlib
import random
import sys

import torch

import zo.torch as zt

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(args):
    """(model, encode(text) -> token ids, BOS id)."""
    folder = pathlib.Path(args.model)
    if args.transformers:
        try:
            import transformers
        except ImportError:
            sys.exit("--transformers: the transformers package is not installed (pip install transformers), "
                     "or leave the flag out to run the shipped model as a plain torch module")
        model = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
        if (folder / "tokenizer.json").is_file() and not (folder / "tokenizer_config.json").is_file():
            tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
        else:
            tok = transformers.AutoTokenizer.from_pretrained(args.model)
        bos = model.config.bos_token_id
        return model.eval(), lambda text: tok(text, add_special_tokens=False)["input_ids"], bos
    sys.path.insert(0, str(ROOT / "scripts"))
    import bpe
    import nn_modules

    tok = bpe.ByteLevelBPE(folder / "tokenizer.json")
    model = nn_modules.from_folder(folder).eval()
    return model, tok.encode, json.loads((folder / "config.json").read_text()).get("bos_token_id", 2)


def split(encode, bos, name, per_class, seed, question):
    """per_class e-mails of each label: BOS + the text's first 16 tokens + the question, right-padded."""
    template = json.loads((ROOT / "configs/spam.json").read_text())["template"]
    records = [json.loads(line) for line in (ROOT / f"data/spam/{name}.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    rows = []
    for label, value in enumerate(template["label_values"]):
        chosen = [r for r in records if r[template["label_field"]] == value]
        rng.shuffle(chosen)
        rows += [([bos] + encode(r["text"])[:16] + question, label) for r in chosen[:per_class]]
    rng.shuffle(rows)
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), 1)
    mask = torch.zeros_like(ids)
    for k, (seq, _) in enumerate(rows):
        ids[k, :len(seq)] = torch.tensor(seq)
        mask[k, :len(seq)] = 1
    return ids, mask, mask.sum(1) - 1, torch.tensor([label for _, label in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models/opt-text-proto"), help="a model folder or hub id")
    ap.add_argument("--transformers", action="store_true", help="load it with Hugging Face transformers")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--optimizer", default="zo-sgd", help="zo-sgd, zo-adamm, r-adazo, … (docs/python.md)")
    ap.add_argument("--layers", default=None, help="'auto': MeZO-BCD with a shared prefix over the decoder layers")
    ap.add_argument("--train-per-class", type=int, default=16)
    ap.add_argument("--test-per-class", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model, encode, bos = load(args)
    template = json.loads((ROOT / "configs/spam.json").read_text())["template"]
    question = encode(template["template"].split("{text}")[1])
    words = [encode(w) for w in template["label_words"]]
    if any(len(w) != 1 for w in words):
        sys.exit(f"the label words {template['label_words']} are not one token each in this tokenizer")
    words = [w[0] for w in words]
    train = split(encode, bos, "train", args.train_per_class, args.seed, question)
    test = split(encode, bos, "test", args.test_per_class, args.seed + 1, question)

    # Hugging Face models are called without their KV cache (no generation here; the shared prefix needs it).
    no_cache = {"use_cache": False} if args.transformers else {}

    def answer_logits(ids, mask, last):
        out = model(input_ids=ids, attention_mask=mask, **no_cache)
        logits = out.logits if hasattr(out, "logits") else out  # transformers' output or a plain tensor
        return logits[torch.arange(len(ids)), last][:, words]

    def loss(data, rows):
        ids, mask, last, label = (t[rows] for t in data)
        return torch.nn.functional.cross_entropy(answer_logits(ids, mask, last), label, reduction="none")

    def evaluate():
        with torch.no_grad():
            ids, mask, last, label = test
            pred = answer_logits(ids, mask, last).argmax(1)
        return sum(((pred == label) & (label == c)).sum().item() / (label == c).sum().item() for c in (0, 1)) / 2

    base = copy.deepcopy(model)
    before = evaluate()
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer=args.optimizer, lr=args.lr, eps=1e-3, seed=args.seed,
                         **({"direction": "bcd", "layers": args.layers, "model": model} if args.layers else {}))
    g = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        rows = torch.randperm(len(train[0]), generator=g)[:args.batch]
        value = opt.step(lambda: loss(train, rows))  # per-example losses: their mean is the loss
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {float(value):.4f}")
    after = evaluate()
    if args.layers:
        print(f"shared prefix: {opt.prefix_stats['shared_steps']} of {args.steps} steps, "
              f"{opt.prefix_stats['skipped_layer_calls']} layer calls skipped")
    print(f"balanced accuracy on {len(test[0])} test e-mails: {100 * before:.1f} % before, {100 * after:.1f} % after "
          f"{args.steps} steps")

    zt.replay(base.named_parameters(), opt.ledger)
    same = all(torch.equal(p, q) for p, q in zip(base.parameters(), model.parameters()))
    print(f"the ledger's {len(opt.ledger)} rows replayed onto the base weights give the trained weights: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
