"""Chapter 4-b (bayes_nn): its Laplace pieces against torch (float64) and the quick run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from examples.bayes_nn import (fit_map, hessian_closed_form, hessian_double_backward, laplace_predictive,
                               make_two_blobs, sigmoid, with_bias)
from parity.helpers import assert_close

torch = pytest.importorskip("torch")
TOL = dict(atol=1e-9, rtol=1e-7)  # float64 policy


def test_bayes_nn_quick(tmp_path: Path) -> None:
    from examples import bayes_nn
    m = bayes_nn.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "metrics.json").read_text())["data"] == m["data"]
    assert {"logistic_blobs.png", "four_methods.png"} <= {p.name for p in tmp_path.glob("*.png")}
    assert m["hessian_max_abs_diff_closed_vs_double_backward"] < 1e-9
    for k in ("map", "laplace", "vi", "dropout"):
        assert m[f"moons_{k}_test_accuracy"] > 0.9, (k, m[f"moons_{k}_test_accuracy"])  # well above chance (0.5)
    # far from the data, last-layer Laplace is less sure than the MAP network it is built on
    assert m["moons_far_entropy_laplace"] > m["moons_far_entropy_map"]
    assert np.isfinite([v for k, v in m.items() if k.startswith("moons_far")]).all()


def torch_hessian(w: np.ndarray, Phi: np.ndarray, y: np.ndarray, alpha: float) -> "torch.Tensor":
    P, Y = torch.from_numpy(Phi), torch.from_numpy(y)

    def neg_log_posterior(v: "torch.Tensor") -> "torch.Tensor":
        return (torch.nn.functional.binary_cross_entropy_with_logits(P @ v, Y, reduction="sum")
                + 0.5 * alpha * (v * v).sum())
    return torch.autograd.functional.hessian(neg_log_posterior, torch.from_numpy(w))


def test_chapter_laplace_hessian_both_ways_match_torch() -> None:
    """The chapter's MAP, closed-form and double-backward Hessians against torch.autograd.functional.hessian."""
    X, y = make_two_blobs(60, seed=3)
    Phi, alpha = with_bias(X), 0.5
    w_map = fit_map(Phi, y, alpha, steps=600)
    grad_at_map = Phi.T @ (sigmoid(Phi @ w_map) - y) + alpha * w_map
    assert np.linalg.norm(grad_at_map) < 1e-4, grad_at_map          # it is the MAP: the gradient vanishes
    H_torch = torch_hessian(w_map, Phi, y, alpha)
    assert_close(hessian_closed_form(w_map, Phi, alpha), H_torch, what="closed-form Hessian", **TOL)
    assert_close(hessian_double_backward(w_map, Phi, y, alpha), H_torch, what="double-backward Hessian", **TOL)
    w_any = np.array([0.3, -1.2, 0.7])                                   # not only at the optimum
    assert_close(hessian_double_backward(w_any, Phi, y, alpha), torch_hessian(w_any, Phi, y, alpha),
                 what="double-backward Hessian at an arbitrary w", **TOL)


def test_probit_approximation_is_close_to_sampling() -> None:
    """MacKay's probit approximation vs 20,000 samples of N(w, H^-1): within 0.04 everywhere on a grid
    (the approximation's own error, sigmoid(a) ~ Phi(sqrt(pi/8) a), is about 0.02; sampling adds ~0.004)."""
    X, y = make_two_blobs(40, seed=4)
    Phi = with_bias(X)
    w = fit_map(Phi, y, 1.0, steps=200)
    G = with_bias(np.random.default_rng(0).uniform(-6, 6, (200, 2)))
    probit, sampled, _ = laplace_predictive(w, hessian_closed_form(w, Phi, 1.0), G, 20_000, seed=0)
    assert np.abs(probit - sampled).max() < 0.04
