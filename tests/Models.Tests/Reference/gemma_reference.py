"""Independent float32 reference forward of Gemma 1, Gemma 2 and Gemma 3 (text) in plain PyTorch.

Written from the maths of Hugging Face transformers' GemmaForCausalLM, Gemma2ForCausalLM and
Gemma3ForCausalLM (modeling_gemma.py, modeling_gemma2.py, modeling_gemma3.py, masking_utils.py):
it shares no code with the C# model and needs neither `transformers` nor `safetensors`.

Usage: gemma_reference.py CHECKPOINT_DIR IDS.npy OUT_DIR

IDS.npy holds token ids [rows, T]; every row is an independent sequence whose positions start at 0.
OUT_DIR receives, for every layer L, L.res.npy, L.mlp.npy, L.att.npy, L.attn_out.npy ([rows*T, width])
and logits.npy ([rows*T, vocab]).
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

# --------------------------------------------------------------------------------------------
# checkpoint reading
# --------------------------------------------------------------------------------------------

_NUMPY_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    """Parses one .safetensors file by hand: u64 LE header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = memoryview(blob)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            # bf16 is the top half of a float32: widen the 16 bits into the high half of a u32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            values = bits.view(np.float32)
        else:
            values = np.frombuffer(raw, dtype=np.dtype(_NUMPY_DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = torch.from_numpy(values.astype(np.float32).reshape(shape))
    return tensors


def read_weights(folder):
    """All tensors of the checkpoint: the shards named by model.safetensors.index.json, or model.safetensors."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for name in files:
        weights.update(read_safetensors(os.path.join(folder, name)))
    return weights


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------

class Settings:
    """The architecture settings the forward needs, with each version's defaults from its HF config class."""

    def __init__(self, raw):
        self.prefix = "model."
        if raw["model_type"] == "gemma3":
            raw = raw["text_config"]
            self.prefix = "language_model.model."
            self.version = 3
        else:
            self.version = {"gemma": 1, "gemma2": 2, "gemma3_text": 3}[raw["model_type"]]
        g3 = self.version == 3
        self.hidden = raw["hidden_size"]
        self.layers = raw["num_hidden_layers"]
        self.heads = raw["num_attention_heads"]
        self.kv_heads = raw.get("num_key_value_heads", self.heads)
        self.head_dim = raw.get("head_dim") or self.hidden // self.heads
        self.eps = raw.get("rms_norm_eps", 1e-6)
        self.vocab = raw["vocab_size"]

        if self.version == 1:
            # Gemma 1 scales scores by head_dim^-1/2 and has neither windows nor softcaps
            self.query_scalar = self.head_dim
            self.window = None
            self.attn_cap = None
            self.final_cap = None
            self.sliding = [False] * self.layers
        else:
            self.query_scalar = raw.get("query_pre_attn_scalar", 256)
            self.window = raw.get("sliding_window", 4096)
            default_caps = (50.0, 30.0) if self.version == 2 else (None, None)
            self.attn_cap = raw.get("attn_logit_softcapping", default_caps[0])
            self.final_cap = raw.get("final_logit_softcapping", default_caps[1])
            if raw.get("layer_types") is not None:
                self.sliding = [t == "sliding_attention" for t in raw["layer_types"]]
            elif self.version == 2:
                self.sliding = [(i + 1) % 2 != 0 for i in range(self.layers)]
            else:
                pattern = raw.get("sliding_window_pattern", 6)
                self.sliding = [(i + 1) % pattern != 0 for i in range(self.layers)]

        # RoPE: (base, linear factor) per attention kind. Gemma 3 local layers use rope_local_base_freq
        # without scaling; rope_scaling applies to global layers only.
        theta = raw.get("rope_theta", 1_000_000.0 if g3 else 10_000.0)
        self.rope_global = (theta, linear_factor(raw.get("rope_scaling")))
        self.rope_local = (raw.get("rope_local_base_freq", 10_000.0), 1.0) if g3 else self.rope_global
        # transformers v5 spelling: rope_parameters, per layer type or one block for all layers
        params = raw.get("rope_parameters")
        if isinstance(params, dict) and "full_attention" in params:
            full, local = params["full_attention"], params.get("sliding_attention", {})
            self.rope_global = (full.get("rope_theta", theta), linear_factor(full))
            self.rope_local = (local.get("rope_theta", self.rope_local[0]), linear_factor(local))
        elif isinstance(params, dict):
            self.rope_global = (params.get("rope_theta", theta), linear_factor(params))
            if not g3:
                self.rope_local = self.rope_global


def linear_factor(scaling):
    """The factor of a linear rope_scaling block (1 for none or default)."""
    if not scaling or scaling.get("rope_type", scaling.get("type", "default")) == "default":
        return 1.0
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "linear":
        raise SystemExit(f"rope type {kind} is not supported by this reference")
    return float(scaling["factor"])


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """x / rms(x) * (1 + w), computed in float32 and cast back to x's dtype at the end."""
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.square().mean(dim=-1, keepdim=True) + eps)
    return (normed * (1.0 + weight.float())).to(x.dtype)


def gelu_tanh(x):
    """The tanh approximation of GELU (HF gelu_pytorch_tanh)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def rope_tables(base, factor, head_dim, positions):
    """cos, sin [T, D] for positions [T]: angle = pos * base^(-2j/D) / factor, both halves the same angles."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    inv_freq = 1.0 / (base ** exponents) / factor
    angles = positions.float()[:, None] * inv_freq[None, :]
    both = torch.cat([angles, angles], dim=-1)
    return both.cos(), both.sin()


def rotate(x, cos, sin):
    """Rotary embedding on the last dim, pairing element i with i + D/2."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + turned * sin


def softcap(x, cap):
    """cap * tanh(x / cap)."""
    return torch.tanh(x / cap) * cap


def visibility(T, window):
    """Boolean [T, T] (query, key): causal, and on sliding layers only the last `window` keys (k > q - window)."""
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    return allowed


# --------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------

def forward(cfg, w, ids):
    """Runs ids [B, T]; returns ({(layer, site): tensor [B*T, width]}, logits [B*T, V])."""
    B, T = ids.shape
    D, Hq, Hkv = cfg.head_dim, cfg.heads, cfg.kv_heads
    p = cfg.prefix
    sites = {}

    embedding = w[p + "embed_tokens.weight"]
    # the normaliser sqrt(hidden) is rounded to the embedding dtype (float32 here)
    h = embedding[ids] * torch.tensor(math.sqrt(cfg.hidden), dtype=embedding.dtype)

    positions = torch.arange(T)
    tables = {
        False: rope_tables(*cfg.rope_global, D, positions),
        True: rope_tables(*cfg.rope_local, D, positions),
    }

    for layer in range(cfg.layers):
        lp = f"{p}layers.{layer}."
        local = cfg.sliding[layer]

        # ---- attention
        x = rms_norm(h, w[lp + "input_layernorm.weight"], cfg.eps)
        q = (x @ w[lp + "self_attn.q_proj.weight"].T).view(B, T, Hq, D).transpose(1, 2)    # [B, Hq, T, D]
        k = (x @ w[lp + "self_attn.k_proj.weight"].T).view(B, T, Hkv, D).transpose(1, 2)   # [B, Hkv, T, D]
        v = (x @ w[lp + "self_attn.v_proj.weight"].T).view(B, T, Hkv, D).transpose(1, 2)
        if cfg.version == 3:
            q = rms_norm(q, w[lp + "self_attn.q_norm.weight"], cfg.eps)
            k = rms_norm(k, w[lp + "self_attn.k_norm.weight"], cfg.eps)
        cos, sin = tables[local]
        q = rotate(q, cos, sin)
        k = rotate(k, cos, sin)
        # grouped-query attention: query head i reads kv head i // (Hq / Hkv)
        k = k.repeat_interleave(Hq // Hkv, dim=1)
        v = v.repeat_interleave(Hq // Hkv, dim=1)

        scores = (q @ k.transpose(-1, -2)) * cfg.query_scalar ** -0.5                      # [B, Hq, T, T]
        if cfg.attn_cap is not None:
            scores = softcap(scores, cfg.attn_cap)
        allowed = visibility(T, cfg.window if local else None)
        scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        att = (probs @ v).transpose(1, 2).reshape(B, T, Hq * D)                             # head-major
        attn_out = att @ w[lp + "self_attn.o_proj.weight"].T

        if cfg.version == 1:
            h = h + attn_out
            x = rms_norm(h, w[lp + "post_attention_layernorm.weight"], cfg.eps)
        else:
            h = h + rms_norm(attn_out, w[lp + "post_attention_layernorm.weight"], cfg.eps)
            x = rms_norm(h, w[lp + "pre_feedforward_layernorm.weight"], cfg.eps)

        # ---- MLP
        gated = gelu_tanh(x @ w[lp + "mlp.gate_proj.weight"].T) * (x @ w[lp + "mlp.up_proj.weight"].T)
        mlp = gated @ w[lp + "mlp.down_proj.weight"].T
        if cfg.version != 1:
            mlp = rms_norm(mlp, w[lp + "post_feedforward_layernorm.weight"], cfg.eps)
        h = h + mlp

        for name, value in (("att", att), ("attn_out", attn_out), ("mlp", mlp), ("res", h)):
            sites[(layer, name)] = value.reshape(B * T, -1)

    # ---- head: tied embedding, optional final softcap
    head = w.get("lm_head.weight", embedding)
    logits = rms_norm(h, w[p + "norm.weight"], cfg.eps) @ head.T
    if cfg.final_cap is not None:
        logits = softcap(logits, cfg.final_cap)
    return sites, logits.reshape(B * T, -1)


def main(argv):
    if len(argv) != 4:
        raise SystemExit("usage: gemma_reference.py CHECKPOINT_DIR IDS.npy OUT_DIR")
    folder, ids_path, out = argv[1:]
    with open(os.path.join(folder, "config.json")) as f:
        cfg = Settings(json.load(f))
    weights = read_weights(folder)
    ids = torch.from_numpy(np.load(ids_path).astype(np.int64))
    if ids.ndim != 2:
        raise SystemExit(f"{ids_path}: expected ids [rows, T], got shape {tuple(ids.shape)}")
    with torch.no_grad():
        sites, logits = forward(cfg, weights, ids)
    os.makedirs(out, exist_ok=True)
    for (layer, name), value in sites.items():
        np.save(os.path.join(out, f"{layer}.{name}.npy"), value.numpy().astype(np.float32))
    np.save(os.path.join(out, "logits.npy"), logits.numpy().astype(np.float32))


if __name__ == "__main__":
    main(sys.argv)
