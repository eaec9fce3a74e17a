"""nn_reference.py's OPT and LLaMA as torch.nn.Modules laid out as Hugging Face's classes are:
OPTForCausalLM.model.decoder.layers and LlamaForCausalLM.model.layers are torch.nn.ModuleLists of
decoder layers, and the parameter names are HF's (model.decoder.layers.3.fc1.weight, ...), so a
folder's state dict loads as it is. The math is nn_reference.py's, operation for operation: the logits
equal nn_reference.forward's bit for bit.

    model = nn_modules.from_folder("tests/data/models/opt-tied").eval()
    logits = model(input_ids, attention_mask)
    losses = nn_modules.per_example_lm_loss(logits, input_ids, attention_mask)   # [B]

Used by python/tests (zo.torch on decoder models) and bench/zo_torch_vs_mezo.py."""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_reference as ref  # noqa: E402


# ---------------------------------------------------------------------------------------------
# OPT

class OPTAttention(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.C, self.NH, self.HD = C, NH, C // NH
        self.scaling = self.HD ** -0.5
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(C, C) for _ in range(4))

    def forward(self, hidden_states, attention_mask):
        B, T, _ = hidden_states.shape
        q = self.q_proj(hidden_states) * self.scaling
        q = q.view(B, -1, self.NH, self.HD).transpose(1, 2)
        k = self.k_proj(hidden_states).view(B, -1, self.NH, self.HD).transpose(1, 2)
        v = self.v_proj(hidden_states).view(B, -1, self.NH, self.HD).transpose(1, 2)
        attn = ref.eager_attention(q, k, v, attention_mask, 1.0).reshape(B, T, -1).contiguous()
        return self.out_proj(attn)


class OPTDecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        C = config["hidden_size"]
        self.pre = config.get("do_layer_norm_before", True)
        self.self_attn = OPTAttention(C, config["num_attention_heads"])
        self.self_attn_layer_norm = nn.LayerNorm(C, eps=1e-5)
        self.fc1 = nn.Linear(C, config["ffn_dim"])
        self.fc2 = nn.Linear(config["ffn_dim"], C)
        self.final_layer_norm = nn.LayerNorm(C, eps=1e-5)

    def forward(self, hidden_states, attention_mask=None):
        """Returns (hidden_states,) as HF's OPTDecoderLayer does."""
        residual = hidden_states
        if self.pre:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        hidden_states = self.self_attn(hidden_states, attention_mask)
        hidden_states = residual + hidden_states
        if not self.pre:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        shape = hidden_states.shape
        hidden_states = hidden_states.reshape(-1, hidden_states.size(-1))
        residual = hidden_states
        if self.pre:
            hidden_states = self.final_layer_norm(hidden_states)
        hidden_states = F.relu(self.fc1(hidden_states))
        hidden_states = self.fc2(hidden_states)
        hidden_states = (residual + hidden_states).view(shape)
        if not self.pre:
            hidden_states = self.final_layer_norm(hidden_states)
        return (hidden_states,)


class OPTDecoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        C = config["hidden_size"]
        self.embed_tokens = nn.Embedding(config["vocab_size"], C)
        self.embed_positions = nn.Embedding(config["max_position_embeddings"] + 2, C)
        self.final = config.get("do_layer_norm_before", True) and not config.get("_remove_final_layer_norm", False)
        self.final_layer_norm = nn.LayerNorm(C, eps=1e-5) if self.final else None
        self.layers = nn.ModuleList(OPTDecoderLayer(config) for _ in range(config["num_hidden_layers"]))

    def forward(self, input_ids, attention_mask):
        inputs_embeds = self.embed_tokens(input_ids)
        causal_mask = ref.causal_mask_4d(attention_mask)
        position_ids = torch.cumsum(attention_mask, dim=1)
        position_ids = (position_ids * attention_mask - 1).long()
        hidden_states = inputs_embeds + self.embed_positions(position_ids + 2)
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask=causal_mask)[0]
        if self.final:
            hidden_states = self.final_layer_norm(hidden_states)
        return hidden_states


class OPTModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.decoder = OPTDecoder(config)

    def forward(self, input_ids, attention_mask):
        return self.decoder(input_ids, attention_mask)


class OPTForCausalLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = OPTModel(config)
        self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"], bias=False)
        if config.get("tie_word_embeddings", True):
            self.lm_head.weight = self.model.decoder.embed_tokens.weight

    def forward(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.lm_head(self.model(input_ids, attention_mask))


# ---------------------------------------------------------------------------------------------
# LLaMA

class LlamaRMSNorm(nn.Module):
    def __init__(self, C, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))
        self.eps = eps

    def forward(self, x):
        return ref.rms_norm(x, self.weight, self.eps)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        C, eps = config["hidden_size"], config.get("rms_norm_eps", 1e-6)
        NH = config["num_attention_heads"]
        self.NKV = config.get("num_key_value_heads") or NH
        self.HD = config.get("head_dim") or C // NH
        self.NH = NH
        inter = config["intermediate_size"]
        self.input_layernorm = LlamaRMSNorm(C, eps)
        self.post_attention_layernorm = LlamaRMSNorm(C, eps)
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(C, NH * self.HD, bias=False)
        self.self_attn.k_proj = nn.Linear(C, self.NKV * self.HD, bias=False)
        self.self_attn.v_proj = nn.Linear(C, self.NKV * self.HD, bias=False)
        self.self_attn.o_proj = nn.Linear(NH * self.HD, C, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(C, inter, bias=False)
        self.mlp.up_proj = nn.Linear(C, inter, bias=False)
        self.mlp.down_proj = nn.Linear(inter, C, bias=False)

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None):
        B, T, _ = hidden_states.shape
        HD, NKV, a = self.HD, self.NKV, self.self_attn
        cos, sin = position_embeddings
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        q = a.q_proj(hidden_states).view(B, T, -1, HD).transpose(1, 2)
        k = a.k_proj(hidden_states).view(B, T, -1, HD).transpose(1, 2)
        v = a.v_proj(hidden_states).view(B, T, -1, HD).transpose(1, 2)
        q = (q * cos) + (ref.rotate_half(q) * sin)
        k = (k * cos) + (ref.rotate_half(k) * sin)
        n_rep = self.NH // NKV
        k = k[:, :, None, :, :].expand(B, NKV, n_rep, T, HD).reshape(B, NKV * n_rep, T, HD)
        v = v[:, :, None, :, :].expand(B, NKV, n_rep, T, HD).reshape(B, NKV * n_rep, T, HD)
        attn = ref.eager_attention(q, k, v, attention_mask, HD ** -0.5).reshape(B, T, -1).contiguous()
        hidden_states = residual + a.o_proj(attn)
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        m = self.mlp
        hidden_states = m.down_proj(F.silu(m.gate_proj(hidden_states)) * m.up_proj(hidden_states))
        return (residual + hidden_states,)


class LlamaModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config["vocab_size"], config["hidden_size"])
        self.layers = nn.ModuleList(LlamaDecoderLayer(config) for _ in range(config["num_hidden_layers"]))
        self.norm = LlamaRMSNorm(config["hidden_size"], config.get("rms_norm_eps", 1e-6))

    def forward(self, input_ids, attention_mask):
        c = self.config
        HD = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        base = c.get("rope_theta", 10000.0)
        T = input_ids.shape[1]
        hidden_states = self.embed_tokens(input_ids)
        position_ids = torch.arange(T, device=input_ids.device).unsqueeze(0)
        causal_mask = ref.causal_mask_4d(attention_mask)
        inv_freq = 1.0 / (base ** (torch.arange(0, HD, 2, dtype=torch.int64, device=input_ids.device).float() / HD))
        inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        freqs = (inv_freq_expanded.float() @ position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask=causal_mask, position_embeddings=(cos, sin))[0]
        return self.norm(hidden_states)


class LlamaForCausalLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"], bias=False)
        if config.get("tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.lm_head(self.model(input_ids, attention_mask))


# ---------------------------------------------------------------------------------------------

def build(config, weights=None):
    """The module for an HF config dict, with `weights` ({name: tensor}, HF names) when given."""
    model = (OPTForCausalLM if config["model_type"] == "opt" else LlamaForCausalLM)(config)
    if weights is not None:
        state = model.state_dict()
        missing = [k for k in state if k not in weights and k != "lm_head.weight"]
        if missing:
            raise KeyError(f"weights lack {missing[:3]}")
        with torch.no_grad():
            for name, p in model.named_parameters():  # a tied head appears once, as the embedding
                p.copy_(weights[name])
    return model


def from_folder(folder):
    """The float32 module of an HF-format folder (config.json + safetensors)."""
    config, weights = ref.load_folder(folder)
    return build(config, weights)


def per_example_lm_loss(logits, input_ids, attention_mask=None):
    """The causal-LM loss of each sequence (shifted float32 cross-entropy, mean over its real tokens),
    a 1-D tensor [B]; its mean over a batch of equal-length sequences is nn_reference.causal_lm_loss."""
    labels = input_ids if attention_mask is None else input_ids.masked_fill(attention_mask == 0, -100)
    B, T, V = logits.shape
    per_token = F.cross_entropy(logits[:, :-1, :].float().reshape(-1, V), labels[:, 1:].reshape(-1),
                                ignore_index=-100, reduction="none").view(B, T - 1)
    counts = (labels[:, 1:] != -100).sum(1)
    return per_token.sum(1) / counts
