"""Second-derivative parity: the registry and the harness (``parity/test_higher_order.py`` has the cases).

Any parity file can check an op's second derivatives against torch in two lines:

    declare_second_order("Sin", "Cos")            # at import: this file tests their double backward
    def test_sin_cos_hessian(): hvp_parity(lambda L, x: (x.sin() * x.cos()).sum(), [a], "sin/cos", ("Sin", "Cos"))

``hvp_parity`` runs ``fn(lib, *tensors) -> scalar`` (written once: minidl mirrors torch's API) on both
libraries in float64, computes g = grad(loss, inputs, create_graph=True) and two Hessian-vector
products H v = grad(g . v, inputs), and compares loss, g and H v at the house tolerance (rtol 1e-7,
atol 1e-9). ``test_hessian_coverage`` requires every op in ``minidl.autograd.OPS`` to be declared here
or listed in ``NOT_TWICE_DIFFERENTIABLE`` with the reason.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

import minidl
from minidl.autograd import record_ops
from parity.coverage import assert_ran
from parity.helpers import assert_close

RTOL, ATOL = 1e-7, 1e-9   # float64: the house tolerance

NOT_TWICE_DIFFERENTIABLE: dict[str, str] = {
    # "OpName": "why its backward cannot (or need not) be differentiated",
}
"""Ops without a second-derivative test, each with its reason."""

SECOND_ORDER: set[str] = set()
"""Ops whose second derivatives some parity test checks."""


def declare_second_order(*ops: str) -> None:
    SECOND_ORDER.update(ops)


def hvp_parity(fn: Callable[..., Any], arrays: Sequence[np.ndarray], what: str, ops: Sequence[str] = (),
               n_dirs: int = 2, seed: int = 0) -> None:
    """Compare loss, g and H v (``n_dirs`` random v) of ``fn`` between torch and minidl; ``ops`` must run."""
    rng = np.random.default_rng(seed)
    dirs = [[rng.standard_normal(a.shape) for a in arrays] for _ in range(n_dirs)]
    results = []
    with record_ops() as seen:
        for lib in (torch, minidl):
            xs = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
            loss = fn(lib, *xs)
            gs = lib.autograd.grad(loss, xs, create_graph=True)
            hvs = []
            for k, v in enumerate(dirs):
                gv = sum((g * lib.tensor(vi)).sum() for g, vi in zip(gs, v))
                hvs.append(lib.autograd.grad(gv, xs, retain_graph=k < n_dirs - 1, allow_unused=True))
            results.append((loss, gs, hvs))
    assert_ran(ops, seen, what)
    (tl, tg, th), (ml, mg, mh) = results
    assert_close(ml, tl, atol=ATOL, rtol=RTOL, what=f"{what}: loss")
    for i, (a, b) in enumerate(zip(mg, tg)):
        assert a.requires_grad == b.requires_grad, f"{what}: is d/dx{i} recorded?"
        assert_close(a, b, atol=ATOL, rtol=RTOL, what=f"{what}: d/dx{i}")
    for k, (ms, ts) in enumerate(zip(mh, th)):
        for i, (a, b) in enumerate(zip(ms, ts)):
            a = np.zeros(arrays[i].shape) if a is None else a  # unused: None in either library
            b = np.zeros(arrays[i].shape) if b is None else b
            assert_close(a, b, atol=ATOL, rtol=RTOL, what=f"{what}: (H v{k}) for x{i}")
