#!/usr/bin/python3
"""PyTorch reference timing of one TopK SAE *training* step on CPU (the peer-library baseline).

One step = encoder forward, top-k, decoder forward, loss (MSE + AuxK/32 as in
dictionary_learning / OpenAI), backward, removal of the decoder-row-parallel gradient
component, torch.optim.Adam (lr 1e-4, eps 6.25e-10) and decoder-row renormalisation.
Shapes: W_enc [d_in, width], b_enc [width], W_dec [width, d_in] (unit rows), b_dec [d_in];
x is seeded random normal; a fixed random share of the latents (--dead-fraction, default 5%) is marked dead; k_aux = d_in/2.

Variants:
  fp32        everything dense fp32 (how SAELens / dictionary_learning run on CPU)
  bf16        same, forward matmuls under torch.autocast("cpu", bfloat16) -> oneDNN/AMX
  sparse      encoder GEMM in bf16 with a custom backward (grad only where latents were
              selected; no dense grad w.r.t. the encoder input), top-k decode via
              embedding_bag, AuxK decode as a bf16 GEMM over the dead latents only
  sparse_bag  like sparse but the AuxK decode also via embedding_bag (slow here; opt-in)
  sparse_fp32 the sparse formulation without autocast (used by --check)
It also reports the best-of-3 torch.mm GFLOP/s at [batch, d_in] @ [d_in, width], fp32 and bf16.

Run with the Debian torch (only /usr/bin/python3 has it):
  /usr/bin/python3 bench/torch_sae_step.py --d-in 2304 --width 16384 --batch 4096 --k 64 --steps 3
  /usr/bin/python3 bench/torch_sae_step.py --json --variants fp32,bf16,sparse
  /usr/bin/python3 bench/torch_sae_step.py --check   # d_in 64, width 256, batch 128, k 16
The script re-executes itself with OPENBLAS_CORETYPE=SkylakeX (OpenBLAS reads it at load
time) and uses 2 threads. fp32 GEMM goes through whatever libblas.so.3 resolves to: it must be
OpenBLAS (Debian libopenblas0-*), the netlib reference libblas3 runs at ~2.5 GFLOP/s; the
script prints the library it loaded and warns if it is not OpenBLAS. Timings are medians of
--steps steps after --warmup steps; other load on the 2 cores shows up directly in them.
"""
import argparse, json, os, statistics, sys, time

if os.environ.get("OPENBLAS_CORETYPE") != "SkylakeX":
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
BF16 = torch.bfloat16


def blas_library():
    """The BLAS shared objects mapped into this process (libtorch_cpu links libblas.so.3)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return ",".join(sorted(libs)) or "unknown"


BLAS = blas_library()
if "openblas" not in BLAS.lower():
    print(f"warning: fp32 GEMM is not using OpenBLAS ({BLAS}); the fp32 variant will be very slow",
          file=sys.stderr)


def autocast(amp):
    return torch.autocast("cpu", dtype=BF16, enabled=amp)


def init_params(d_in, width, seed):
    g = torch.Generator().manual_seed(seed)
    w_dec = torch.randn(width, d_in, generator=g)
    w_dec /= w_dec.norm(dim=-1, keepdim=True)
    return {"W_enc": w_dec.t().contiguous(), "b_enc": torch.zeros(width),
            "W_dec": w_dec, "b_dec": torch.zeros(d_in)}


def aux_loss(e, e_hat):
    """AuxK loss normalised as in OpenAI's sparse_autoencoder / dictionary_learning."""
    return (e - e_hat).pow(2).sum(-1).mean() / (e - e.mean(0)).pow(2).sum(-1).mean()


def dense_loss(p, x, dead, k, k_aux, amp):
    """The peer-library formulation: dense codes, dense matmuls, autograd everywhere.
    Under autocast the matmuls run in bf16; the additions promote their results back to fp32."""
    with autocast(amp):
        pre = (x - p["b_dec"]) @ p["W_enc"] + p["b_enc"]
        acts = F.relu(pre)
        vals, idx = acts.topk(k, dim=-1)
        codes = torch.zeros_like(acts).scatter(-1, idx, vals)
        err = x - (codes @ p["W_dec"] + p["b_dec"])
        e = err.detach()
        aux_vals, aux_idx = torch.where(dead, acts, -torch.inf).topk(k_aux, dim=-1, sorted=False)
        aux_codes = torch.zeros_like(acts).scatter(-1, aux_idx, aux_vals)
        e_hat = aux_codes @ p["W_dec"]
    return err.pow(2).sum(-1).mean() + aux_loss(e, e_hat.float()) / 32


class TopKEncode(torch.autograd.Function):
    """Encoder GEMM + top-k selection. Returns the pre-activations at the k top latents and at
    the k_aux top dead latents, with their indices (aux ones as positions in dead_idx). Backward builds the gradient of the
    pre-activations from those entries only and skips the dense grad w.r.t. (x - b_dec):
    b_dec only needs its batch sum, W_enc @ grad_b_enc."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, b_dec, dead_idx, k, k_aux, amp):
        xc = x - b_dec
        with autocast(amp):
            pre = torch.addmm(b_enc, xc, W_enc)  # [batch, width], bf16 under autocast
        sel, idx = pre.topk(k, dim=-1, sorted=False)
        aux_sel, aux_pos = pre[:, dead_idx].topk(k_aux, dim=-1, sorted=False)
        ctx.save_for_backward(xc, W_enc, idx, dead_idx[aux_pos])
        ctx.amp, ctx.width = amp, pre.shape[1]
        ctx.mark_non_differentiable(idx, aux_pos)
        return sel.float(), idx, aux_sel.float(), aux_pos

    @staticmethod
    def backward(ctx, g_sel, _g_idx, g_aux, _g_aux_pos):
        xc, W_enc, idx, aux_idx = ctx.saved_tensors
        grad_pre = torch.zeros(xc.shape[0], ctx.width, dtype=BF16 if ctx.amp else torch.float32)
        grad_pre.scatter_add_(-1, idx, g_sel.to(grad_pre.dtype))  # top-k and aux may overlap
        grad_pre.scatter_add_(-1, aux_idx, g_aux.to(grad_pre.dtype))
        with autocast(ctx.amp):
            grad_W_enc = xc.t() @ grad_pre
        grad_b_enc = grad_pre.sum(0, dtype=torch.float32)
        grad_b_dec = -(W_enc @ grad_b_enc)
        return None, grad_W_enc.float(), grad_b_enc, grad_b_dec, None, None, None, None


def sparse_loss(p, x, dead_idx, k, k_aux, amp, aux_bag=False):
    sel, idx, aux_sel, aux_pos = TopKEncode.apply(
        x, p["W_enc"], p["b_enc"], p["b_dec"], dead_idx, k, k_aux, amp)
    vals, aux_vals = F.relu(sel), F.relu(aux_sel)
    x_hat = F.embedding_bag(idx, p["W_dec"], per_sample_weights=vals, mode="sum") + p["b_dec"]
    err = x - x_hat
    e = err.detach()
    if aux_bag:
        e_hat = F.embedding_bag(dead_idx[aux_pos], p["W_dec"], per_sample_weights=aux_vals, mode="sum")
    else:  # dense over the dead latents only: column j of aux_codes is latent dead_idx[j]
        aux_codes = torch.zeros(x.shape[0], len(dead_idx)).scatter(-1, aux_pos, aux_vals)
        with autocast(amp):
            e_hat = (aux_codes @ p["W_dec"][dead_idx]).float()
    return err.pow(2).sum(-1).mean() + aux_loss(e, e_hat) / 32


VARIANTS = {  # name -> (formulation, autocast, aux decode via embedding_bag)
    "fp32": ("dense", False, False), "bf16": ("dense", True, False),
    "sparse": ("sparse", True, False), "sparse_bag": ("sparse", True, True),
    "sparse_fp32": ("sparse", False, False),
}


class Trainer:
    def __init__(self, variant, params, x, dead, k, k_aux):
        kind, amp, aux_bag = VARIANTS[variant]
        self.p = {n: t.clone().requires_grad_() for n, t in params.items()}
        self.opt = torch.optim.Adam(self.p.values(), lr=1e-4, eps=6.25e-10)
        dead_idx = dead.nonzero().squeeze(1)
        if kind == "dense":
            self.loss_fn = lambda: dense_loss(self.p, x, dead, k, k_aux, amp)
        else:
            self.loss_fn = lambda: sparse_loss(self.p, x, dead_idx, k, k_aux, amp, aux_bag)

    def loss_and_grads(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn()
        loss.backward()
        W = self.p["W_dec"]
        with torch.no_grad():  # rows are unit norm: drop the component parallel to each row
            W.grad -= (W.grad * W).sum(-1, keepdim=True) * W
        return loss.item()

    def step(self):
        loss = self.loss_and_grads()
        self.opt.step()
        with torch.no_grad():
            W = self.p["W_dec"]
            W /= W.norm(dim=-1, keepdim=True)
        return loss


def gemm_gflops(m, kd, n, dtype):
    a, b = torch.randn(m, kd).to(dtype), torch.randn(kd, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * m * kd * n / best / 1e9


def make_inputs(a):
    torch.manual_seed(a.seed)
    x = torch.randn(a.batch, a.d_in)
    dead = torch.rand(a.width, generator=torch.Generator().manual_seed(a.seed + 1)) < a.dead_fraction
    return init_params(a.d_in, a.width, a.seed), x, dead, min(a.d_in // 2, int(dead.sum()))


def check(a):
    params, x, dead, k_aux = make_inputs(a)
    ref = Trainer("fp32", params, x, dead, a.k, k_aux)
    ref_loss = ref.loss_and_grads()
    print(f"check: d_in={a.d_in} width={a.width} batch={a.batch} k={a.k} k_aux={k_aux} "
          f"fp32 loss={ref_loss:.6f}")
    worst = 0.0
    for v in [v for v in a.variants if v != "fp32"]:
        t = Trainer(v, params, x, dead, a.k, k_aux)
        loss = t.loss_and_grads()
        worst = max(worst, abs(loss - ref_loss) / abs(ref_loss))
        errs = {n: ((t.p[n].grad - g.grad).norm() / g.grad.norm()).item() for n, g in ref.p.items()}
        print(f"  {v:12s} loss={loss:.6f} rel.diff vs fp32={abs(loss - ref_loss) / abs(ref_loss):.2e}"
              "  grad rel.err " + " ".join(f"{n}={e:.1e}" for n, e in errs.items()))
    print(f"max relative loss difference vs fp32: {worst:.2e}")


def bench(a):
    params, x, dead, k_aux = make_inputs(a)
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(),
           "d_in": a.d_in, "width": a.width, "batch": a.batch, "k": a.k, "variants": {}}
    for v in a.variants:
        t = Trainer(v, params, x, dead, a.k, k_aux)
        for _ in range(a.warmup):
            t.step()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            t.step()
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        out["variants"][v] = {"ms_per_step": round(ms, 1), "tokens_per_s": round(a.batch / ms * 1e3, 1)}
        if not a.json:
            print(f"{v:12s} {ms:10.1f} ms/step {a.batch / ms * 1e3:10.1f} tokens/s"
                  f"   (steps: {', '.join(f'{s * 1e3:.0f}' for s in times)} ms)", flush=True)
    out["gemm_fp32_gflops"] = round(gemm_gflops(a.batch, a.d_in, a.width, torch.float32), 1)
    out["gemm_bf16_gflops"] = round(gemm_gflops(a.batch, a.d_in, a.width, BF16), 1)
    out["blas"] = BLAS
    if a.json:
        print(json.dumps(out))
    else:
        print(f"GEMM [{a.batch}x{a.d_in}]@[{a.d_in}x{a.width}] best of 3: fp32 "
              f"{out['gemm_fp32_gflops']} GFLOP/s, bf16 {out['gemm_bf16_gflops']} GFLOP/s")
        print(f"torch {torch.__version__}, {out['threads']} threads, BLAS {BLAS}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d-in", type=int, default=2304)
    ap.add_argument("--width", type=int, default=16384)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--variants", default=None, help="comma list of " + ",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dead-fraction", type=float, default=0.05, help="share of latents marked dead (they feed AuxK)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--check", action="store_true",
                    help="compare loss/grads of each variant with fp32 at d_in 64, width 256, batch 128, k 16")
    a = ap.parse_args()
    if a.check:
        a.d_in, a.width, a.batch, a.k = 64, 256, 128, 16
    default = "fp32,bf16,sparse,sparse_bag,sparse_fp32" if a.check else "fp32,bf16,sparse"
    a.variants = (a.variants or default).split(",")
    unknown = [v for v in a.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    (check if a.check else bench)(a)


if __name__ == "__main__":
    main()
