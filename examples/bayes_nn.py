"""Chapter 4-b: Bayesian neural networks: MAP, Laplace, variational inference and MC dropout.

    python -m examples bayes_nn                   # blobs + moons, the full training budget
    python -m examples bayes_nn --quick           # short training (a few seconds)
    python -m examples bayes_nn --backend torch   # the moons networks on torch (the logistic part is minidl's)
    torchrun --standalone --nproc_per_node 2 -m examples bayes_nn --backend torch --distributed

Part 1, Bayesian logistic regression on two blobs, w = (w1, w2, b), prior w ~ N(0, I/alpha):
- MAP: minimise E(w) = sum_i BCE(w^T phi_i, y_i) + alpha/2 |w|^2: weight decay alpha on a summed loss.
- Laplace: q(w) = N(w_MAP, H^-1) with H = grad^2 E(w_MAP). In closed form, with p_i = sigmoid(w^T phi_i),
  H = sum_i p_i (1 - p_i) phi_i phi_i^T + alpha I. The course's way: differentiate the gradient,
  row k of H = grad(dE/dw_k, w), with minidl.autograd.grad(..., create_graph=True). Both agree (and
  agree with torch.autograd.functional.hessian: see parity/test_bayes_nn.py).
- Predictive p(y=1|x) = E_q[sigmoid(w^T phi)]: sampled (100 draws), or the probit approximation
  sigmoid(mu / sqrt(1 + pi s^2 / 8)), mu = w_MAP^T phi, s^2 = phi^T H^-1 phi.
- Variational inference: mean-field q(w) = N(mu, softplus(rho)^2) (minidl.nn.LinearVariational), one
  reparameterised sample per step, -ELBO = sum BCE + KL(q || prior), the KL in closed form.

Part 2, two moons (n = 1000, noise 0.05), networks 2-50-1 (ReLU), prior N(0, 1):
- MAP MLP (weight decay 1/N on a mean loss: the same prior) and a last-layer Laplace on it (Bayesian
  logistic regression on the frozen hidden features, the closed form of part 1);
- variational MLP: LinearVariational layers, -ELBO per example = mean BCE + KL / N, predictive from 100 samples;
- MC dropout: dropout p = 0.2 after each hidden layer, kept active at test time, 100 passes.

What to look at: ``four_methods.png``. MAP is sure of itself everywhere except on the boundary; the
Bayesian methods grow uncertain (high entropy) away from the data, each in its own way.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

import minidl
from examples._distributed import Distributed
from examples._runner import Run, UserError, make_parser
from minidl.autograd import grad
from minidl.data.toy import make_moons
from minidl.interop import Backend, backend

PRIOR_SIGMA = 1.0  # moons networks: prior N(0, 1) on every weight


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))  # = 1 / (1 + e^-z), without overflow


def bernoulli_entropy(p: np.ndarray) -> np.ndarray:
    """H[p] = -p log p - (1 - p) log(1 - p), in nats (log 2 = 0.693 at p = 1/2)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def make_two_blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs (std 0.8) around (-1.5, -1) and (1.5, 1), n/2 points each."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.where(y[:, None] == 1, [1.5, 1.0], [-1.5, -1.0]) + 0.8 * rng.standard_normal((n, 2))
    return X, y.astype(np.float64)


def with_bias(X: np.ndarray) -> np.ndarray:
    return np.concatenate([X, np.ones((len(X), 1))], 1)


# --------------------------------------------------------------------------- part 1: Bayesian logistic regression
def neg_log_posterior(w: minidl.Tensor, Phi: minidl.Tensor, y: minidl.Tensor, alpha: float) -> minidl.Tensor:
    """E(w) = sum_i BCE(w^T phi_i, y_i) + alpha/2 |w|^2."""
    nll = minidl.nn.functional.binary_cross_entropy_with_logits(Phi @ w, y, reduction="sum")
    return nll + 0.5 * alpha * (w * w).sum()


def fit_map(Phi: np.ndarray, y: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """Gradient descent with weight decay alpha on the summed BCE (the MAP under the N(0, I/alpha) prior)."""
    w = minidl.zeros(Phi.shape[1], dtype=minidl.float64, requires_grad=True)
    opt = minidl.optim.SGD([w], lr=1.0 / len(Phi), momentum=0.9, weight_decay=alpha)
    P, Y = minidl.tensor(Phi), minidl.tensor(y)
    for _ in tqdm(range(steps), desc="MAP", leave=False):
        loss = minidl.nn.functional.binary_cross_entropy_with_logits(P @ w, Y, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy().copy()


def hessian_closed_form(w: np.ndarray, Phi: np.ndarray, alpha: float) -> np.ndarray:
    """H = Phi^T diag(p (1 - p)) Phi + alpha I."""
    p = sigmoid(Phi @ w)
    return (Phi * (p * (1 - p))[:, None]).T @ Phi + alpha * np.eye(len(w))


def hessian_double_backward(w: np.ndarray, Phi: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """The course's way: g = dE/dw with create_graph=True, then row k of H = d g_k / dw."""
    wt = minidl.tensor(w, requires_grad=True)
    E = neg_log_posterior(wt, minidl.tensor(Phi), minidl.tensor(y), alpha)
    (g,) = grad(E, wt, create_graph=True)
    return np.stack([grad(g[k], wt, retain_graph=True)[0].numpy() for k in range(len(w))])


def laplace_predictive(w: np.ndarray, H: np.ndarray, Phi: np.ndarray, n_samples: int, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probit p, sampled p, std of the sampled p) under q(w) = N(w, H^-1), via the Cholesky factor of H."""
    L = np.linalg.cholesky(H)
    mu = Phi @ w
    s2 = np.sum(np.linalg.solve(L, Phi.T) ** 2, axis=0)                       # phi^T H^-1 phi
    probit = sigmoid(mu / np.sqrt(1 + np.pi * s2 / 8))
    z = np.random.default_rng(seed).standard_normal((len(w), n_samples))
    W = w[:, None] + np.linalg.solve(L.T, z)                                  # N(w, H^-1) draws
    ps = sigmoid(Phi @ W)
    return probit, ps.mean(1), ps.std(1)


def fit_vi_logistic(X: np.ndarray, y: np.ndarray, alpha: float, steps: int) -> minidl.nn.LinearVariational:
    """Mean-field VI: -ELBO = sum BCE (one reparameterised sample) + KL(q || N(0, I/alpha))."""
    layer = minidl.nn.LinearVariational(2, 1, prior_sigma=alpha ** -0.5, rho_init=-3.0, dtype=np.float64)
    opt = minidl.optim.Adam(layer.parameters(), lr=0.05)
    Xt, Yt = minidl.tensor(X), minidl.tensor(y)
    for _ in tqdm(range(steps), desc="VI (logistic)", leave=False):
        nll = minidl.nn.functional.binary_cross_entropy_with_logits(layer(Xt).reshape(-1), Yt, reduction="sum")
        loss = nll + layer.kl_divergence()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return layer


# --------------------------------------------------------------------------- part 2: networks on the moons
def variational_linear(B: Backend, n_in: int, n_out: int) -> Any:
    """minidl.nn.LinearVariational, or the same layer written with torch ops for --backend torch."""
    if B.name == "minidl":
        return B.nn.LinearVariational(n_in, n_out, prior_sigma=PRIOR_SIGMA, rho_init=-3.0)
    import torch
    from torch.nn.functional import softplus

    class TorchLinearVariational(torch.nn.Module):
        """minidl.nn.LinearVariational's math in torch (torch has no such layer)."""

        def __init__(self) -> None:
            super().__init__()
            lin = torch.nn.Linear(n_in, n_out)
            self.weight_mu, self.bias_mu = lin.weight, lin.bias
            self.weight_rho = torch.nn.Parameter(torch.full((n_out, n_in), -3.0))
            self.bias_rho = torch.nn.Parameter(torch.full((n_out,), -3.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            sw, sb = softplus(self.weight_rho), softplus(self.bias_rho)
            w = self.weight_mu + sw * torch.randn_like(sw)
            return x @ w.T + self.bias_mu + sb * torch.randn_like(sb)

        def kl_divergence(self) -> torch.Tensor:
            total = 0
            for mu, rho in ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)):
                s = softplus(rho)
                kl = np.log(PRIOR_SIGMA) - s.log() + (s ** 2 + mu ** 2) / (2 * PRIOR_SIGMA ** 2) - 0.5
                total = total + kl.sum()
            return total

    return TorchLinearVariational()


def build(B: Backend, kind: str) -> Any:
    nn = B.nn
    if kind == "vi":
        model = nn.Sequential(variational_linear(B, 2, 50), nn.ReLU(), variational_linear(B, 50, 1))
    elif kind == "dropout":
        model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Dropout(0.2), nn.Linear(50, 50), nn.ReLU(),
                              nn.Dropout(0.2), nn.Linear(50, 1))
    else:
        model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 1))
    return B.model_to(model)


def kl_term(model: Any) -> Any:
    return sum(m.kl_divergence() for m in model.modules() if hasattr(m, "kl_divergence"))


def train_net(B: Backend, kind: str, X: np.ndarray, y: np.ndarray, epochs: int, batch: int, seed: int,
              dist: Distributed | None = None) -> Any:
    """Adam; MAP: weight decay 1/(sigma_p^2 N) on a mean loss; VI: mean BCE + KL / N; dropout: plain.

    Under ``--distributed`` (``dist``) the model is a DDP replica and each rank takes its share of every
    global batch of ``batch`` samples; its summed BCE times ``dist.loss_scale`` averages (over the ranks)
    to the one-process mean BCE. The KL is added whole on every rank, still divided by the FULL data size
    N = len(X) (not the rank's share): the ranks' weights are the same, so the average of their KL / N is
    the one-process KL / N. The weight noise of the VI layers is drawn from the same seed on every rank:
    one weight sample per step for the whole global batch, as in one process. Dropout masks are drawn per
    sample, so each rank's generator is re-seeded with its rank (independent masks, not the one-process ones).
    Returns the plain (unwrapped) module."""
    local = (lambda idx: idx) if dist is None else dist.local
    B.manual_seed(seed)
    model = build(B, kind)
    if dist is not None and dist.enabled:
        model = dist.wrap(model)
        if kind == "dropout":
            B.manual_seed(seed + 1000 * dist.rank)
    wd = 1.0 / (PRIOR_SIGMA ** 2 * len(X)) if kind == "map" else 0.0
    opt = B.optim.Adam(model.parameters(), lr=1e-2, weight_decay=wd)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in tqdm(range(epochs), desc=f"{kind} MLP", leave=False, disable=dist is not None and not dist.is_main):
        order = rng.permutation(len(X)) if dist is None else dist.epoch_order(rng.permutation(len(X)), batch)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            scale = 1.0 / len(idx) if dist is None else dist.loss_scale(len(idx))
            mine = local(idx)
            logits = model(B.tensor(X[mine])).reshape(-1)
            loss = B.F.binary_cross_entropy_with_logits(logits, B.tensor(y[mine]), reduction="sum") * scale
            if kind == "vi":
                loss = loss + kl_term(model) / len(X)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model if dist is None else dist.unwrap(model)


def mc_probs(B: Backend, model: Any, X: np.ndarray, T: int) -> np.ndarray:
    """(T, N) probabilities from T stochastic passes (weights sampled, or dropout left on: train mode)."""
    model.train()
    with B.no_grad():
        x = B.tensor(X)
        return np.stack([sigmoid(B.to_numpy(model(x)).reshape(-1)) for _ in range(T)])


def hidden_features(B: Backend, model: Any, X: np.ndarray) -> np.ndarray:
    """The MAP network's hidden layer (after ReLU), with a constant 1 for the last layer's bias."""
    with B.no_grad():
        h = model[1](model[0](B.tensor(X)))
    return with_bias(B.to_numpy(h).astype(np.float64))


# --------------------------------------------------------------------------- figures
def plot_maps(run: Run, stem: str, caption: str, maps: dict[str, tuple[np.ndarray, np.ndarray]],
              xx: np.ndarray, yy: np.ndarray, X: np.ndarray, y: np.ndarray) -> None:
    """One column per method: predictive probability (top) and predictive entropy (bottom)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(maps), figsize=(3.8 * len(maps), 7), squeeze=False)
    for j, (name, (p, h)) in enumerate(maps.items()):
        for i, (z, cmap, vmax, what) in enumerate(((p, "RdBu_r", 1.0, "p(y=1|x)"), (h, "magma", np.log(2), "entropy"))):
            ax = axes[i, j]
            im = ax.contourf(xx, yy, z.reshape(xx.shape), levels=np.linspace(0, vmax, 11), cmap=cmap)
            ax.scatter(X[:, 0], X[:, 1], c=y, s=4, cmap="coolwarm", edgecolors="none", alpha=0.6)
            ax.set_title(f"{name}: {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == len(maps) - 1:
                fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    run.savefig(fig, stem, caption=caption)


def grid_over(X: np.ndarray, margin: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo, hi = X.min(0) - margin, X.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], 1)


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("bayes_nn", "Chapter 4-b: MAP, Laplace, variational inference and MC dropout")
    p.add_argument("--alpha", type=float, default=1.0, help="prior precision of the logistic regression (default 1)")
    p.add_argument("--samples", type=int, default=100, help="predictive samples / MC passes (default 100)")
    args = p.parse_args(argv)
    B = backend(args.backend, args.device)
    dist = Distributed(B, args)                                # torchrun --distributed: joins the process group
    if dist.enabled and dist.scale_lr:
        raise UserError("--scale-lr does not apply: the moons networks keep the one-process batch of 100 and lr")
    batch = 100
    run = Run("bayes_nn", args, write=dist.is_main)           # only rank 0 writes the run directory
    steps, epochs, res = (300, 25, 50) if args.quick else (1000, 300, 120)
    m = run.metrics
    if dist.enabled:
        run.note(f"{dist.world} processes (DDP) train the three moons networks on shares of each batch of 100 "
                 "(the ELBO's KL over the full N); rank 0 alone fits the logistic part, the last-layer Laplace, "
                 "the predictives and the figures")
    if not dist.is_main:                                       # the other ranks only help to train part 2
        Xm, ym = make_moons(1000, noise=0.05, seed=args.seed)
        for kind in ("map", "vi", "dropout"):
            train_net(B, kind, Xm.astype(np.float32), ym.astype(np.float32), epochs, batch, args.seed, dist)
        m.update(data="generated two moons (rank > 0: training shares only)")
        dist.close()
        return run.finish("data")

    # ---- part 1: Bayesian logistic regression on two blobs (minidl: the Laplace Hessian uses its autograd)
    Xb, yb = make_two_blobs(100, args.seed)
    Phi, alpha = with_bias(Xb), args.alpha
    w_map = fit_map(Phi, yb, alpha, steps)
    H = hessian_closed_form(w_map, Phi, alpha)
    H2 = hessian_double_backward(w_map, Phi, yb, alpha)
    g_map = Phi.T @ (sigmoid(Phi @ w_map) - yb) + alpha * w_map
    m.update(map_gradient_norm=float(np.linalg.norm(g_map)),
             hessian_max_abs_diff_closed_vs_double_backward=float(np.abs(H - H2).max()))
    try:
        import torch
        Pt, yt = torch.from_numpy(Phi), torch.from_numpy(yb)
        Ht = torch.autograd.functional.hessian(lambda w: torch.nn.functional.binary_cross_entropy_with_logits(
            Pt @ w, yt, reduction="sum") + 0.5 * alpha * (w * w).sum(), torch.from_numpy(w_map)).numpy()
        m.update(hessian_max_abs_diff_closed_vs_torch=float(np.abs(H - Ht).max()),
                 hessian_max_abs_diff_double_backward_vs_torch=float(np.abs(H2 - Ht).max()))
    except ImportError:
        pass
    xx, yy, G = grid_over(Xb, 3.0, res)
    Gphi = with_bias(G)
    p_map = sigmoid(Gphi @ w_map)
    p_probit, p_sampled, _ = laplace_predictive(w_map, H, Gphi, args.samples, args.seed)
    vi = fit_vi_logistic(Xb, yb, alpha, steps)
    with minidl.no_grad():
        Gt = minidl.tensor(G)
        p_vi = np.mean([sigmoid(vi(Gt).numpy().reshape(-1)) for _ in range(args.samples)], 0)
    m.update(laplace_probit_vs_sampled_max_abs_diff=float(np.abs(p_probit - p_sampled).max()),
             logistic_map_train_accuracy=float(np.mean((Phi @ w_map > 0) == yb)))
    plot_maps(run, "logistic_blobs", "Bayesian logistic regression on two blobs. MAP's entropy is a straight band "
              "along the boundary; Laplace and VI widen it away from the data (the boundary's angle is uncertain "
              "there). Laplace: probit approximation (sampled version agrees, see metrics).",
              {"MAP": (p_map, bernoulli_entropy(p_map)), "Laplace (probit)": (p_probit, bernoulli_entropy(p_probit)),
               "VI": (p_vi, bernoulli_entropy(p_vi))}, xx, yy, Xb, yb)

    # ---- part 2: networks on the two moons
    Xm, ym = make_moons(1000, noise=0.05, seed=args.seed)
    Xm_test, ym_test = make_moons(500, noise=0.05, seed=args.seed + 1)
    Xm, Xm_test = Xm.astype(np.float32), Xm_test.astype(np.float32)
    ymf = ym.astype(np.float32)
    run.note(f"data: generated two blobs (100 points) and two moons (1000 train / 500 test, noise 0.05); "
             f"backend {B.name} for the moons networks")
    xx, yy, G = grid_over(Xm, 1.5, res)
    G32 = G.astype(np.float32)
    maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind, label in (("map", "MAP"), ("vi", "VI"), ("dropout", "MC dropout")):
        net = train_net(B, kind, Xm, ymf, epochs, batch, args.seed, dist)
        if kind == "map":
            net.eval()
            with B.no_grad():
                p_grid = sigmoid(B.to_numpy(net(B.tensor(G32))).reshape(-1))
                p_test = sigmoid(B.to_numpy(net(B.tensor(Xm_test))).reshape(-1))
            maps[label] = (p_grid, bernoulli_entropy(p_grid))
            # last-layer Laplace: logistic regression on the frozen hidden features, prior N(0, sigma_p^2)
            Hf = hidden_features(B, net, Xm)
            last = np.r_[B.to_numpy(net[2].weight).ravel(), B.to_numpy(net[2].bias)].astype(np.float64)
            H_last = hessian_closed_form(last, Hf, 1 / PRIOR_SIGMA ** 2)
            pl_grid, _, _ = laplace_predictive(last, H_last, hidden_features(B, net, G32), args.samples, args.seed)
            pl_test, _, _ = laplace_predictive(last, H_last, hidden_features(B, net, Xm_test), args.samples, args.seed)
            maps["Laplace (last layer)"] = (pl_grid, bernoulli_entropy(pl_grid))
            m["moons_laplace_test_accuracy"] = float(np.mean((pl_test > 0.5) == ym_test))
        else:
            p_grid = mc_probs(B, net, G32, args.samples).mean(0)
            p_test = mc_probs(B, net, Xm_test, args.samples).mean(0)
            maps[label] = (p_grid, bernoulli_entropy(p_grid))
        m[f"moons_{kind}_test_accuracy"] = float(np.mean((p_test > 0.5) == ym_test))
    far = np.hypot(G[:, 0] - 0.5, G[:, 1] - 0.25) > 2.0                      # grid points far from the moons
    for name, (_, h) in maps.items():
        key = name.split(" (")[0].lower().replace(" ", "_")
        m[f"moons_far_entropy_{key}"] = float(h[far].mean())
    plot_maps(run, "four_methods", "The four methods side by side on the moons (2-50-1 ReLU networks; MC dropout "
              "2-50-50-1). Top: p(y=1|x); bottom: predictive entropy (nats, log 2 = 0.69 is 'no idea'). MAP "
              "is confident everywhere off the boundary; Laplace, VI and MC dropout become uncertain away from "
              "the data to different degrees.", maps, xx, yy, Xm, ym)

    m.update(data="generated: two blobs (100 points, std 0.8) and two moons (1000 train / 500 test, noise 0.05)",
             backend=B.name, alpha=alpha, prior_sigma=PRIOR_SIGMA, samples=args.samples, epochs=epochs,
             test_accuracy=m["moons_vi_test_accuracy"], world_size=dist.world)
    run.note(f"Laplace Hessian: closed form vs double backward max |diff| "
             f"{m['hessian_max_abs_diff_closed_vs_double_backward']:.2e}; moons test accuracy MAP "
             f"{m['moons_map_test_accuracy']:.3f}, VI {m['moons_vi_test_accuracy']:.3f}, MC dropout "
             f"{m['moons_dropout_test_accuracy']:.3f}; mean entropy far from the data: "
             + ", ".join(f"{k.split('entropy_')[1]} {v:.3f}" for k, v in m.items()
                         if k.startswith("moons_far_entropy")))
    metrics = run.finish("test_accuracy")
    dist.close()                                               # the other ranks wait here for rank 0
    return metrics


if __name__ == "__main__":
    main()
