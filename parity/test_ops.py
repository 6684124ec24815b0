"""Every op of the registry against torch: forward, gradient (random upstream gradient), and in float64
a finite-difference gradcheck. Tolerances: float64 rtol 1e-7 / atol 1e-9 (DESIGN.md policy); float32
as stated in ``F32`` below."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from parity.coverage import declare
from parity.helpers import parity_op


def lib(x: Any) -> Any:
    """The library a tensor belongs to, so one lambda serves both: ``lib(a).cat([a, b])``."""
    return torch if isinstance(x, torch.Tensor) else minidl


@dataclass
class Case:
    op: str                      # the registered op this case covers
    fn: Callable[..., Any]       # written once, runs on torch and minidl tensors
    inputs: list[Any]            # shapes, or arrays
    low: float = -2.0
    high: float = 2.0
    gradcheck: bool = True       # False where a case sits on a kink on purpose (ties)
    id: str = ""
    kw: dict[str, Any] = field(default_factory=dict)


TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.0, 0.0, -1.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
IDX = np.array([0, 2, 2, 1, 0])           # repeated indices: their gradients must accumulate
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])

CASES = [
    Case("Add", lambda a, b: a + b, [(3, 4), (4,)], id="broadcast"),
    Case("Add", lambda a, b: a + b, [(2, 1, 4), (3, 1)], id="broadcast-both"),
    Case("Add", lambda a: 2.5 + a, [(3, 4)], id="reflected-scalar"),
    Case("Add", lambda a: a.add(a, alpha=2.0), [(5,)], id="alpha"),
    Case("Sub", lambda a, b: a - b, [(3, 4), (3, 1)]),
    Case("Sub", lambda a: 1.5 - a, [(3, 4)], id="reflected"),
    Case("Mul", lambda a, b: a * b, [(2, 1, 4), (3, 1)]),
    Case("Mul", lambda a: a * 3.0, [(4,)], id="scalar"),
    Case("Div", lambda a, b: a / b, [(3, 4), (4,)], low=0.5, high=2.0),
    Case("Div", lambda a: 2.0 / a, [(3, 4)], low=0.5, high=2.0, id="reflected"),
    Case("Neg", lambda a: -a, [(3, 4)]),
    Case("PowScalar", lambda a: a ** 3, [(3, 4)], id="cube"),
    Case("PowScalar", lambda a: a ** 2.5, [(3, 4)], low=0.1, id="fractional"),
    Case("PowScalar", lambda a: a ** 0, [(3,)], id="zero"),
    Case("PowScalar", lambda a: a ** -1.5, [(3, 2)], low=0.5, id="negative"),
    Case("Pow", lambda a, b: a ** b, [(3, 4), (4,)], low=0.2, high=2.0),
    Case("Pow", lambda a: 2.0 ** a, [(3, 4)], id="reflected"),
    Case("Matmul", lambda a, b: a @ b, [(3, 4), (4, 5)], id="2d"),
    Case("Matmul", lambda a, b: a @ b, [(4,), (4, 5)], id="1d-2d"),
    Case("Matmul", lambda a, b: a @ b, [(3, 4), (4,)], id="2d-1d"),
    Case("Matmul", lambda a, b: a @ b, [(4,), (4,)], id="1d-1d"),
    Case("Matmul", lambda a, b: a @ b, [(2, 3, 4), (4, 5)], id="batched"),
    Case("Matmul", lambda a, b: lib(a).matmul(a, b), [(2, 1, 3, 4), (5, 4, 2)], id="broadcast-batch"),
    Case("Matmul", lambda a, b: a @ b, [(4,), (2, 4, 3)], id="1d-batched"),
    Case("Exp", lambda a: a.exp(), [(3, 4)]),
    Case("Log", lambda a: a.log(), [(3, 4)], low=0.1),
    Case("Log1p", lambda a: lib(a).log1p(a) if lib(a) is torch else a.log1p(), [(3, 4)], low=-0.5),
    Case("Sqrt", lambda a: a.sqrt(), [(3, 4)], low=0.1),
    Case("Abs", lambda a: a.abs(), [(3, 4)]),
    Case("Abs", lambda a: abs(a), [np.array([-1.0, 0.0, 2.0])], gradcheck=False, id="at-zero"),
    Case("Clamp", lambda a: a.clamp(-0.5, 0.7), [(4, 5)]),
    Case("Clamp", lambda a: a.clamp(min=0.1), [(4, 5)], id="min-only"),
    Case("Clamp", lambda a: a.clamp(max=0.1), [(4, 5)], id="max-only"),
    Case("Clamp", lambda a: a.clamp(-1.0, 1.0), [np.array([-1.0, 1.0, 0.0, 3.0])], gradcheck=False, id="at-bounds"),
    Case("Maximum", lambda a, b: lib(a).maximum(a, b), [(3, 4), (4,)]),
    Case("Maximum", lambda a, b: lib(a).maximum(a, b), [TIES, TIES[::-1].copy()], gradcheck=False, id="ties"),
    Case("Minimum", lambda a, b: lib(a).minimum(a, b), [(3, 4), (3, 1)]),
    Case("Minimum", lambda a, b: lib(a).minimum(a, b), [TIES, TIES[::-1].copy()], gradcheck=False, id="ties"),
    Case("Where", lambda a, b: lib(a).where(a > 0, a, b), [(3, 4), (4,)]),
    Case("Cast", lambda a: a.double().float() * 1.0, [(3, 4)], gradcheck=False, id="to-float32"),
    Case("Cast", lambda a: a.to(lib(a).float32).double(), [(3, 4)], gradcheck=False, id="roundtrip"),
    Case("Clone", lambda a: a.clone() * 2.0, [(3, 4)]),
    Case("Sum", lambda a: a.sum(), [(3, 4)], id="all"),
    Case("Sum", lambda a: a.sum(dim=1), [(3, 4, 5)], id="dim"),
    Case("Sum", lambda a: a.sum(dim=(0, -1), keepdim=True), [(3, 4, 5)], id="tuple-keepdim"),
    Case("Sum", lambda a: a.sum(-2), [(3, 4, 5)], id="negative"),
    Case("Mean", lambda a: a.mean(), [(3, 4)], id="all"),
    Case("Mean", lambda a: a.mean(dim=(1, 2)), [(3, 4, 5)], id="tuple"),
    Case("Mean", lambda a: a.mean(0, keepdim=True), [(3, 4)], id="keepdim"),
    Case("Var", lambda a: a.var(), [(3, 4)], id="all-unbiased"),
    Case("Var", lambda a: a.var(dim=1, unbiased=False), [(3, 4)], id="biased"),
    Case("Var", lambda a: a.var(dim=(0, 2), keepdim=True, correction=0), [(3, 4, 5)], id="correction0"),
    Case("Var", lambda a: a.std(dim=-1), [(3, 4)], id="std"),
    Case("Var", lambda a: a.std(unbiased=False), [(3, 4)], id="std-biased"),
    Case("MaxAll", lambda a: a.max(), [(3, 4)], id="max"),
    Case("MaxAll", lambda a: a.min(), [(3, 4)], id="min"),
    Case("MaxAll", lambda a: a.max(), [TIES], gradcheck=False, id="ties-shared"),
    Case("MaxDim", lambda a: a.max(dim=1).values, [(3, 4)], id="max-dim"),
    Case("MaxDim", lambda a: a.min(dim=0, keepdim=True)[0], [(3, 4)], id="min-keepdim"),
    Case("MaxDim", lambda a: a.max(-1).values, [(2, 3, 4)], id="negative"),
    Case("Reshape", lambda a: a.reshape(4, -1), [(2, 3, 4)]),
    Case("Reshape", lambda a: a.view(6, 4) * 1.0, [(2, 3, 4)], id="view"),
    Case("Reshape", lambda a: a.flatten(1), [(2, 3, 4)], id="flatten"),
    Case("Reshape", lambda a: a.unsqueeze(1).squeeze(), [(2, 3)], id="squeeze"),
    Case("Reshape", lambda a: a.squeeze(1), [(2, 1, 3)], id="squeeze-dim"),
    Case("Permute", lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    Case("Permute", lambda a: a.transpose(0, -1), [(2, 3, 4)], id="transpose"),
    Case("Permute", lambda a: a.T, [(2, 3)], id="T"),
    Case("Permute", lambda a: a.t() @ a, [(2, 3)], id="t"),
    Case("Expand", lambda a: a.expand(3, 4, 5), [(4, 1)]),
    Case("Expand", lambda a: a.expand(2, -1), [(3,)], id="minus-one"),
    Case("Cat", lambda a, b: lib(a).cat([a, b], dim=1), [(2, 3), (2, 5)]),
    Case("Cat", lambda a, b: lib(a).cat([a, b, a], dim=-1), [(2, 3), (2, 1)], id="repeated-input"),
    Case("Stack", lambda a, b: lib(a).stack([a, b], dim=1), [(2, 3), (2, 3)]),
    Case("GetItem", lambda a: a[1], [(3, 4)], id="int"),
    Case("GetItem", lambda a: a[:, 1:3], [(3, 4)], id="slice"),
    Case("GetItem", lambda a: a[None, ..., 2], [(3, 4)], id="none-ellipsis"),
    Case("GetItem", lambda a: a[lib(a).tensor(IDX)], [(3, 4)], id="int-array-repeated"),
    Case("GetItem", lambda a: a[IDX, IDX[::-1] % 4], [(3, 4)], id="two-arrays"),
    Case("GetItem", lambda a: a[lib(a).tensor(MASK)], [(3, 4)], id="bool-mask"),
    Case("GetItem", lambda a: a[::2, [0, 0, 3]], [(3, 4)], id="mixed"),
    Case("Tanh", lambda a: a.tanh(), [(3, 4)]),
    Case("Sigmoid", lambda a: a.sigmoid(), [(3, 4)], low=-8, high=8),
    Case("ReLU", lambda a: a.relu(), [(3, 4)]),
    Case("LeakyReLU", lambda a: (torch.nn.functional if lib(a) is torch else minidl.nn.functional).leaky_relu(a, 0.2),
         [(3, 4)]),
    Case("Softmax", lambda a: a.softmax(dim=1), [(3, 4)]),
    Case("Softmax", lambda a: a.softmax(dim=0), [(3, 4, 2)], id="dim0"),
    Case("LogSoftmax", lambda a: a.log_softmax(dim=-1), [(3, 4)]),
    Case("LogSoftmax", lambda a: (a * 50).log_softmax(dim=1), [(3, 4)], id="large-logits"),
    Case("LogSumExp", lambda a: a.logsumexp(dim=1), [(3, 4)]),
    Case("LogSumExp", lambda a: lib(a).logsumexp(a * 100, dim=(0, 2), keepdim=True) if lib(a) is torch
         else minidl.ops.logsumexp(a * 100, dim=(0, 2), keepdim=True), [(3, 4, 2)], id="tuple-large"),
]
declare(*[c.op for c in CASES])

# float32: tolerances, with reasons. Elementwise ops differ from torch by ~1 ulp (different libm);
# matmul and reductions also differ in summation order (BLAS/pairwise), so allow a few ulp of the sum.
F32 = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)
F32_SUMS = dict(atol=1e-5, rtol=1e-5, grad_atol=1e-5, grad_rtol=1e-5)
SUMS = {"Matmul", "Sum", "Mean", "Var", "Softmax", "LogSoftmax", "LogSumExp", "PowScalar", "Pow"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}-{c.id}" if c.id else c.op for c in CASES])
def test_float64(case: Case) -> None:
    parity_op(case.fn, None, case.inputs, dtype=np.float64, op=case.op, low=case.low, high=case.high,
              gradcheck=case.gradcheck, atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}-{c.id}" if c.id else c.op for c in CASES])
def test_float32(case: Case) -> None:
    tol = F32_SUMS if case.op in SUMS else F32
    parity_op(case.fn, None, case.inputs, dtype=np.float32, op=case.op, low=case.low, high=case.high, **tol)


def test_max_min_indices_match_torch() -> None:
    """``max(dim)`` returns (values, indices); indices are the first maximum, as torch on CPU."""
    for data in (TIES, np.random.default_rng(0).normal(size=(4, 5))):
        for fn in ("max", "min"):
            for dim in (0, 1, -1):
                t = getattr(torch.from_numpy(data), fn)(dim=dim)
                m = getattr(minidl.tensor(data), fn)(dim=dim)
                np.testing.assert_array_equal(m.indices.numpy(), t.indices.numpy())
                np.testing.assert_array_equal(m.values.numpy(), t.values.numpy())
        np.testing.assert_array_equal(minidl.tensor(data).argmax(dim=1).numpy(),
                                      torch.from_numpy(data).argmax(dim=1).numpy())
        assert minidl.tensor(data).argmin().item() == torch.from_numpy(data).argmin().item()
