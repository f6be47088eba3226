"""Peer for `saectl sae convert` / `sae encode` timings: the same jobs done with numpy and torch.

usage: /usr/bin/python3 bench/torch_convert.py PARAMS.npz OUT_DIR X.npy
  1. Gemma Scope params.npz -> dictionary_learning JumpReluAutoEncoder ae.pt (np.load, torch.save)
  2. encode X.npy [N, d_in] with the Gemma Scope maths (torch fp32 matmuls) -> codes/recon .npz
Prints one JSON line with the seconds each took (imports excluded).
"""
import json
import os
import sys
import time

import numpy as np
import torch

torch.set_num_threads(os.cpu_count() or 1)  # Debian's torch starts with one thread here; use every core, as saectl does

params, out, xpath = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
t0 = time.perf_counter()
p = np.load(params)
state = {k: torch.from_numpy(p[k]) for k in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}
torch.save(state, os.path.join(out, "ae.pt"))
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"trainer": {"dict_class": "JumpReluAutoEncoder", "activation_dim": state["W_enc"].shape[0],
                           "dict_size": state["W_enc"].shape[1]}}, f, indent=4)
t1 = time.perf_counter()
x = torch.from_numpy(np.load(xpath))
pre = x @ state["W_enc"] + state["b_enc"]
f = (pre > state["threshold"]) * torch.relu(pre)
recon = f @ state["W_dec"] + state["b_dec"]
np.savez(os.path.join(out, "codes.npz"), codes=f.numpy(), recon=recon.numpy())
t2 = time.perf_counter()
print(json.dumps({"convert_s": t1 - t0, "encode_s": t2 - t1, "threads": torch.get_num_threads()}))
