#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from tests/data.

Small files only: tokenizers are cut down to a few hundred tokens with the pipelines of the test
tokenizers (byte-level BPE as GPT-2/OPT, Llama-3's split regex, SentencePiece-style BPE with byte
fallback as LLaMA-2, a Metaspace pre-tokenizer), and task files keep a few records. The checkpoint
seeds and the ledgers of two real runs come from the targets themselves (ZO_FUZZ_WRITE_SEEDS, run by
scripts/fuzz.sh --corpus), since they hold CRC-32s and probe seeds the library computes. Inputs named
regression-* are ones that once crashed a loader; they stay.

Run from the repository root: python3 fuzz/make_corpus.py
"""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*parts):
    with open(os.path.join(DATA, *parts), "rb") as f:
        return f.read()


# safetensors ------------------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs)


put("safetensors", "python_written", read("models", "safetensors", "python_written.safetensors"))
put("safetensors", "three_dtypes", safetensors(
    [("a.weight", "F32", [2, 3], struct.pack("<6f", *range(6))),
     ("b.bias", "BF16", [3], b"\x80\x3f" * 3),
     ("c.h", "F16", [1, 2], b"\x00\x3c" * 2),
     ("empty", "F32", [0, 4], b""),
     ("scalar", "F32", [], struct.pack("<f", 1.5))],
    {"format": "pt", "note": "seed"}))
put("safetensors", "unsupported_dtype", safetensors([("i", "I64", [2], struct.pack("<2q", 1, 2))]))

# config.json ------------------------------------------------------------------------------------
for model in ("opt-tied", "opt-postnorm-f16", "llama-gqa", "llama-tied-bf16", "llama-sharded"):
    put("config", model, read("models", model, "config.json"))

# tokenizer.json ---------------------------------------------------------------------------------
def trim(tok, keep_ids, max_merges):
    vocab = {t: i for t, i in tok["model"]["vocab"].items() if keep_ids(i)}
    merges = []
    for m in tok["model"]["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
            if len(merges) >= max_merges:
                break
    out = dict(tok)
    out["model"] = dict(tok["model"], vocab=vocab, merges=merges)
    return out


def dump(tok):
    return json.dumps(tok, ensure_ascii=False, separators=(",", ":"))


bytelevel = json.loads(read("tokenizers", "bytelevel-1k", "tokenizer.json"))
small = trim(bytelevel, lambda i: i < 300, 40)
put("tokenizer", "bytelevel", dump(small))
put("tokenizer", "bytelevel_added", dump(dict(small, added_tokens=small["added_tokens"] + [
    {"id": 300, "content": " hello", "single_word": True, "lstrip": True, "rstrip": False, "normalized": True, "special": False},
    {"id": 301, "content": "[MASK]", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True}])))
put("tokenizer", "roberta_post", dump(dict(small, post_processor={
    "type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True, "add_prefix_space": False})))

llama3 = json.loads(read("tokenizers", "llama3", "tokenizer.json"))
l3 = trim(llama3, lambda i: i < 300, 40)
l3["added_tokens"] = llama3["added_tokens"][:2]
for t in l3["added_tokens"]:
    t["id"] = 300 + l3["added_tokens"].index(t)
l3["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                        "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [300], "tokens": ["<|begin_of_text|>"]}}}
put("tokenizer", "llama3_split", dump(l3))

llama2 = json.loads(read("tokenizers", "llama2", "tokenizer.json"))
l2 = trim(llama2, lambda i: i < 400, 60)
put("tokenizer", "llama2_bytefallback", dump(l2))
put("tokenizer", "llama2_metaspace", dump(dict(l2, normalizer=None,
    pre_tokenizer={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
    decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False})))

# task JSONL + templates -------------------------------------------------------------------------
# Byte 0: the task (value % 9 in the order sst2 rte cb boolq wsc wic multirc copa custom), bit 3
# per-class sampling, bits 4-5 k.
TASKS = ["sst2", "rte", "cb", "boolq", "wsc", "wic", "multirc", "copa"]
for i, task in enumerate(TASKS):
    lines = read("tasks", task + ".jsonl").decode().splitlines(keepends=True)[:4]
    put("dataset", task, bytes([i | 0x10]) + "".join(lines).encode())
for name in ("bad_field", "bad_json", "bad_label"):
    put("dataset", name, bytes([0]) + read("tasks", name + ".jsonl"))
spam = json.load(open(os.path.join(ROOT, "configs", "spam.json")))["template"]
put("dataset", "custom_spam", bytes([8 | 0x20]) + (json.dumps(spam) + "\n" +
    '{"text": "win money now", "label": "spam"}\n{"text": "see you {at} noon", "label": "ham"}\n').encode())
put("dataset", "custom_nested", bytes([8]) + (json.dumps({"template": "{{literal}} {a.b} and {n}:", "label_words": [" x", " y", " z"]}) + "\n" +
    '{"a": {"b": "deep"}, "n": 3, "label": 2}\n{"a": {"b": true}, "n": 1.5, "label": 0}\n').encode())

# IDX --------------------------------------------------------------------------------------------
images = b"\x00\x00\x08\x03" + struct.pack(">III", 3, 2, 2) + bytes(range(12))
labels = b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([0, 1, 2])
put("idx", "images", b"\x00" + images)                         # read_idx, any ndim
put("idx", "images_ndim3", b"\x06" + images)                   # read_idx, ndim 3
put("idx", "labels", b"\x02" + labels)                         # read_idx, ndim 1
put("idx", "images_gz", b"\x00" + gzip.compress(images, mtime=0))
put("idx", "dataset", b"\x13" + images)                        # read_idx_dataset, 10 classes
put("idx", "dataset_gz", b"\x13" + gzip.compress(images, mtime=0))

# ledger -----------------------------------------------------------------------------------------
def row(step, seeds, scales, rhos, losses, lr, blocks, skipped):
    def j(xs):
        return ";".join(xs) if xs else "-"
    body = "\t".join([str(step), j(seeds), j(scales), j(rhos), j(losses), lr, j(blocks), skipped])
    return body + "\t%08x" % zlib.crc32(body.encode())


# The config of a run over one f32 tensor "w" of 2 elements (the parameters ledger_fuzz replays onto).
config = {"seed": 0, "mode": "full",
          "direction": {"kind": "dense", "distribution": "gaussian", "keep": 0.1, "rank": 4, "order": "all",
                        "blocks_per_step": 1, "block_weights": []},
          "estimator": {"eps": 0.001, "queries": 1, "difference": "central"},
          "optimizer": {"kind": "zo-sgd", "lr": 0.001, "momentum": 0.0, "weight_decay": 0.0},
          "params": {"tensors": [["w", "f32", [2]]], "blocks": [["w", [0]]]}}
head = "zo-ledger 1\nconfig " + json.dumps(config, separators=(",", ":")) + "\n"
rows = [row(0, ["123"], ["1"], ["0.5"], ["1.25", "1.5"], "0.001", ["0"], "0"),
        row(1, ["456", "789"], ["1", "0.5"], ["-0.25", "2"], ["1", "2", "3", "4"], "0.001", [], "0"),
        row(3, ["9"], ["1"], ["nan"], ["nan", "1"], "0.0005", ["0", "1"], "1")]
put("ledger", "three_rows", head + "".join(r + "\n" for r in rows))
put("ledger", "torn_tail", head + rows[0] + "\n" + rows[1][:17])
put("ledger", "header_only", head)

# options JSON -----------------------------------------------------------------------------------
for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
    with open(os.path.join(ROOT, "configs", name), "rb") as f:
        put("options", os.path.splitext(name)[0], f.read())
put("options", "finetune", json.dumps({
    "model": "m", "train": "t.jsonl", "task": "rte", "steps": 40, "batch": 4, "lr": 1e-3, "optimizer": "r-adazo",
    "direction": "bcd", "block_order": "weighted", "blocks-per-step": 2, "schedule": "cosine", "warmup": 5,
    "per_class": True, "data-seed": 3, "mode": "lora", "lora_target": "q_proj", "nan-policy": "skip"}))
put("options", "objects", json.dumps({
    "direction": {"kind": "low-rank", "distribution": "rademacher", "keep": 0.5, "rank": 2, "order": "weighted",
                  "blocks_per_step": 2, "block_weights": [1, 2, 3, 4]},
    "estimator": {"eps": 1e-3, "queries": 2, "difference": "forward"},
    "optimizer": {"kind": "zo-adamm", "lr": 1e-4, "momentum": 0.5, "weight_decay": 0.01, "no_decay_pattern": "bias$",
                  "beta1": 0.9, "beta2": 0.99, "zeta": 1e-8, "amsgrad": True, "bias_correction": True,
                  "zeta_outside_root": False, "state": "active-block",
                  "groups": [{"pattern": "layers\\.0\\.", "lr_scale": 0.5, "weight_decay": 0.0}]},
    "schedule": {"kind": "linear", "warmup_steps": 3, "lr_min_ratio": 0.1}}))
