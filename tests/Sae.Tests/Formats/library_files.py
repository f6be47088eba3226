"""Writes SAE files the way each library writes them, with the codes and reconstructions that library computes.

Independent of SaeCluster's C#: the layouts and maths follow ../shared/reference/sae-formats.md (sections 3-5),
the tensors are made and saved by torch itself, so strides and pickle details are torch's own.

usage: /usr/bin/python3 library_files.py write OUT_DIR SEED
         writes OUT_DIR/x.npy [N, d_in] and, per SAE, OUT_DIR/<name>/… plus OUT_DIR/<name>.codes.npy and .recon.npy
       /usr/bin/python3 library_files.py encode FORMAT PATH X.npy OUT_PREFIX
         loads an SAE that SaeCluster wrote (torch.load, np.load, a plain safetensors parse) and encodes X.npy the way
         FORMAT's library does, writing OUT_PREFIX.codes.npy and OUT_PREFIX.recon.npy
"""
import json
import os
import sys

import numpy as np
import torch



def safetensors_load(path):
    """A plain reading of the safetensors layout: u64 header length, JSON header, data (no library)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        data = raw[8 + n + b:8 + n + e]
        if info["dtype"] == "BF16":
            a = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(data, dtypes[info["dtype"]])
        out[name] = torch.from_numpy(a.astype(np.float32).reshape(info["shape"]).copy())
    return out


def topk_dense(a, k):
    vals, idx = a.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(a).scatter_(-1, idx, vals)


def library_encode(fmt, path, x):
    if fmt == "saelens":
        cfg = json.load(open(os.path.join(path, "cfg.json")))
        t = safetensors_load(os.path.join(path, "sae_weights.safetensors"))
        assert cfg["metadata"]["sae_lens_version"] >= "6", cfg
        sae_in = x - t["b_dec"] * cfg["apply_b_dec_to_input"]
        pre = sae_in @ t["W_enc"] + t["b_enc"]
        if cfg["architecture"] == "standard":
            f = torch.relu(pre)
        elif cfg["architecture"] == "jumprelu":
            f = torch.relu(pre) * (pre > t["threshold"])
        else:
            assert cfg["architecture"] == "topk"
            assert not cfg["rescale_acts_by_decoder_norm"]
            vals, idx = pre.topk(cfg["k"], dim=-1)
            f = torch.zeros_like(pre).scatter_(-1, idx, torch.relu(vals))
        return f, f @ t["W_dec"] + t["b_dec"]
    if fmt == "sparsify":
        (hook,) = [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
        cfg = json.load(open(os.path.join(path, hook, "cfg.json")))
        t = safetensors_load(os.path.join(path, hook, "sae.safetensors"))
        pre = torch.relu((x - t["b_dec"]) @ t["encoder.weight"].T + t["encoder.bias"])
        vals, idx = pre.topk(cfg["k"], dim=-1)
        f = torch.zeros_like(pre).scatter_(-1, idx, vals)
        recon = torch.nn.functional.embedding_bag(idx, t["W_dec"], per_sample_weights=vals, mode="sum") + t["b_dec"]
        return f, recon
    if fmt == "gemmascope":
        p = np.load(os.path.join(path, "params.npz"))
        t = {k: torch.from_numpy(p[k]) for k in p.files}
        pre = x @ t["W_enc"] + t["b_enc"]
        f = (pre > t["threshold"]) * torch.relu(pre)
        return f, f @ t["W_dec"] + t["b_dec"]
    if fmt == "functiongemma":
        (name,) = [n for n in os.listdir(path) if n.startswith("sae_layer_")]
        d = torch.load(os.path.join(path, name))
        assert isinstance(d["model_name"], str) and isinstance(d["layer_idx"], int) and set(d["history"]) == {"loss", "mse", "l0"}
        f = torch.relu(x @ d["W_enc"] + d["b_enc"])
        return f, f @ d["W_dec"] + d["b_dec"]
    assert fmt == "dictlearn"
    cfg = json.load(open(os.path.join(path, "config.json")))["trainer"]
    s = torch.load(os.path.join(path, "ae.pt"))
    cls = cfg["dict_class"]
    if cls == "AutoEncoder":
        norms = torch.norm(s["decoder.weight"], dim=0)
        assert torch.allclose(norms, torch.ones_like(norms)), "written with unit-norm columns, so from_pretrained leaves it"
        f = torch.relu((x - s["bias"]) @ s["encoder.weight"].T + s["encoder.bias"])
        return f, f @ s["decoder.weight"].T + s["bias"]
    if cls in ("AutoEncoderTopK", "BatchTopKSAE"):
        assert s["k"].dtype == torch.int32 and s["k"].dim() == 0 and s["k"].item() == cfg["k"]
        a = torch.relu((x - s["b_dec"]) @ s["encoder.weight"].T + s["encoder.bias"])
        f = topk_dense(a, cfg["k"]) if cls == "AutoEncoderTopK" else a * (a > s["threshold"])
        return f, f @ s["decoder.weight"].T + s["b_dec"]
    assert cls == "JumpReluAutoEncoder"
    pre = x @ s["W_enc"] + s["b_enc"]
    f = torch.relu(pre * (pre > s["threshold"]))
    return f, f @ s["W_dec"] + s["b_dec"]


if sys.argv[1] == "encode":
    fmt, path, xpath, prefix = sys.argv[2:6]
    f, r = library_encode(fmt, path, torch.from_numpy(np.load(xpath)))
    np.save(prefix + ".codes.npy", f.contiguous().numpy())
    np.save(prefix + ".recon.npy", r.contiguous().numpy())
    print("OK")
    sys.exit(0)

assert sys.argv[1] == "write"
out, seed = sys.argv[2], int(sys.argv[3])
torch.manual_seed(seed)
D_IN, D_SAE, N, K = 24, 96, 40, 6
x = torch.randn(N, D_IN) * 2 + 0.3
np.save(os.path.join(out, "x.npy"), x.numpy())


def save_expected(name, codes, recon):
    np.save(os.path.join(out, name + ".codes.npy"), codes.detach().contiguous().numpy())
    np.save(os.path.join(out, name + ".recon.npy"), recon.detach().contiguous().numpy())


def folder(name):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    return d


def dl_config(d, dict_class, trainer_class, k=None):
    trainer = {"trainer_class": trainer_class, "dict_class": dict_class, "lr": 1e-3, "steps": 1000, "seed": 0,
               "activation_dim": D_IN, "dict_size": D_SAE, "device": "cpu", "layer": 3, "lm_name": "google/gemma-2-2b",
               "wandb_name": f"{trainer_class}-gemma-2-2b-resid_post_layer_3_trainer_0", "submodule_name": "resid_post_layer_3"}
    if k is not None:
        trainer["k"] = k
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"trainer": trainer, "buffer": {"d_submodule": D_IN, "io": "out", "n_ctxs": 8, "ctx_len": 128,
                                                 "refresh_batch_size": 4, "out_batch_size": 64, "device": "cpu"}}, f, indent=4)


# dictionary_learning AutoEncoder: encoder = nn.Linear(d_in, d_sae), decoder = nn.Linear(d_sae, d_in, bias=False),
# encoder.weight = nn.Parameter(w.clone().T) -> strides (1, d_sae); decoder columns NOT unit norm here, so the
# library's from_pretrained normalises them (normalize_decoder) and the codes it computes are scaled.
w = torch.randn(D_IN, D_SAE) * 0.3
enc = torch.nn.Linear(D_IN, D_SAE)
dec = torch.nn.Linear(D_SAE, D_IN, bias=False)
dec.weight = torch.nn.Parameter(w.clone())
enc.weight = torch.nn.Parameter(w.clone().T)
bias = torch.nn.Parameter(torch.randn(D_IN) * 0.1)
with torch.no_grad():
    enc.bias.copy_(torch.randn(D_SAE) * 0.2)
state = {"bias": bias.data, "encoder.weight": enc.weight.data, "encoder.bias": enc.bias.data, "decoder.weight": dec.weight.data}
assert state["encoder.weight"].stride() == (1, D_SAE)
d = folder("dl_autoencoder")
torch.save({k: v.cpu() for k, v in state.items()}, os.path.join(d, "ae.pt"))
dl_config(d, "AutoEncoder", "StandardTrainerAprilUpdate")
with torch.no_grad():
    norms = torch.norm(state["decoder.weight"], dim=0)        # normalize_decoder: column norms of decoder.weight
    dw = state["decoder.weight"] / norms
    ew = state["encoder.weight"] * norms[:, None]
    eb = state["encoder.bias"] * norms
    f = torch.relu((x - state["bias"]) @ ew.T + eb)
    save_expected("dl_autoencoder", f, f @ dw.T + state["bias"])

# AutoEncoderTopK / BatchTopKSAE: encoder.weight.data = decoder.weight.T.clone() (strided), unit-norm decoder columns,
# buffers k (int32, 0-dim) and threshold (f32, 0-dim); TopK's encode ignores threshold, BatchTopK's uses it.
for name, dict_class, trainer_class, theta in [("dl_topk", "AutoEncoderTopK", "TopKTrainer", 0.05),
                                               ("dl_batchtopk", "BatchTopKSAE", "BatchTopKTrainer", 0.4)]:
    dw = torch.randn(D_IN, D_SAE)
    dw = dw / dw.norm(dim=0, keepdim=True)
    ew = dw.T.clone()
    assert ew.stride() == (1, D_SAE)
    eb = torch.randn(D_SAE) * 0.2
    b_dec = torch.randn(D_IN) * 0.1
    state = {"b_dec": b_dec, "k": torch.tensor(K, dtype=torch.int), "threshold": torch.tensor(theta, dtype=torch.float32),
             "decoder.weight": dw, "encoder.weight": ew, "encoder.bias": eb}
    d = folder(name)
    torch.save(state, os.path.join(d, "ae.pt"))
    dl_config(d, dict_class, trainer_class, k=K)
    a = torch.relu((x - b_dec) @ ew.T + eb)
    if dict_class == "AutoEncoderTopK":
        vals, idx = a.topk(K, dim=-1, sorted=False)
        f = torch.zeros_like(a).scatter_(-1, idx, vals)
    else:
        f = a * (a > theta)
    save_expected(name, f, f @ dw.T + b_dec)

# JumpReluAutoEncoder: W_enc.data = W_dec.data.clone().T -> [d_in, d_sae] with strides (1, d_in); b_dec not subtracted;
# f = relu(pre * (pre > threshold)).
W_dec = torch.randn(D_SAE, D_IN) * 0.4
W_enc = W_dec.clone().T
assert W_enc.stride() == (1, D_IN)
b_enc, b_dec = torch.randn(D_SAE) * 0.2, torch.randn(D_IN) * 0.1
threshold = torch.rand(D_SAE) * 0.8
d = folder("dl_jumprelu")
torch.save({"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec, "threshold": threshold}, os.path.join(d, "ae.pt"))
dl_config(d, "JumpReluAutoEncoder", "JumpReluTrainer")
pre = x @ W_enc + b_enc
f = torch.relu(pre * (pre > threshold))
save_expected("dl_jumprelu", f, f @ W_dec + b_dec)

# A backup written during training: {"step", "ae": state_dict (an OrderedDict with _metadata), "optimizer", "config", "norm_factor"}
sd = torch.nn.Module()
sd.register_buffer("W_enc", W_enc.contiguous())
sd.register_buffer("b_enc", b_enc)
sd.register_buffer("W_dec", W_dec)
sd.register_buffer("b_dec", b_dec)
sd.register_buffer("threshold", threshold)
d = folder("dl_backup")
torch.save({"step": 500, "ae": sd.state_dict(), "optimizer": {}, "config": {}, "norm_factor": 1.0}, os.path.join(d, "ae.pt"))
dl_config(d, "JumpReluAutoEncoder", "JumpReluTrainer")
save_expected("dl_backup", f, f @ W_dec + b_dec)

# FunctionGemma-style dict: f = relu(x @ W_enc + b_enc)
W_enc2 = torch.randn(D_IN, D_SAE) * 0.3
W_dec2 = torch.randn(D_SAE, D_IN) * 0.3
b_enc2, b_dec2 = torch.randn(D_SAE) * 0.1, torch.randn(D_IN) * 0.1
d = folder("functiongemma")
torch.save({"model_name": "google/functiongemma-270m-it", "layer_idx": 3, "d_in": D_IN, "d_sae": D_SAE,
            "W_enc": W_enc2, "b_enc": b_enc2, "W_dec": W_dec2, "b_dec": b_dec2,
            "history": {"loss": [0.5, 0.25, 0.125], "mse": [0.4, 0.2, 0.1], "l0": [30.0, 20.0, 10.0]}},
           os.path.join(d, "sae_layer_03.pt"))
f = torch.relu(x @ W_enc2 + b_enc2)
save_expected("functiongemma", f, f @ W_dec2 + b_dec2)

# Gemma Scope params.npz, deflated (np.savez_compressed), W_enc Fortran-ordered; f = (pre > θ)·relu(pre), no b_dec on input
W_enc3 = np.asfortranarray(np.random.default_rng(seed).standard_normal((D_IN, D_SAE)).astype(np.float32) * 0.3)
W_dec3 = (np.random.default_rng(seed + 1).standard_normal((D_SAE, D_IN)) * 0.3).astype(np.float32)
b_enc3 = (np.random.default_rng(seed + 2).standard_normal(D_SAE) * 0.1).astype(np.float32)
b_dec3 = (np.random.default_rng(seed + 3).standard_normal(D_IN) * 0.1).astype(np.float32)
th3 = (np.random.default_rng(seed + 4).random(D_SAE) * 0.5).astype(np.float32)
d = folder(os.path.join("gemma-scope-2b-pt-res", "layer_5", "width_16k", "average_l0_82"))
np.savez_compressed(os.path.join(d, "params.npz"), W_enc=W_enc3, W_dec=W_dec3, b_enc=b_enc3, b_dec=b_dec3, threshold=th3)
pre = x.numpy() @ W_enc3 + b_enc3
f = (pre > th3) * np.maximum(pre, 0)
save_expected("gemmascope", torch.from_numpy(f.astype(np.float32)), torch.from_numpy((f @ W_dec3 + b_dec3).astype(np.float32)))
print("OK")
