#!/usr/bin/python3
"""Writes a randomly initialised OPT model folder (config.json, model.safetensors, tokenizer.json) for
zo finetune's timing and memory measurements. Weights follow HF OPT's init (normal, std 0.02; layer
norms 1 and 0; biases 0), drawn with numpy's default_rng(seed). The weights carry no knowledge: only
timings, memory and loss curves on them mean anything, never accuracy.

  make_random_opt.py OUT [--shape 125m|small] [--seed 0] [--tokenizer tests/data/tokenizers/bytelevel-1k/tokenizer.json]
"""
import argparse
import json
import pathlib
import shutil
import struct

import numpy as np

SHAPES = {
    # facebook/opt-125m's shape: d 768, 12 layers, 12 heads, FFN 3072, vocabulary 50 272, 2048 positions.
    "125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, ffn_dim=3072, vocab_size=50272,
                 max_position_embeddings=2048),
    # a small model for loss curves: d 256, 4 layers, the 1 024-token test tokenizer's vocabulary.
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, ffn_dim=1024, vocab_size=1024,
                  max_position_embeddings=512),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", default="125m", choices=sorted(SHAPES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", default="tests/data/tokenizers/bytelevel-1k/tokenizer.json")
    a = ap.parse_args()
    s = SHAPES[a.shape]
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    C, F, V, L, P = s["hidden_size"], s["ffn_dim"], s["vocab_size"], s["num_hidden_layers"], s["max_position_embeddings"]
    config = dict(architectures=["OPTForCausalLM"], model_type="opt", activation_function="relu", bos_token_id=2,
                  eos_token_id=2, pad_token_id=1, do_layer_norm_before=True, enable_bias=True, init_std=0.02,
                  tie_word_embeddings=True, torch_dtype="float32", word_embed_proj_dim=C, **s)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    rng = np.random.default_rng(a.seed)
    tensors = []

    def add(name, shape, kind):
        if kind == "normal":
            t = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        elif kind == "ones":
            t = np.ones(shape, np.float32)
        else:
            t = np.zeros(shape, np.float32)
        tensors.append((name, t))

    p = "model.decoder."
    add(p + "embed_tokens.weight", (V, C), "normal")
    add(p + "embed_positions.weight", (P + 2, C), "normal")
    for l in range(L):
        lp = f"{p}layers.{l}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            add(lp + f"self_attn.{proj}.weight", (C, C), "normal")
            add(lp + f"self_attn.{proj}.bias", (C,), "zeros")
        add(lp + "self_attn_layer_norm.weight", (C,), "ones")
        add(lp + "self_attn_layer_norm.bias", (C,), "zeros")
        add(lp + "fc1.weight", (F, C), "normal")
        add(lp + "fc1.bias", (F,), "zeros")
        add(lp + "fc2.weight", (C, F), "normal")
        add(lp + "fc2.bias", (C,), "zeros")
        add(lp + "final_layer_norm.weight", (C,), "ones")
        add(lp + "final_layer_norm.bias", (C,), "zeros")
    add(p + "final_layer_norm.weight", (C,), "ones")
    add(p + "final_layer_norm.bias", (C,), "zeros")

    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors:
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, t in tensors:
            f.write(t.tobytes())
    shutil.copy(a.tokenizer, out / "tokenizer.json")
    print(f"{out}: {sum(t.size for _, t in tensors) / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
