"""Chapter 4-a: Bayesian linear regression in closed form (``classical/bayes.py``).

    python -m examples bayes_linear            # the full chapter (a second at most)
    python -m examples bayes_linear --quick    # the same on fewer plot points

The model: y = w^T phi(x) + eps, eps ~ N(0, 1/beta), prior w ~ N(0, I/alpha). The posterior is Gaussian,

    S^-1 = alpha I + beta Phi^T Phi,      m = beta S Phi^T y,

and the predictive distribution at x is N(m^T phi(x), 1/beta + phi(x)^T S phi(x)): noise plus the
uncertainty on w. The course's settings: noise std sigma = 0.2, alpha = 2, beta = 1/(2 sigma^2) = 12.5
(the course's convention), so the noise floor 1/beta is 0.08.

Three bases (linear [1, x]; polynomial of degree 9; M = 9 Gaussians of width s = 1/9 on the data's
interval, scaled with it) meet three generated data sets (linear y = -0.3 + 0.5x on U(-1, 1); the
"hole": the same line seen only on [-1, -0.5] and [0.5, 1]; the sinusoid y = sin(2 pi x) + x on U(0, 1)).

What to look at:
- ``posterior_samples.png``: with N = 0 points the lines drawn from the prior go everywhere; each new
  point narrows the posterior over (w0, w1) around the true (-0.3, 0.5).
- ``predictive.png``: the +-2 std band is narrow where there is data and widens away from it; in the
  hole the Gaussian basis's band opens up between the clusters; far outside the data the Gaussian basis's
  variance falls back to exactly 1/beta (phi(x) -> 0 there: the model "forgets" it is uncertain about w),
  while the polynomial's explodes.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from classical.bayes import (ALPHA, BETA, SIGMA, BayesianLinearRegression, gaussian_basis, linear_basis,
                             make_hole, make_linear, make_sinusoid, polynomial_basis)
from examples._runner import Run, make_parser

DATASETS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], tuple[float, float]]] = {
    "linear": (make_linear, (-1.0, 1.0)),
    "hole": (make_hole, (-1.0, 1.0)),
    "sinusoid": (make_sinusoid, (0.0, 1.0)),
}


def bases(low: float, high: float) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The three bases; the Gaussian centres span the data's interval, width s = (high - low)/9 (1/9 on [0, 1])."""
    return {"linear": linear_basis,
            "polynomial": lambda x: polynomial_basis(x, 9),
            "gaussian": lambda x: gaussian_basis(x, M=9, s=(high - low) / 9, low=low, high=high)}


# --------------------------------------------------------------------------- figures
def plot_posterior_samples(run: Run, x: np.ndarray, y: np.ndarray, seed: int, grid: int) -> None:
    """Weight-space posterior density and 20 sampled lines after N = 0, 1, 2, 10, 25 points."""
    import matplotlib.pyplot as plt
    steps = [0, 1, 2, 10, 25]
    fig, axes = plt.subplots(2, len(steps), figsize=(3.2 * len(steps), 6.2))
    w0, w1 = np.meshgrid(np.linspace(-1, 1, grid), np.linspace(-1, 1, grid))
    W = np.stack([w0.ravel(), w1.ravel()], 1)
    xs = np.linspace(-1, 1, 50)
    for col, n in enumerate(steps):
        model = BayesianLinearRegression(ALPHA, BETA, linear_basis).fit(x[:n], y[:n])
        diff = W - model.coef_
        prec = model.chol_ @ model.chol_.T
        density = np.exp(-0.5 * np.einsum("nd,de,ne->n", diff, prec, diff)).reshape(w0.shape)
        ax = axes[0, col]
        ax.contourf(w0, w1, density, levels=12, cmap="viridis")
        ax.plot(-0.3, 0.5, "r+", ms=12, mew=2)
        ax.set_title(f"N = {n}: p(w | data)")
        ax.set_xlabel("w0")
        ax.set_ylabel("w1")
        ax = axes[1, col]
        for f in model.sample_functions(xs, 20, rng=seed + n):
            ax.plot(xs, f, color="C0", alpha=0.4, lw=0.8)
        ax.plot(x[:n], y[:n], "ko", ms=4)
        ax.plot(xs, -0.3 + 0.5 * xs, "r--", lw=1)
        ax.set_ylim(-2, 2)
        ax.set_title(f"20 lines drawn from it")
    fig.tight_layout()
    run.savefig(fig, "posterior_samples", caption="Top: the posterior over (w0, w1) after N points (red cross: the "
                "true weights). Bottom: lines drawn from it. With no data they are the prior; each point narrows "
                "them around the truth (red dashed).")


def plot_predictive(run: Run, results: dict[tuple[str, str], dict[str, np.ndarray]]) -> None:
    import matplotlib.pyplot as plt
    names_b = ["linear", "polynomial", "gaussian"]
    names_d = list(DATASETS)
    fig, axes = plt.subplots(len(names_b), len(names_d), figsize=(14, 10))
    for i, b in enumerate(names_b):
        for j, d in enumerate(names_d):
            r, ax = results[(b, d)], axes[i, j]
            ax.fill_between(r["xs"], r["mean"] - 2 * r["std"], r["mean"] + 2 * r["std"], color="C0", alpha=0.25,
                            label="+-2 std")
            ax.plot(r["xs"], r["mean"], "C0", label="mean")
            ax.plot(r["x"], r["y"], "ko", ms=3)
            ax.set_ylim(-3, 3)
            ax.set_title(f"{b} basis, {d} data", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    run.savefig(fig, "predictive", caption="Predictive mean and +-2 std for each basis (rows) and data set "
                "(columns), plotted beyond the data. The band widens away from the data and in the hole; far out, "
                "the Gaussian basis returns to the noise level 1/beta = 0.08 while the polynomial explodes.")


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("bayes_linear", "Chapter 4-a: closed-form Bayesian linear regression")
    p.add_argument("--n", type=int, default=25, help="points per data set (default 25)")
    args = p.parse_args(argv)
    run = Run("bayes_linear", args)
    grid = 60 if args.quick else 150
    run.note(f"data: generated, {args.n} points per set (seed {args.seed}), noise std sigma = {SIGMA}; "
             f"alpha = {ALPHA}, beta = 1/(2 sigma^2) = {BETA:g} (the course's convention), so 1/beta = {1 / BETA:.2f}")

    x_lin, y_lin = make_linear(max(args.n, 25), seed=args.seed)
    plot_posterior_samples(run, x_lin, y_lin, args.seed, grid)

    results: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for d, (make, (low, high)) in DATASETS.items():
        x, y = make(args.n, seed=args.seed)
        x_test, y_test = make(200, seed=args.seed + 1000)
        width = high - low
        xs = np.linspace(low - 0.5 * width, high + 0.5 * width, grid * 2)
        for b, basis in bases(low, high).items():
            model = BayesianLinearRegression(ALPHA, BETA, basis).fit(x, y)
            mean, std = model.predict(xs, return_std=True)
            m_test, s_test = model.predict(x_test, return_std=True)
            results[(b, d)] = dict(xs=xs, mean=mean, std=std, x=x, y=y)
            run.metrics[f"test_rmse_{b}_{d}"] = float(np.sqrt(np.mean((m_test - y_test) ** 2)))
            # fraction of fresh points inside the +-2 std band (about 0.95 if the model is calibrated)
            run.metrics[f"coverage_2std_{b}_{d}"] = float(np.mean(np.abs(y_test - m_test) <= 2 * s_test))
        if d == "sinusoid":
            far = BayesianLinearRegression(ALPHA, BETA, bases(low, high)["gaussian"]).fit(x, y)
            far_x = np.array([high + 10 * width])
            run.metrics["far_field_variance"] = float(far.predictive_variance(far_x)[0])
            run.metrics["far_field_x"] = float(far_x[0])
            run.metrics["in_data_variance"] = float(far.predictive_variance(np.array([(low + high) / 2]))[0])
    plot_predictive(run, results)

    run.metrics.update(data=f"generated linear / hole / sinusoid sets, {args.n} points each, noise std {SIGMA}",
                       alpha=ALPHA, beta=BETA, one_over_beta=1 / BETA, sigma=SIGMA, n_points=args.n)
    run.note(f"far from the data (x = {run.metrics['far_field_x']:.0f}) the Gaussian basis's predictive variance is "
             f"{run.metrics['far_field_variance']:.4f} = 1/beta = {1 / BETA:.4f}; at the centre of the data it is "
             f"{run.metrics['in_data_variance']:.4f}")
    run.note(f"sinusoid test RMSE: linear {run.metrics['test_rmse_linear_sinusoid']:.3f}, polynomial "
             f"{run.metrics['test_rmse_polynomial_sinusoid']:.3f}, "
             f"Gaussian {run.metrics['test_rmse_gaussian_sinusoid']:.3f}"
             f" (the noise std is {SIGMA})")
    return run.finish("far_field_variance")


if __name__ == "__main__":
    main()
