#!/usr/bin/python3
"""Quality peer: dictionary_learning-style TopK and BatchTopK training in plain PyTorch.

`saectl bench synthetic --peer` starts this script and streams it the very batches its own
trainers see (float32, [batch, d_in] each, already scaled to unit mean squared norm), so both
sides train on the same data; it then loads the weights written here and evaluates them with
the same code, on the same held-out tokens, as its own SAEs.

What each trainer does, following dictionary_learning's TopKTrainer / BatchTopKTrainer (its
defaults wherever a flag is not given):
  parameters   encoder.weight [width, d_in], encoder.bias [width] (zero), decoder.weight
               [d_in, width] with unit-norm columns (nn.Linear's init, then normalised),
               b_dec [d_in]; the encoder starts as the decoder's transpose; b_dec := geometric
               median of the first batch (Weiszfeld, 100 iterations, tol 1e-5).
  encode       post = relu(encoder(x - b_dec)); TopK keeps the k largest of each row,
               BatchTopK the k*batch largest of the whole batch.
  loss         ||x - x_hat||^2 summed over d_in, mean over the batch, + auxk_alpha (1/32) *
               AuxK: the residual (detached) reconstructed by the top min(d_in // 2, #dead)
               dead latents (no b_dec), divided by the residual's variance; a latent is dead
               after 10M tokens without firing.
  step         backward; decoder-column gradient made orthogonal to the column; global
               gradient norm clipped to 1.0; Adam (betas 0.9, 0.999, eps 1e-8); decoder
               columns renormalised to unit norm.
  lr           2e-4 / sqrt(width / 2^14) unless --sae ...,lr= is given; linear warm-up from 0
               over 1,000 steps; linear decay to 0 from 80% of the steps (the 20% decay of
               the recipe; the trainer itself decays only when given decay_start).
  threshold    (BatchTopK inference, TopK's too) EMA beta 0.999 after step 1,000 of the
               smallest positive kept activation (TopK: mean over rows of each row's minimum).

Usage (normally run by saectl):
  saectl-producer | /usr/bin/python3 bench/torch_sae_train.py --d-in 80 --batch 4096 --steps 2929 \
      --out DIR --sae name=topk,arch=topk,width=640,k=10 --sae name=b,arch=batchtopk,width=640,k=10,lr=1e-3
Writes DIR/<name>.safetensors (encoder.weight, encoder.bias, decoder.weight, b_dec, threshold)
and prints one JSON object: {"torch": ..., "threads": ..., "saes": [{name, arch, lr, seconds, ...}]}.
"""
import argparse, json, math, struct, sys, time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def parse_sae(spec):
    fields = dict(kv.split("=", 1) for kv in spec.split(","))
    for key in ("name", "arch", "width", "k"):
        if key not in fields:
            raise SystemExit(f"--sae {spec}: {key}= is required")
    if fields["arch"] not in ("topk", "batchtopk"):
        raise SystemExit(f"--sae {spec}: arch must be topk or batchtopk")
    return {
        "name": fields["name"], "arch": fields["arch"], "width": int(fields["width"]), "k": int(fields["k"]),
        "lr": float(fields["lr"]) if "lr" in fields else None,
    }


def geometric_median(points, iterations=100, tol=1e-5):
    guess = points.mean(dim=0)
    for _ in range(iterations):
        previous = guess
        w = 1 / torch.norm(points - guess, dim=1)
        w = w / w.sum()
        guess = (w[:, None] * points).sum(dim=0)
        if torch.norm(guess - previous) < tol:
            break
    return guess


class Trainer:
    """One SAE and its optimiser; `update(step, x)` is one training step."""

    def __init__(self, cfg, d_in, steps, args):
        self.cfg, self.d_in, self.steps = cfg, d_in, steps
        width, self.k, self.batch_topk = cfg["width"], cfg["k"], cfg["arch"] == "batchtopk"
        self.lr = cfg["lr"] if cfg["lr"] is not None else 2e-4 / math.sqrt(width / 2 ** 14)
        decoder = torch.nn.Linear(width, d_in, bias=False).weight.data  # [d_in, width]
        decoder = decoder / decoder.norm(dim=0, keepdim=True)
        self.W_dec = decoder.clone().requires_grad_(True)                 # decoder.weight [d_in, width]
        self.W_enc = decoder.t().clone().requires_grad_(True)             # encoder.weight [width, d_in]
        self.b_enc = torch.zeros(width, requires_grad=True)
        self.b_dec = torch.zeros(d_in, requires_grad=True)
        self.params = [self.W_enc, self.b_enc, self.W_dec, self.b_dec]
        self.opt = torch.optim.Adam(self.params, lr=self.lr, betas=(0.9, 0.999))
        warmup, decay_start = args.warmup_steps, int(steps * args.decay_start)

        def schedule(step):
            if step < warmup:
                return step / warmup
            if step >= decay_start:
                return (steps - step) / (steps - decay_start)
            return 1.0

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, schedule)
        self.since_fired = torch.zeros(width, dtype=torch.long)
        self.dead_tokens, self.k_aux, self.auxk_alpha = args.dead_tokens, d_in // 2, args.auxk_alpha
        self.threshold, self.threshold_beta, self.threshold_start = -1.0, args.threshold_beta, args.threshold_start_step
        self.seconds = 0.0
        self.last = {}

    def encode(self, x):
        post = F.relu((x - self.b_dec) @ self.W_enc.t() + self.b_enc)     # [B, width]
        if self.batch_topk:
            flat = post.flatten()
            top = flat.topk(self.k * x.shape[0], sorted=False)
            f = torch.zeros_like(flat).scatter(-1, top.indices, top.values).view_as(post)
            kept = top.values
        else:
            top = post.topk(self.k, dim=-1, sorted=False)
            f = torch.zeros_like(post).scatter(-1, top.indices, top.values)
            kept = top.values                                             # [B, k]
        return post, f, kept

    def update_threshold(self, kept):
        with torch.no_grad():
            if self.batch_topk:
                positive = kept[kept > 0]
                smallest = float(positive.min()) if positive.numel() else 0.0
            else:
                row_min = torch.where(kept > 0, kept, torch.full_like(kept, math.inf)).min(dim=1).values
                row_min = row_min[torch.isfinite(row_min)]  # rows with no positive activation have no minimum
                smallest = float(row_min.mean()) if row_min.numel() else 0.0
            self.threshold = smallest if self.threshold < 0 else self.threshold_beta * self.threshold + (1 - self.threshold_beta) * smallest

    def auxk_loss(self, residual, post):
        dead = self.since_fired >= self.dead_tokens
        n_dead = int(dead.sum())
        if n_dead == 0:
            return torch.zeros(())
        acts, idx = torch.where(dead[None], post, torch.full_like(post, -math.inf)).topk(min(self.k_aux, n_dead), sorted=False)
        codes = torch.zeros_like(post).scatter(-1, idx, acts)
        recon = codes @ self.W_dec.t()                                    # no b_dec
        l2 = (residual - recon).pow(2).sum(dim=-1).mean()
        denom = (residual - residual.mean(dim=0, keepdim=True)).pow(2).sum(dim=-1).mean()
        return (l2 / denom).nan_to_num(0.0)

    def update(self, step, x):
        start = time.perf_counter()
        if step == 0:
            with torch.no_grad():
                self.b_dec.copy_(geometric_median(x))
        post, f, kept = self.encode(x)
        if step > self.threshold_start:
            self.update_threshold(kept)
        x_hat = f @ self.W_dec.t() + self.b_dec
        e = x - x_hat
        fired = (f > 0).any(dim=0)
        self.since_fired += x.shape[0]
        self.since_fired[fired] = 0
        l2 = e.pow(2).sum(dim=-1).mean()
        aux = self.auxk_loss(e.detach(), post)
        loss = l2 + self.auxk_alpha * aux
        loss.backward()
        with torch.no_grad():
            # each decoder column stays unit-norm: drop the gradient's component along it
            g = self.W_dec.grad
            g -= self.W_dec * (g * self.W_dec).sum(dim=0, keepdim=True)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad()
        self.sched.step()
        with torch.no_grad():
            self.W_dec /= self.W_dec.norm(dim=0, keepdim=True)
        self.seconds += time.perf_counter() - start
        self.last = {"loss": float(loss), "l2": float(l2), "auxk": float(aux), "dead": int((self.since_fired >= self.dead_tokens).sum())}

    def save(self, path):
        tensors = {
            "encoder.weight": self.W_enc.detach(), "encoder.bias": self.b_enc.detach(),
            "decoder.weight": self.W_dec.detach(), "b_dec": self.b_dec.detach(),
            "threshold": torch.tensor([self.threshold], dtype=torch.float32),
        }
        write_safetensors(path, tensors)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def read_exactly(stream, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        r = stream.readinto(view[got:])
        if not r:
            raise SystemExit(f"stdin ended after {got} of {n} bytes of a batch")
        got += r
    return buf


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-in", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="folder for <name>.safetensors")
    p.add_argument("--sae", action="append", required=True, help="name=..,arch=topk|batchtopk,width=..,k=..[,lr=..]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup-steps", type=int, default=1000)
    p.add_argument("--decay-start", type=float, default=0.8, help="fraction of the steps where the linear decay starts")
    p.add_argument("--auxk-alpha", type=float, default=1 / 32)
    p.add_argument("--dead-tokens", type=int, default=10_000_000, help="tokens without firing after which a latent is dead")
    p.add_argument("--threshold-beta", type=float, default=0.999)
    p.add_argument("--threshold-start-step", type=int, default=1000)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    trainers = [Trainer(parse_sae(s), args.d_in, args.steps, args) for s in args.sae]
    n = args.batch * args.d_in
    stdin = sys.stdin.buffer
    for step in range(args.steps):
        x = torch.frombuffer(read_exactly(stdin, 4 * n), dtype=torch.float32).view(args.batch, args.d_in)
        for t in trainers:
            t.update(step, x)
            if not math.isfinite(t.last["loss"]):
                raise SystemExit(f"{t.cfg['name']}: loss is {t.last['loss']} at step {step}")
    out = []
    for t in trainers:
        t.save(f"{args.out}/{t.cfg['name']}.safetensors")
        out.append({**t.cfg, "lr": t.lr, "seconds": t.seconds, "tokens_per_s": args.steps * args.batch / max(t.seconds, 1e-9),
                    "threshold": t.threshold if math.isfinite(t.threshold) else None, **t.last})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps, "saes": out}))


if __name__ == "__main__":
    main()
