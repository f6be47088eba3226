#!/usr/bin/env python3
"""PyTorch peer of `saectl bench forward`: the Gemma 2 forward pass, written eagerly in plain PyTorch
(what transformers' eager attention does), timed on the same checkpoint and inputs.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_gemma_forward.py --model DIR --rows 2 --context 1024 --json

It stops after the last decoder layer (the residual stream: what an activation producer needs, no LM
head). Variants: fp32 (float32 everywhere) and bf16 (the projections and MLP under
torch.autocast(bfloat16), attention softmax in float32), 2 threads. Reads model.safetensors directly.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

if os.environ.get("OPENBLAS_CORETYPE") != "SkylakeX":  # OpenBLAS picks a slow kernel on this CPU otherwise
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, OPENBLAS_CORETYPE="SkylakeX"))

import numpy as np
import torch

torch.set_num_threads(2)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype={"F32": np.float32, "F16": np.float16, "BF16": np.uint16}[info["dtype"]])
        t = torch.from_numpy(raw.copy())
        if info["dtype"] == "BF16":
            t = (t.to(torch.int32) << 16).view(torch.float32)
        out[name] = t.float().reshape(info["shape"])
    return out


def rms_norm(x, w, eps):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)).to(x.dtype)


def forward(W, cfg, ids, amp):
    d, H, Hk, D = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, window, cap = cfg["rms_norm_eps"], cfg["sliding_window"], cfg.get("attn_logit_softcapping")
    B, T = ids.shape
    h = W["model.embed_tokens.weight"][ids] * math.sqrt(d)
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2).float() / D))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    local = causal & ~torch.ones(T, T, dtype=torch.bool).tril(-window)
    scale = cfg["query_pre_attn_scalar"] ** -0.5

    def rot(x):
        return torch.cat([-x[..., D // 2:], x[..., :D // 2]], -1)

    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            q = (x @ W[p + "self_attn.q_proj.weight"].t()).float().view(B, T, H, D).transpose(1, 2)
            k = (x @ W[p + "self_attn.k_proj.weight"].t()).float().view(B, T, Hk, D).transpose(1, 2)
            v = (x @ W[p + "self_attn.v_proj.weight"].t()).float().view(B, T, Hk, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // Hk, 1), v.repeat_interleave(H // Hk, 1)
        s = (q @ k.transpose(-1, -2)) * scale
        if cap:
            s = torch.tanh(s / cap) * cap
        s = s.masked_fill(~(local if l % 2 == 0 else causal), float("-inf"))
        att = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            o = (att @ W[p + "self_attn.o_proj.weight"].t()).float()
        h = h + rms_norm(o, W[p + "post_attention_layernorm.weight"], eps)
        x = rms_norm(h, W[p + "pre_feedforward_layernorm.weight"], eps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            g = x @ W[p + "mlp.gate_proj.weight"].t()
            u = x @ W[p + "mlp.up_proj.weight"].t()
            m = (torch.nn.functional.gelu(g, approximate="tanh") * u) @ W[p + "mlp.down_proj.weight"].t()
        h = h + rms_norm(m.float(), W[p + "post_feedforward_layernorm.weight"], eps)
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variants", default="fp32,bf16")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    if cfg["model_type"] != "gemma2":
        sys.exit("this peer implements the Gemma 2 forward only")
    W = load_safetensors(os.path.join(a.model, "model.safetensors"))
    ids = torch.randint(4, cfg["vocab_size"], (a.rows, a.context), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = 2
    result = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "rows": a.rows, "context": a.context, "variants": {}}
    with torch.no_grad():
        for name in a.variants.split(","):
            amp = name == "bf16"
            forward(W, cfg, ids[:, :64], amp)  # warm-up
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                forward(W, cfg, ids, amp)
                times.append(time.perf_counter() - t0)
            best = min(times)
            result["variants"][name] = {"seconds": round(best, 4), "tokens_per_s": round(a.rows * a.context / best, 1)}
    if a.json:
        print(json.dumps(result))
    else:
        for name, v in result["variants"].items():
            print(f"{name:5s} {v['seconds']:8.3f} s  {v['tokens_per_s']:10.1f} tok/s")


if __name__ == "__main__":
    main()
