"""The Laplace Hessian of Bayesian logistic regression (chapter 4-b) by double backward through minidl's
autograd, against torch.autograd.functional.hessian and the closed form, in float64.

Self-contained (DESIGN.md: nothing outside examples/ and tests/ imports ``examples``): the data, the
negative log posterior and its minimiser are written here; tests/test_bayes_nn.py checks the chapter's own
functions (``fit_map``, ``hessian_closed_form``, ``hessian_double_backward``, ``laplace_predictive``)
against the same torch reference.

    E(w) = sum_i BCE(w^T phi_i, y_i) + alpha/2 |w|^2,    H = Phi^T diag(p (1 - p)) Phi + alpha I
"""
from __future__ import annotations

import numpy as np
import torch

import minidl
from minidl.autograd import grad
from parity.helpers import assert_close

TOL = dict(atol=1e-9, rtol=1e-7)  # float64 policy


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs with a bias column: Phi (n, 3), y (n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.float64)
    X = np.where(y[:, None] == 1, [1.5, 1.0], [-1.5, -1.0]) + 0.8 * rng.standard_normal((n, 2))
    return np.c_[X, np.ones(n)], y


def torch_energy(Phi: np.ndarray, y: np.ndarray, alpha: float):  # type: ignore[no-untyped-def]
    P, Y = torch.from_numpy(Phi), torch.from_numpy(y)
    return lambda v: (torch.nn.functional.binary_cross_entropy_with_logits(P @ v, Y, reduction="sum")
                      + 0.5 * alpha * (v * v).sum())


def minidl_double_backward_hessian(w: np.ndarray, Phi: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """g = dE/dw with create_graph=True, then row k of H = d g_k / dw (minidl's autograd)."""
    wt = minidl.tensor(w, requires_grad=True)
    E = (minidl.nn.functional.binary_cross_entropy_with_logits(minidl.tensor(Phi) @ wt, minidl.tensor(y),
                                                                 reduction="sum") + 0.5 * alpha * (wt * wt).sum())
    (g,) = grad(E, wt, create_graph=True)
    return np.stack([grad(g[k], wt, retain_graph=True)[0].numpy() for k in range(len(w))])


def test_laplace_hessian_by_double_backward_matches_torch_and_the_closed_form() -> None:
    Phi, y = blobs(60, seed=3)
    alpha = 0.5
    E = torch_energy(Phi, y, alpha)
    w = torch.zeros(3, dtype=torch.float64)
    for _ in range(30):                                       # Newton's method in torch: the MAP
        g = torch.autograd.functional.jacobian(E, w)
        w = w - torch.linalg.solve(torch.autograd.functional.hessian(E, w), g)
    w_map = w.numpy()
    p = 1 / (1 + np.exp(-(Phi @ w_map)))
    assert np.linalg.norm(Phi.T @ (p - y) + alpha * w_map) < 1e-10          # it is the MAP: the gradient vanishes
    H_torch = torch.autograd.functional.hessian(E, torch.from_numpy(w_map))
    closed = (Phi * (p * (1 - p))[:, None]).T @ Phi + alpha * np.eye(3)
    assert_close(closed, H_torch, what="closed-form Hessian", **TOL)
    assert_close(minidl_double_backward_hessian(w_map, Phi, y, alpha), H_torch, what="double-backward Hessian", **TOL)
    w_any = np.array([0.3, -1.2, 0.7])                                       # not only at the optimum
    assert_close(minidl_double_backward_hessian(w_any, Phi, y, alpha),
                 torch.autograd.functional.hessian(E, torch.from_numpy(w_any)),
                 what="double-backward Hessian at an arbitrary w", **TOL)
