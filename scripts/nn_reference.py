"""An independent PyTorch reference for zo's forward engine: OPTForCausalLM and LlamaForCausalLM
forward passes written line by line after Hugging Face transformers' modeling_opt.py and
modeling_llama.py (eager attention, inference mode, no KV cache), reading HF-format folders
(config.json + model.safetensors or a sharded model.safetensors.index.json).

transformers itself is not packaged for Debian 12, hence this reimplementation. A ~60-line PyTorch
OPT written this way was checked to reproduce HF transformers' losses exactly. Weights stored as bf16/f16 are upcast to float32 and the computation runs in float32 — what
HF does when a model is loaded with torch_dtype=float32, and what zo does. With the weights converted
to float64 (.double()) the same code runs in float64 (scripts/make_prompt_goldens.py).

Used by scripts/make_nn_goldens.py (test goldens) and bench/forward_bench.py (speed peer)."""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors by hand (no safetensors package here): 8-byte LE header length, JSON, data buffer.

_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def _raw_bytes(t):
    t = t.contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch tensor) written in that order; header padded to 8 bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset, blobs = 0, []
    for name, t in tensors:
        data = _raw_bytes(t)
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, size = _DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        raw = bytearray(buf[b:e])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def load_folder(folder):
    """(config dict, {name: float32 tensor}) of an HF-format folder."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    weights = {}
    if os.path.exists(single):
        weights = load_safetensors(single)
    else:
        with open(os.path.join(folder, "model.safetensors.index.json")) as f:
            index = json.load(f)
        for shard in sorted(set(index["weight_map"].values())):
            weights.update(load_safetensors(os.path.join(folder, shard)))
    return config, {k: v.float() for k, v in weights.items()}


# ---------------------------------------------------------------------------------------------
# The 4-D additive mask of HF's _prepare_4d_causal_attention_mask_with_cache_position (no cache):
# min_dtype above the diagonal and at padded keys, 0 elsewhere.

def causal_mask_4d(attention_mask, dtype=torch.float32):
    B, T = attention_mask.shape
    min_dtype = torch.finfo(dtype).min
    device = attention_mask.device  # CUDA when scripts/pretrain.py trains there
    cache_position = torch.arange(T, device=device)
    causal_mask = torch.full((T, T), fill_value=min_dtype, dtype=dtype, device=device)
    if T != 1:
        causal_mask = torch.triu(causal_mask, diagonal=1)
    causal_mask *= torch.arange(T, device=device) > cache_position.reshape(-1, 1)
    causal_mask = causal_mask[None, None, :, :].expand(B, 1, -1, -1).clone()
    padding_mask = causal_mask[:, :, :, :T] + attention_mask[:, None, None, :]
    padding_mask = padding_mask == 0
    causal_mask[:, :, :, :T] = causal_mask[:, :, :, :T].masked_fill(padding_mask, min_dtype)
    return causal_mask


def eager_attention(query, key, value, attention_mask, scaling):
    attn_weights = torch.matmul(query, key.transpose(-1, -2)) * scaling
    attn_weights = attn_weights + attention_mask
    # HF's softmax runs in float32; a float64 forward (weights .double()) keeps float64 here
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.promote_types(query.dtype, torch.float32)).to(query.dtype)
    attn_output = torch.matmul(attn_weights, value)
    return attn_output.transpose(1, 2).contiguous()


# ---------------------------------------------------------------------------------------------
# OPT (modeling_opt.py: OPTDecoder.forward, OPTDecoderLayer.forward, OPTAttention.forward)

def opt_forward(config, W, input_ids, attention_mask, head_rows=None):
    C = config["hidden_size"]
    NH = config["num_attention_heads"]
    HD = C // NH
    scaling = HD ** -0.5
    pre = config.get("do_layer_norm_before", True)
    p = "model.decoder."
    B, T = input_ids.shape
    inputs_embeds = F.embedding(input_ids, W[p + "embed_tokens.weight"])
    causal_mask = causal_mask_4d(attention_mask)
    position_ids = torch.cumsum(attention_mask, dim=1)
    position_ids = (position_ids * attention_mask - 1).long()
    pos_embeds = F.embedding(position_ids + 2, W[p + "embed_positions.weight"])
    hidden_states = inputs_embeds + pos_embeds

    def ln(x, name):
        return F.layer_norm(x, (C,), W[name + ".weight"], W[name + ".bias"], eps=1e-5)

    def linear(x, name):
        return F.linear(x, W[name + ".weight"], W.get(name + ".bias"))

    for l in range(config["num_hidden_layers"]):
        lp = f"{p}layers.{l}."
        residual = hidden_states
        if pre:
            hidden_states = ln(hidden_states, lp + "self_attn_layer_norm")
        q = linear(hidden_states, lp + "self_attn.q_proj") * scaling
        q = q.view(B, -1, NH, HD).transpose(1, 2)
        k = linear(hidden_states, lp + "self_attn.k_proj").view(B, -1, NH, HD).transpose(1, 2)
        v = linear(hidden_states, lp + "self_attn.v_proj").view(B, -1, NH, HD).transpose(1, 2)
        attn = eager_attention(q, k, v, causal_mask, 1.0).reshape(B, T, -1).contiguous()
        hidden_states = linear(attn, lp + "self_attn.out_proj")
        hidden_states = residual + hidden_states
        if not pre:
            hidden_states = ln(hidden_states, lp + "self_attn_layer_norm")
        shape = hidden_states.shape
        hidden_states = hidden_states.reshape(-1, hidden_states.size(-1))
        residual = hidden_states
        if pre:
            hidden_states = ln(hidden_states, lp + "final_layer_norm")
        hidden_states = linear(hidden_states, lp + "fc1")
        hidden_states = F.relu(hidden_states)
        hidden_states = linear(hidden_states, lp + "fc2")
        hidden_states = (residual + hidden_states).view(shape)
        if not pre:
            hidden_states = ln(hidden_states, lp + "final_layer_norm")

    if pre and not config.get("_remove_final_layer_norm", False):
        hidden_states = ln(hidden_states, p + "final_layer_norm")
    head = W.get("lm_head.weight") if not config.get("tie_word_embeddings", True) else W[p + "embed_tokens.weight"]
    return F.linear(hidden_states, head)


# ---------------------------------------------------------------------------------------------
# LLaMA (modeling_llama.py: LlamaRMSNorm, LlamaRotaryEmbedding (default rope), apply_rotary_pos_emb,
# repeat_kv, LlamaAttention, LlamaMLP, LlamaDecoderLayer, LlamaModel.forward)

def rms_norm(hidden_states, weight, eps):
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.promote_types(input_dtype, torch.float32))  # float32, or float64
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + eps)
    return weight * hidden_states.to(input_dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_forward(config, W, input_ids, attention_mask):
    C = config["hidden_size"]
    NH = config["num_attention_heads"]
    NKV = config.get("num_key_value_heads") or NH
    HD = config.get("head_dim") or C // NH
    eps = config.get("rms_norm_eps", 1e-6)
    base = config.get("rope_theta", 10000.0)
    scaling = HD ** -0.5
    B, T = input_ids.shape
    hidden_states = F.embedding(input_ids, W["model.embed_tokens.weight"])
    cache_position = torch.arange(T, device=input_ids.device)
    position_ids = cache_position.unsqueeze(0)
    causal_mask = causal_mask_4d(attention_mask)
    # LlamaRotaryEmbedding, rope_type "default": attention_scaling = 1.0
    inv_freq = 1.0 / (base ** (torch.arange(0, HD, 2, dtype=torch.int64, device=input_ids.device).float() / HD))
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)

    for l in range(config["num_hidden_layers"]):
        lp = f"model.layers.{l}."
        residual = hidden_states
        hidden_states = rms_norm(hidden_states, W[lp + "input_layernorm.weight"], eps)
        q = F.linear(hidden_states, W[lp + "self_attn.q_proj.weight"]).view(B, T, -1, HD).transpose(1, 2)
        k = F.linear(hidden_states, W[lp + "self_attn.k_proj.weight"]).view(B, T, -1, HD).transpose(1, 2)
        v = F.linear(hidden_states, W[lp + "self_attn.v_proj.weight"]).view(B, T, -1, HD).transpose(1, 2)
        q = (q * cos) + (rotate_half(q) * sin)
        k = (k * cos) + (rotate_half(k) * sin)
        n_rep = NH // NKV  # repeat_kv
        k = k[:, :, None, :, :].expand(B, NKV, n_rep, T, HD).reshape(B, NKV * n_rep, T, HD)
        v = v[:, :, None, :, :].expand(B, NKV, n_rep, T, HD).reshape(B, NKV * n_rep, T, HD)
        attn = eager_attention(q, k, v, causal_mask, scaling).reshape(B, T, -1).contiguous()
        hidden_states = F.linear(attn, W[lp + "self_attn.o_proj.weight"])
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = rms_norm(hidden_states, W[lp + "post_attention_layernorm.weight"], eps)
        gate = F.linear(hidden_states, W[lp + "mlp.gate_proj.weight"])
        up = F.linear(hidden_states, W[lp + "mlp.up_proj.weight"])
        hidden_states = F.linear(F.silu(gate) * up, W[lp + "mlp.down_proj.weight"])
        hidden_states = residual + hidden_states

    hidden_states = rms_norm(hidden_states, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if config.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return F.linear(hidden_states, head)


def forward(config, W, input_ids, attention_mask):
    if config["model_type"] == "opt":
        return opt_forward(config, W, input_ids, attention_mask)
    return llama_forward(config, W, input_ids, attention_mask)


def causal_lm_loss(logits, labels):
    """HF's ForCausalLMLoss: shift, float32 cross-entropy with ignore_index -100, mean."""
    shift_logits = logits[:, :-1, :].float().reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="mean")


# ---------------------------------------------------------------------------------------------
# Random models in HF format.

def opt_config(vocab, hidden, ffn, layers, heads, max_pos, dtype="float32", pre=True, tie=True):
    return {
        "_name_or_path": "zo-random-opt", "activation_dropout": 0.0, "activation_function": "relu",
        "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2,
        "do_layer_norm_before": pre, "dropout": 0.1, "enable_bias": True, "eos_token_id": 2, "ffn_dim": ffn,
        "hidden_size": hidden, "init_std": 0.02, "layer_norm_elementwise_affine": True, "layerdrop": 0.0,
        "max_position_embeddings": max_pos, "model_type": "opt", "num_attention_heads": heads,
        "num_hidden_layers": layers, "pad_token_id": 1, "prefix": "</s>", "tie_word_embeddings": tie,
        "torch_dtype": dtype, "transformers_version": "4.46.0", "use_cache": True, "vocab_size": vocab,
        "word_embed_proj_dim": hidden,
    }


def llama_config(vocab, hidden, inter, layers, heads, kv_heads, max_pos, head_dim=None, dtype="float32", tie=False):
    return {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "head_dim": head_dim or hidden // heads, "hidden_act": "silu",
        "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": inter,
        "max_position_embeddings": max_pos, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": heads, "num_hidden_layers": layers, "num_key_value_heads": kv_heads,
        "pretraining_tp": 1, "rms_norm_eps": 1e-6, "rope_scaling": None, "rope_theta": 10000.0,
        "tie_word_embeddings": tie, "torch_dtype": dtype, "transformers_version": "4.46.0", "use_cache": True,
        "vocab_size": vocab,
    }


def random_weights(config, generator, std=0.02):
    """{name: float32 tensor} in HF state_dict order. std scales the matrices; norms are 1 + noise."""
    def normal(*shape, s=std):
        return torch.randn(*shape, generator=generator) * s

    C, V = config["hidden_size"], config["vocab_size"]
    W = {}
    if config["model_type"] == "opt":
        F_ = config["ffn_dim"]
        p = "model.decoder."
        W[p + "embed_tokens.weight"] = normal(V, C)
        W[p + "embed_positions.weight"] = normal(config["max_position_embeddings"] + 2, C)
        if config["do_layer_norm_before"]:
            W[p + "final_layer_norm.weight"] = 1 + normal(C, s=0.1)
            W[p + "final_layer_norm.bias"] = normal(C, s=0.1)
        for l in range(config["num_hidden_layers"]):
            lp = f"{p}layers.{l}."
            for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
                W[lp + f"self_attn.{proj}.weight"] = normal(C, C)
                W[lp + f"self_attn.{proj}.bias"] = normal(C, s=0.02)
            W[lp + "self_attn_layer_norm.weight"] = 1 + normal(C, s=0.1)
            W[lp + "self_attn_layer_norm.bias"] = normal(C, s=0.1)
            W[lp + "fc1.weight"] = normal(F_, C)
            W[lp + "fc1.bias"] = normal(F_, s=0.02)
            W[lp + "fc2.weight"] = normal(C, F_)
            W[lp + "fc2.bias"] = normal(C, s=0.02)
            W[lp + "final_layer_norm.weight"] = 1 + normal(C, s=0.1)
            W[lp + "final_layer_norm.bias"] = normal(C, s=0.1)
        if not config["tie_word_embeddings"]:
            W["lm_head.weight"] = normal(V, C)
    else:
        NH, NKV = config["num_attention_heads"], config["num_key_value_heads"]
        HD, F_ = config["head_dim"], config["intermediate_size"]
        W["model.embed_tokens.weight"] = normal(V, C)
        for l in range(config["num_hidden_layers"]):
            lp = f"model.layers.{l}."
            W[lp + "self_attn.q_proj.weight"] = normal(NH * HD, C)
            W[lp + "self_attn.k_proj.weight"] = normal(NKV * HD, C)
            W[lp + "self_attn.v_proj.weight"] = normal(NKV * HD, C)
            W[lp + "self_attn.o_proj.weight"] = normal(C, NH * HD)
            W[lp + "mlp.gate_proj.weight"] = normal(F_, C)
            W[lp + "mlp.up_proj.weight"] = normal(F_, C)
            W[lp + "mlp.down_proj.weight"] = normal(C, F_)
            W[lp + "input_layernorm.weight"] = 1 + normal(C, s=0.1)
            W[lp + "post_attention_layernorm.weight"] = 1 + normal(C, s=0.1)
        W["model.norm.weight"] = 1 + normal(C, s=0.1)
        if not config["tie_word_embeddings"]:
            W["lm_head.weight"] = normal(V, C)
    return W


def write_folder(folder, config, W, shards=1):
    """config.json (as save_pretrained writes it) + model.safetensors, or `shards` files + index."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.startswith("model") and (name.endswith(".safetensors") or name.endswith(".json")):
            os.remove(os.path.join(folder, name))
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[config["torch_dtype"]]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    items = [(k, v.to(dtype)) for k, v in W.items()]
    if shards == 1:
        save_safetensors(os.path.join(folder, "model.safetensors"), items, {"format": "pt"})
        return
    per = (len(items) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        part = items[s * per:(s + 1) * per]
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_safetensors(os.path.join(folder, name), part, {"format": "pt"})
        for k, v in part:
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")
