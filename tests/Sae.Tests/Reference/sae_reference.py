"""An independent PyTorch reference for one SAE training step, written from ../shared/reference/sae-training.md
(Gemma Scope, Gao et al. / dictionary_learning, Bussmann et al., Anthropic's April update) with torch autograd.

Usage: sae_reference.py DIR
DIR holds config.json and the step's inputs as .npy (float32, our layout: W_enc_t and W_dec [d_sae, d_in]):
x, W_enc_t, b_enc, W_dec, b_dec, log_threshold (jumprelu), m_NAME / v_NAME (Adam moments after `step` steps),
dead (1 where a latent counts as dead, for AuxK). Writes ref_*.npy (float64: codes, x_hat, e_hat and aux_codes
when AuxK runs, and per parameter grad_, new_ (after Adam and, for unit-norm families, the decoder renormalisation)
and delta_ = new − initial; W_enc as [d_in, d_sae]) and ref.json (scalars) into DIR.

config.json: arch (relu | topk | batchtopk | jumprelu), k, lr (peak), l1 / l0 (peak sparsity coefficient),
bandwidth, step (0-based), total_steps, batch_threshold (BatchTopK's threshold before this step, < 0 if none).
Everything else (Adam betas and eps, warm-ups, AuxK's k and coefficient, the threshold EMA) follows the recipe.
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

# ---- recipe constants (sae-training.md) ----------------------------------------------------------------
LR_WARMUP_STEPS = 1000          # cosine warm-up from 0.1·lr over 1,000 steps (Gemma Scope; dictionary_learning 1000)
JUMPRELU_SPARSITY_WARMUP = 10_000  # sparsity coefficient 0 → λ over 10,000 steps (Gemma Scope)
RELU_SPARSITY_WARMUP_FRACTION = 0.05  # λ warmed up over the first 5% of steps (April update)
AUXK_COEFFICIENT = 1 / 32
THRESHOLD_BETA, THRESHOLD_START = 0.999, 1000  # BatchTopK inference threshold EMA


def adam_hyperparameters(arch):
    """(beta1, beta2, eps): Gemma Scope's (0, 0.999, 1e-8) for JumpReLU, Gao et al.'s eps 6.25e-10 for the
    TopK family, torch's defaults where the recipe states nothing."""
    if arch == "jumprelu":
        return 0.0, 0.999, 1e-8
    if arch in ("topk", "batchtopk"):
        return 0.9, 0.999, 6.25e-10
    return 0.9, 0.999, 1e-8


def learning_rate(peak, step):
    """Cosine warm-up from 0.1·peak to peak over the first LR_WARMUP_STEPS, then constant (steps before any decay)."""
    if step >= LR_WARMUP_STEPS:
        return peak
    return peak * (0.1 + 0.9 * (1 - math.cos(math.pi * step / LR_WARMUP_STEPS)) / 2)


def sparsity_coefficient(arch, peak, step, total_steps):
    """Linear warm-up 0 → λ; the coefficient used at 0-based step s is λ·(s + 1)/warm-up."""
    warm = JUMPRELU_SPARSITY_WARMUP if arch == "jumprelu" else int(total_steps * RELU_SPARSITY_WARMUP_FRACTION)
    return peak * min(1.0, (step + 1) / warm)


def rectangle(u):
    """The rectangle kernel K(u) = 1 on (−1/2, 1/2)."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    """f = z·H(z − θ); ∂f/∂z = H(z − θ), ∂f/∂θ = −(θ/ε)·K((z − θ)/ε) (Rajamanoharan et al., Gemma Scope)."""

    @staticmethod
    def forward(ctx, z, theta, bandwidth):
        ctx.save_for_backward(z, theta)
        ctx.bandwidth = bandwidth
        return z * (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        dz = (z > theta).to(z.dtype) * grad
        dtheta = (-(theta / eps) * rectangle((z - theta) / eps) * grad).sum(dim=0)
        return dz, dtheta, None


class Step(torch.autograd.Function):
    """H(z − θ); ∂H/∂z = 0, ∂H/∂θ = −(1/ε)·K((z − θ)/ε) (the L0 penalty's straight-through estimator)."""

    @staticmethod
    def forward(ctx, z, theta, bandwidth):
        ctx.save_for_backward(z, theta)
        ctx.bandwidth = bandwidth
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        dtheta = (-(1.0 / eps) * rectangle((z - theta) / eps) * grad).sum(dim=0)
        return torch.zeros_like(z), dtheta, None


def scatter_top(values, k):
    """A tensor like `values` holding its k largest entries along the last dimension, zeros elsewhere."""
    top, idx = values.topk(k, dim=-1)
    return torch.zeros_like(values).scatter(-1, idx, top)


def main(folder):
    with open(os.path.join(folder, "config.json")) as fh:
        cfg = json.load(fh)
    arch = cfg["arch"]
    load = lambda name: torch.from_numpy(np.load(os.path.join(folder, name + ".npy")).astype(np.float64))
    x = load("x")
    batch, d_in = x.shape
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["log_threshold"] if arch == "jumprelu" else [])
    initial = {"W_enc": load("W_enc_t").T.contiguous(), "b_enc": load("b_enc"), "W_dec": load("W_dec"), "b_dec": load("b_dec")}
    moments = {"W_enc": (load("m_W_enc_t").T.contiguous(), load("v_W_enc_t").T.contiguous())}
    for name in names[1:]:
        moments[name] = (load("m_" + name), load("v_" + name))
    if arch == "jumprelu":
        initial["log_threshold"] = load("log_threshold")
    params = {name: initial[name].clone().requires_grad_(True) for name in names}
    W_enc, b_enc, W_dec, b_dec = (params[n] for n in ["W_enc", "b_enc", "W_dec", "b_dec"])
    d_sae = W_dec.shape[0]

    step, total = cfg["step"], cfg["total_steps"]
    lr = learning_rate(cfg["lr"], step)
    lam = sparsity_coefficient(arch, cfg.get("l1", 0.0) if arch == "relu" else cfg.get("l0", 0.0), step, total) \
        if arch in ("relu", "jumprelu") else 0.0

    # ---- forward: b_dec subtracted before the encoder, code by the family's rule, x̂ = f·W_dec + b_dec -------------
    z = (x - b_dec) @ W_enc + b_enc
    out = {}
    near = 0
    kth = 0.0
    if arch == "relu":
        f = torch.relu(z)
    elif arch == "topk":
        f = scatter_top(torch.relu(z), cfg["k"])
    elif arch == "batchtopk":
        flat = scatter_top(torch.relu(z).reshape(-1), cfg["k"] * batch)
        f = flat.reshape(batch, d_sae)
        kept = f[f > 0]
        kth = float(kept.min()) if kept.numel() else 0.0
    else:
        theta = torch.exp(params["log_threshold"])
        f = JumpReLU.apply(z, theta, cfg["bandwidth"])
        near = int(((z - theta).abs() < cfg["bandwidth"] / 2).sum())
    x_hat = f @ W_dec + b_dec
    rec = (x_hat - x).pow(2).sum(dim=-1).mean()

    if arch == "relu":
        sparsity = lam * (f * W_dec.norm(dim=-1)).sum(dim=-1).mean()
    elif arch == "jumprelu":
        sparsity = lam * Step.apply(z, theta, cfg["bandwidth"]).sum(dim=-1).mean()
    else:
        sparsity = torch.zeros(())

    # ---- AuxK: the top k_aux dead latents reconstruct the (detached) residual; normalised MSE ----------------------
    aux = torch.zeros(())
    dead = load("dead") > 0
    n_dead = int(dead.sum())
    if arch in ("topk", "batchtopk") and n_dead > 0:
        k_aux = min(d_in // 2, n_dead)
        residual = (x - x_hat).detach()
        candidates = torch.where(dead[None, :], torch.relu(z), torch.full_like(z, -math.inf))
        aux_codes = scatter_top(candidates, k_aux)
        e_hat = aux_codes @ W_dec
        denom = (residual - residual.mean(dim=0, keepdim=True)).pow(2).sum(dim=-1).mean()
        aux = (residual - e_hat).pow(2).sum(dim=-1).mean() / denom
        out["e_hat"] = e_hat
        out["aux_codes"] = aux_codes
    loss = rec + sparsity + AUXK_COEFFICIENT * aux
    loss.backward()

    unit_norm = arch != "relu"
    if unit_norm:
        # the decoder-row gradient loses its component along the (unit) row
        w_hat = W_dec.detach() / W_dec.detach().norm(dim=-1, keepdim=True)
        W_dec.grad -= (W_dec.grad * w_hat).sum(dim=-1, keepdim=True) * w_hat
    grads = {name: params[name].grad.clone() for name in names}

    # ---- one Adam step (torch.optim.Adam, bias-corrected at t = step + 1), then unit decoder rows ------------------
    beta1, beta2, eps = adam_hyperparameters(arch)
    optimiser = torch.optim.Adam([params[n] for n in names], lr=lr, betas=(beta1, beta2), eps=eps)
    for name in names:
        m, v = moments[name]
        optimiser.state[params[name]] = {"step": torch.tensor(float(step)), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
    optimiser.step()
    with torch.no_grad():
        if unit_norm:
            W_dec /= W_dec.norm(dim=-1, keepdim=True)

    threshold = cfg["batch_threshold"]
    if arch == "batchtopk" and step >= THRESHOLD_START and kth > 0:
        threshold = kth if threshold < 0 else THRESHOLD_BETA * threshold + (1 - THRESHOLD_BETA) * kth

    out.update({"codes": f, "x_hat": x_hat})
    for name in names:
        out["grad_" + name] = grads[name]
        out["new_" + name] = params[name]
        out["delta_" + name] = params[name] - initial[name]
    for name, tensor in out.items():
        np.save(os.path.join(folder, "ref_" + name + ".npy"), tensor.detach().numpy())
    scalars = {"loss": float(loss), "rec": float(rec), "sparsity": float(sparsity), "aux": float(aux),
               "l0": float((f > 0).sum()) / batch, "lr": lr, "lambda": lam, "near": near, "dead": n_dead,
               "kth": kth, "batch_threshold": threshold}
    with open(os.path.join(folder, "ref.json"), "w") as fh:
        json.dump(scalars, fh)


if __name__ == "__main__":
    main(sys.argv[1])
