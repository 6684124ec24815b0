"""The torch API breadth of issue 8 against torch: elementwise maths and rounded division, tests
(isclose...), layout (flip, roll, tril, diagonal, repeat, split, einsum), indexing (gather, scatter,
sort, topk), scans and reductions (cumsum, prod, norm, mode), and the ``axis=`` alias.

float64: rtol 1e-7 / atol 1e-9 and central finite differences (DESIGN.md). float32: ``F32`` below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from parity.coverage import declare
from parity.helpers import assert_close, parity_op
from parity.higher_order import NOT_TWICE_DIFFERENTIABLE


def lib(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else minidl


@dataclass
class Case:
    op: str | None               # the registered op it covers (None: composed of other ops)
    fn: Callable[..., Any]       # written once, runs on torch and on minidl tensors
    inputs: list[Any]
    low: float = -2.0
    high: float = 2.0
    gradcheck: bool = True
    id: str = ""
    kw: dict[str, Any] = field(default_factory=dict)


IDX = np.array([[0, 2, 2], [1, 0, 1]])             # repeated indices: their gradients add up
I7 = np.array([7, -7, 6, -6, 0, 5])
I3 = np.array([3, 3, -4, 4, 2, -2])
DISTINCT = np.random.default_rng(5).permutation(24).reshape(4, 6).astype(float) / 7 - 1.5   # no ties
ZEROS = np.array([[1.5, 0.0, -2.0, 0.5], [0.0, 0.0, 3.0, 1.0]])
SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])

CASES = [
    # elementwise maths
    Case("Sin", lambda a: a.sin(), [(3, 4)]),
    Case("Sin", lambda a: lib(a).sin(a * 3), [(5,)], id="function"),
    Case("Cos", lambda a: a.cos(), [(3, 4)]),
    Case("Round", lambda a: a.floor() * a, [(3, 4)], id="floor"),
    Case("Round", lambda a: a.ceil() + a, [(3, 4)], id="ceil"),
    Case("Round", lambda a: lib(a).round(a * 3) * a, [(3, 4)], id="round"),
    Case("Round", lambda a: a.round(decimals=2), [(3, 4)], id="decimals"),
    Case("Round", lambda a: lib(a).trunc(a * 2) - a, [(3, 4)], id="trunc"),
    Case("Fmod", lambda a, b: lib(a).fmod(a * 3, b), [(3, 4), (4,)], low=0.3, id="pos"),
    Case("Fmod", lambda a, b: a.fmod(b - 2.5), [(3, 4), (3, 1)], low=-3, high=3, id="signs"),
    Case("Remainder", lambda a, b: lib(a).remainder(a * 3, b - 2.5), [(3, 4), (4,)], low=-3, high=3),
    Case("Remainder", lambda a: (a * 4) % 1.5, [(3, 4)], id="operator"),
    Case("Remainder", lambda a: (a * 4) % -1.5, [(3, 4)], id="negative-divisor"),
    Case("DivRounded", lambda a, b: lib(a).div(a * 4, b, rounding_mode="floor") * a, [(3, 4), (4,)], low=0.3,
         id="floor"),
    Case("DivRounded", lambda a, b: a.div(b - 2.5, rounding_mode="trunc") + a, [(3, 4), (4,)], low=-3, high=3,
         id="trunc"),
    Case("DivRounded", lambda a: a.detach() // 0.3 + a, [(3, 4)], id="floordiv-operator"),  # torch: no derivative
    Case("DivRounded", lambda a, b: lib(a).div(a, b, rounding_mode="trunc"), [I7, I3], id="int-trunc"),
    Case("DivRounded", lambda a, b: lib(a).div(a, b, rounding_mode="floor"), [I7, I3], id="int-floor"),
    Case("DivRounded", lambda a: lib(a).div(a, 2.5, rounding_mode="floor"), [I7], id="int-by-float"),
    Case("DivRounded", lambda a: lib(a).floor_divide(a, 4), [I7], id="floor_divide"),
    Case("DivRounded", lambda a: a.divide(3, rounding_mode="trunc"), [I7], id="divide-method"),
    Case("Remainder", lambda a, b: lib(a).remainder(a, b), [I7, I3], id="int"),
    Case("Fmod", lambda a, b: lib(a).fmod(a, b), [I7, I3], id="int"),
    Case("Div", lambda a, b: lib(a).div(a, b, rounding_mode=None), [(3, 4), (4,)], low=0.5, id="mode-none"),
    Case("Div", lambda a, b: lib(a).true_divide(a, b), [I7, I3], id="true_divide-int"),
    # layout
    Case("Flip", lambda a: a.flip(0, 2), [(2, 3, 4)]),
    Case("Flip", lambda a: lib(a).flip(a, dims=[-1]), [(3, 4)], id="function"),
    Case("Flip", lambda a: lib(a).fliplr(a) + lib(a).flipud(a), [(3, 3)], id="lr-ud"),
    Case("Roll", lambda a: a.roll(1, 0), [(3, 4)]),
    Case("Roll", lambda a: lib(a).roll(a, shifts=(2, -1), dims=(1, 2)), [(2, 3, 4)], id="two-dims"),
    Case("Roll", lambda a: lib(a).roll(a, 5), [(3, 4)], id="flattened"),
    Case("Roll", lambda a: a.roll(-7, -1), [(3, 4)], id="wraps"),
    Case("Tri", lambda a: a.tril(), [(4, 4)], id="tril"),
    Case("Tri", lambda a: lib(a).triu(a, 1), [(3, 5)], id="triu-1"),
    Case("Tri", lambda a: lib(a).tril(a, diagonal=-1), [(2, 4, 3)], id="tril-batched"),
    Case("Tri", lambda a: a.triu(-2), [(2, 3, 4)], id="triu-batched"),
    Case("Diagonal", lambda a: a.diagonal(), [(4, 4)]),
    Case("Diagonal", lambda a: lib(a).diagonal(a, offset=1), [(3, 5)], id="offset"),
    Case("Diagonal", lambda a: a.diagonal(-1, 0, 2), [(4, 2, 3)], id="dims-negative-offset"),
    Case("Diagonal", lambda a: a.diagonal(offset=1, dim1=1, dim2=0), [(3, 4)], id="swapped-dims"),
    Case("Repeat", lambda a: a.repeat(2, 3), [(2, 3)]),
    Case("Repeat", lambda a: a.repeat(2, 1, 2), [(3,)], id="new-dims"),
    Case("GetItem", lambda a: lib(a).cat(a.split(2, dim=1)[::-1], 1), [(3, 5)], id="split"),
    Case("GetItem", lambda a: lib(a).stack(list(lib(a).split(a, [1, 3], 0)[1].unbind(1))), [(4, 3)],
         id="split-sections-unbind"),
    Case("GetItem", lambda a: lib(a).cat(a.chunk(3, -1)[1:], -1), [(2, 7)], id="chunk"),
    Case("Einsum", lambda a, b: lib(a).einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)], id="matmul"),
    Case("Einsum", lambda a, b: lib(a).einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)], id="batched"),
    Case("Einsum", lambda a, b: lib(a).einsum("...ij,jk", a, b), [(2, 3, 4), (4, 2)], id="ellipsis-implicit"),
    Case("Einsum", lambda a, b, c: lib(a).einsum("i,ij,j->", a, b, c), [(3,), (3, 4), (4,)], id="three"),
    Case("Einsum", lambda a: lib(a).einsum("ij->j", a), [(3, 4)], id="reduce"),
    Case("Einsum", lambda a, b: lib(a).einsum("ij,kl->ijkl", a, b), [(2, 3), (2, 2)], id="outer"),
    # indexing
    Case("Gather", lambda a: a.gather(1, lib(a).tensor(IDX)), [(2, 4)]),
    Case("Gather", lambda a: lib(a).gather(a, 0, lib(a).tensor(IDX.T % 2)), [(3, 4)], id="dim0-smaller"),
    Case("Scatter", lambda a, s: a.scatter(1, lib(a).tensor(np.array([[0, 2], [3, 1]])), s), [(2, 4), (2, 2)]),
    Case("Scatter", lambda a: lib(a).scatter(a, 0, lib(a).tensor(np.array([[1, 0, 1]])), 0.5), [(2, 3)],
         id="value"),
    Case("Scatter", lambda a, s: a.scatter_add(1, lib(a).tensor(IDX), s), [(2, 4), (2, 3)], id="add-repeated"),
    Case("Scatter", lambda a, s: lib(a).scatter_add(a, 0, lib(a).tensor(IDX % 2), s), [(2, 3), (2, 3)],
         id="add-dim0"),
    Case("GetItem", lambda a: a.index_select(1, lib(a).tensor([3, 0, 3])), [(2, 4)], id="index_select"),
    Case("GetItem", lambda a: lib(a).index_select(a, 0, lib(a).tensor([1])), [(2, 4)], id="index_select-fn"),
    Case("Where", lambda a: a.masked_fill(a > 0.5, -1.0), [(3, 4)], id="masked_fill"),
    Case("Where", lambda a: a.masked_fill(lib(a).tensor([True, False, True, False]), 2.0), [(3, 4)],
         id="masked_fill-broadcast"),
    Case("Where", lambda a, b: a.where(a > 0, b), [(3, 4), (4,)], id="method"),
    Case("Gather", lambda a: a.sort(dim=1).values, [DISTINCT], id="sort"),
    Case("Gather", lambda a: lib(a).sort(a, 0, descending=True)[0], [DISTINCT], id="sort-descending"),
    Case("Gather", lambda a: a.topk(3).values, [DISTINCT], id="topk"),
    Case("Gather", lambda a: lib(a).topk(a, 2, dim=0, largest=False).values, [DISTINCT], id="topk-smallest"),
    Case("Gather", lambda a: a.mode(1).values, [np.array([[3., 1., 3., 1., 2.], [5., 5., 4., 4., 4.]])],
         gradcheck=False, id="mode"),
    Case("Gather", lambda a: lib(a).take_along_dim(a, lib(a).tensor(IDX), 1), [(2, 4)], id="take_along_dim"),
    # scans and reductions
    Case("Cumsum", lambda a: a.cumsum(1), [(3, 4)]),
    Case("Cumsum", lambda a: lib(a).cumsum(a, dim=-3), [(2, 3, 2)], id="dim0"),
    Case("Cumprod", lambda a: a.cumprod(1), [(3, 4)]),
    Case("Cumprod", lambda a: lib(a).cumprod(a, 1), [ZEROS], id="zeros"),
    Case("Prod", lambda a: a.prod(), [(3, 4)], low=0.5, id="all"),
    Case("Prod", lambda a: lib(a).prod(a, 1, keepdim=True), [(3, 4)], id="dim"),
    Case("Prod", lambda a: a.prod(dim=1), [ZEROS], id="zeros"),
    Case("Prod", lambda a: a.prod(), [ZEROS[:1]], id="one-zero-all"),
    Case("Norm", lambda a: a.norm(), [(3, 4)], id="fro"),
    Case("Norm", lambda a: a.norm(dim=1), [(3, 4)], id="dim"),
    Case("Norm", lambda a: lib(a).norm(a, p=1, dim=0, keepdim=True), [(3, 4)], id="p1"),
    Case("Norm", lambda a: a.norm(p=3), [(3, 4)], id="p3"),
    Case("Norm", lambda a: a.norm(p=float("inf"), dim=-1), [(3, 4)], id="inf"),
    Case("Norm", lambda a: (a * 0).norm() + a.sum(), [(3,)], gradcheck=False, id="at-zero"),
    Case("MaxAll", lambda a: a.amax(), [(3, 4)], id="amax-method"),
    Case("MaxDim", lambda a: a.amin(dim=1, keepdim=True), [(3, 4)], id="amin-method"),
    # the axis= / keepdims= aliases
    Case("Sum", lambda a: a.sum(axis=1), [(3, 4)], id="axis"),
    Case("Sum", lambda a: lib(a).sum(a, axis=(0, 1), keepdims=True), [(2, 3, 4)], id="axis-keepdims"),
    Case("Mean", lambda a: a.mean(axis=-1), [(3, 4)], id="axis"),
    Case("Var", lambda a: a.var(axis=0), [(3, 4)], id="axis"),
    Case("Var", lambda a: lib(a).std(a, axis=1, keepdim=True), [(3, 4)], id="std-axis"),
    Case("MaxDim", lambda a: a.max(axis=0)[0], [(3, 4)], id="axis"),
    # more elementwise maths (minidl/ops/unary.py)
    Case("Tan", lambda a: a.tan(), [(3, 4)], low=-1.2, high=1.2),
    Case("Asin", lambda a: lib(a).asin(a) + lib(a).arcsin(a), [(3, 4)], low=-0.9, high=0.9),
    Case("Acos", lambda a: a.acos() * a.arccos(), [(3, 4)], low=-0.9, high=0.9),
    Case("Atan", lambda a: lib(a).atan(a * 3) + a.arctan(), [(3, 4)]),
    Case("Sinh", lambda a: a.sinh(), [(3, 4)]),
    Case("Cosh", lambda a: lib(a).cosh(a), [(3, 4)]),
    Case("Asinh", lambda a: a.asinh() + lib(a).arcsinh(a), [(3, 4)]),
    Case("Atanh", lambda a: lib(a).atanh(a) * a.arctanh(), [(3, 4)], low=-0.9, high=0.9),
    Case("Log2", lambda a: a.log2(), [(3, 4)], low=0.2, high=3),
    Case("Log10", lambda a: lib(a).log10(a), [(3, 4)], low=0.2, high=3),
    Case("Exp2", lambda a: a.exp2(), [(3, 4)]),
    Case("Expm1", lambda a: lib(a).expm1(a * 1e-3) + a.expm1(), [(3, 4)]),
    Case("Rsqrt", lambda a: a.rsqrt(), [(3, 4)], low=0.2, high=3),
    Case("Reciprocal", lambda a: lib(a).reciprocal(a), [(3, 4)], low=0.3, high=3),
    Case("Atan2", lambda a, b: lib(a).atan2(a, b) + a.arctan2(b * 2), [(3, 4), (4,)]),
    # compositions (minidl/ops/composite.py)
    Case("Matmul", lambda a, b: lib(a).dot(a, b) + a.inner(b), [(4,), (4,)], id="dot"),
    Case("Matmul", lambda a, b: lib(a).mv(a, b) + a.mv(b), [(3, 4), (4,)], id="mv"),
    Case("Mul", lambda a, b: lib(a).outer(a, b) + a.outer(b) + lib(a).ger(a, b), [(3,), (4,)], id="outer"),
    Case("DiagonalEmbed", lambda a: lib(a).diag(a, 1) + 0 * a.sum(), [(3,)], id="diag-1d"),
    Case("Diagonal", lambda a: lib(a).diag(a, -1).sum() + a.diag(), [(3, 3)], id="diag-2d"),
    Case("DiagonalEmbed", lambda a: lib(a).diag_embed(a) + a.diag_embed(1, 0, 2)[:, :, 1:, ].sum(), [(2, 3)],
         id="diag_embed"),
    Case("Diagonal", lambda a: lib(a).trace(a) + a.trace(), [(3, 4)], id="trace"),
    Case("Repeat", lambda a: lib(a).tile(a, (2,)) + 0, [(2, 3)], id="tile"),
    Case("Repeat", lambda a: a.tile(2, 1, 2), [(2, 3)], id="tile-method"),
    Case("Permute", lambda a: lib(a).movedim(a, 0, -1) + a.moveaxis((0, 1), (1, 0)).sum(), [(2, 3, 4)], id="movedim"),
    Case("GetItem", lambda a: lib(a).narrow(a, 1, 1, 2) + a.narrow(-1, -3, 2), [(3, 4)], id="narrow"),
    Case("GetItem", lambda a: lib(a).select(a, 1, -1) * a.select(0, 2), [(3, 3)], id="select"),
    Case("GetItem", lambda a: lib(a).masked_select(a, a > 0) * 2, [(3, 4)], id="masked_select"),
    Case("GetItem", lambda a: a.masked_select(lib(a).tensor([True, False, True, True])), [(3, 4)],
         id="masked_select-broadcast"),
    Case("Einsum", lambda a, b: lib(a).tensordot(a, b, dims=([1, 2], [0, 1])), [(2, 3, 4), (3, 4, 2)], id="tensordot"),
    Case("Einsum", lambda a, b: lib(a).tensordot(a, b, 1), [(2, 3), (3, 4)], id="tensordot-int"),
    Case("Mul", lambda a, b: lib(a).kron(a, b) + 0, [(2, 3), (2, 2)], id="kron"),
    Case("Mul", lambda a, b: a.kron(b), [(2,), (3, 2)], id="kron-ndim"),
    Case("Stack", lambda a, b: lib(a).cross(a, b, dim=1) + lib(a).linalg.cross(a, b), [(4, 3), (4, 3)], id="cross"),
    Case("Norm", lambda a, b: lib(a).cdist(a, b), [(3, 2), (4, 2)], id="cdist"),
    Case("Norm", lambda a, b: lib(a).cdist(a, b, p=1.0), [(2, 3, 2), (2, 4, 2)], id="cdist-p1"),
    Case("Sub", lambda a: lib(a).diff(a) + 0, [(3, 4)], id="diff"),
    Case("Sub", lambda a, b: a.diff(n=2, dim=0, prepend=b), [(3, 4), (1, 4)], id="diff-prepend"),
    Case("Add", lambda a, b: lib(a).lerp(a, b, 0.3) + a.lerp(b, b), [(3, 4), (4,)], id="lerp"),
    Case("Add", lambda a, b: lib(a).addcmul(a, a, b, value=0.5) + a.addcdiv(b, b * b + 1, value=2.0),
         [(3, 4), (4,)], id="addcmul-addcdiv"),
    Case("Sqrt", lambda a, b: lib(a).hypot(a, b) + a.hypot(b), [(3, 4), (4,)], id="hypot"),
    Case("Log", lambda a, b: lib(a).logaddexp(a * 30, b) + a.logaddexp(b), [(3, 4), (4,)], id="logaddexp"),
    Case("Clamp", lambda a: lib(a).clamp_min(a, 0.1) + a.clamp_max(0.3), [(3, 4)], id="clamp_min-max"),
    Case("Where", lambda a: lib(a).nan_to_num(lib(a).log(a)) + a.nan_to_num(posinf=1.0), [(3, 4)], low=-1, high=2,
         id="nan_to_num"),
    Case("Gather", lambda a: lib(a).median(a, 1).values + a.median(0, keepdim=True)[0].sum(), [DISTINCT], id="median"),
    Case("GetItem", lambda a: lib(a).median(a) * a.median(), [DISTINCT], id="median-all"),
    Case("Gather", lambda a: lib(a).cummax(a, 1).values + a.cummin(0)[0], [DISTINCT], id="cummax-cummin"),
    Case("Cumsum", lambda a: lib(a).logcumsumexp(a * 20, 1) + a.logcumsumexp(0), [(3, 4)], id="logcumsumexp"),
    Case("Var", lambda a: lib(a).var_mean(a, 1)[0] + lib(a).var_mean(a, 1)[1] + lib(a).std_mean(a)[0]
         * lib(a).std_mean(a, dim=0, keepdim=True)[1].sum(), [(3, 4)], id="var_mean-std_mean"),
]
declare(*[c.op for c in CASES if c.op])
NOT_TWICE_DIFFERENTIABLE.update({
    "Cumprod": "its backward (a reversed cumsum of g z / x, with an O(n^2) path for zeros) is NumPy only",
    "Prod": "its backward (products of the other elements from two exclusive cumprods) is NumPy only",
})

# float32: elementwise ops differ from torch by ~1 ulp (different libm); scans, norms and einsum also
# sum in another order, so allow a few ulp of the running sum.
F32 = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)
F32_SUMS = dict(atol=1e-5, rtol=1e-5, grad_atol=1e-5, grad_rtol=1e-5)
SUMS = {"Cumsum", "Cumprod", "Prod", "Norm", "Einsum", "Var", "Sum", "Mean"}
IDS = [f"{c.op}-{c.id}" if c.id else str(c.op) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float64(case: Case) -> None:
    parity_op(case.fn, None, case.inputs, dtype=np.float64, op=case.op, low=case.low, high=case.high,
              gradcheck=case.gradcheck, atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)


F32_CASES = [c for c in CASES if c.id in ("", "floor", "trunc", "batched", "axis", "dim", "zeros")]


@pytest.mark.parametrize("case", F32_CASES, ids=[f"{c.op}-{c.id}" for c in F32_CASES])
def test_float32(case: Case) -> None:
    tol = F32_SUMS if case.op in SUMS else F32
    parity_op(case.fn, None, case.inputs, dtype=np.float32, op=case.op, low=case.low, high=case.high, **tol)


def test_indices_and_integer_results() -> None:
    """The integer halves of sort / argsort / topk / mode, and integer scans, equal torch's exactly."""
    x = DISTINCT
    for fn in (lambda a: a.sort(1).indices, lambda a: a.argsort(0, descending=True), lambda a: a.topk(2).indices,
               lambda a: lib(a).argsort(a, dim=-1)):
        assert_close(fn(minidl.tensor(x)), fn(torch.tensor(x)), atol=0, rtol=0, what="indices")
    m = np.array([[3, 1, 3, 1, 2], [5, 5, 4, 4, 4]])
    for fn in (lambda a: a.mode(1).indices, lambda a: a.mode(0, keepdim=True).values, lambda a: a.cumsum(1),
               lambda a: a.cumprod(0), lambda a: a.prod(1), lambda a: a.prod(), lambda a: a.sort(dim=1, stable=True)[1],
               lambda a: lib(a).sum(a, axis=0), lambda a: a.repeat(1, 2), lambda a: a.roll(1),
               lambda a: a.flip(1), lambda a: a.tril(), lambda a: a.diagonal(), lambda a: a.new_zeros(2, 3),
               lambda a: a.new_ones((1, 2)), lambda a: a.new_full((2,), 7), lambda a: a.new_tensor([1, 2]),
               lambda a: a.floor(), lambda a: a.round(), lambda a: a.sin(),
               lambda a: a.cumsum(0, dtype=lib(a).float64)):
        assert_close(fn(minidl.tensor(m)), fn(torch.tensor(m)), atol=0, rtol=1e-7, what="integer input")
    b = np.array([[True, False, True], [False, False, True]])
    for fn in (lambda a: a.all(), lambda a: a.any(1), lambda a: lib(a).all(a, dim=0, keepdim=True),
               lambda a: a.sum(), lambda a: a.cumsum(1), lambda a: (a.float() - 0.5).any()):
        assert_close(fn(minidl.tensor(b)), fn(torch.tensor(b)), atol=0, rtol=0, what="bool input")
    f = np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32)
    for fn in (lambda a: a.new_zeros(3), lambda a: a.new_ones(2, 2, dtype=lib(a).float64), lambda a: a.all(1),
               lambda a: a.norm(dtype=lib(a).float64)):
        assert_close(fn(minidl.tensor(f)), fn(torch.tensor(f)), atol=0, rtol=1e-7, what="new_* / all on float32")


def test_tests_isclose_isnan() -> None:
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 2.0, 1.00001])
    b = np.array([1.0, np.nan, np.inf, np.inf, 0.0, 2.1, 1.0])
    ta, tb, ma, mb = torch.tensor(a), torch.tensor(b), minidl.tensor(a), minidl.tensor(b)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.1}, {"atol": 0.0, "rtol": 0.0}):
        assert_close(ma.isclose(mb, **kw), ta.isclose(tb, **kw), atol=0, rtol=0, what=f"isclose {kw}")
        assert minidl.allclose(ma, mb, **kw) == torch.allclose(ta, tb, **kw)
        assert minidl.allclose(ma[4:], mb[4:], **kw) == torch.allclose(ta[4:], tb[4:], **kw)
    assert_close(minidl.isclose(ma[:, None], mb), torch.isclose(ta[:, None], tb), atol=0, rtol=0, what="broadcast")
    for fn in ("isnan", "isinf", "isfinite"):
        assert_close(getattr(ma, fn)(), getattr(ta, fn)(), atol=0, rtol=0, what=fn)
        assert_close(getattr(minidl, fn)(minidl.tensor(I7)), getattr(torch, fn)(torch.tensor(I7)), atol=0, rtol=0,
                     what=f"{fn} int")
    i = torch.tensor(I7)
    assert_close(minidl.isclose(minidl.tensor(I7), minidl.tensor(I7 + 1), atol=1), torch.isclose(i, i + 1, atol=1),
                 atol=0, rtol=0, what="isclose int")
    assert minidl.equal(ma[4:], mb[4:]) == torch.equal(ta[4:], tb[4:]) and minidl.tensor(I7).equal(minidl.tensor(I7))


def test_rounded_division_edge_cases() -> None:
    """Division by zero (inf / nan for floats, an error for integers), negative zeros, and Python's
    floor rule for floats (7 // 0.1 = 69), all as torch."""
    a = np.array([7.0, -7.0, 0.0, 7.0, -0.5, 1e300])
    b = np.array([0.0, 0.0, 0.0, 0.1, 2.0, 1e-300])
    for mode in ("trunc", "floor"):
        t = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
        m = minidl.div(minidl.tensor(a), minidl.tensor(b), rounding_mode=mode)
        assert_close(m, t, atol=0, rtol=0, what=f"div {mode}")
        np.testing.assert_array_equal(np.signbit(m.numpy()), np.signbit(t.numpy()))
    for fn in (lambda x: x.div(0, rounding_mode="floor"), lambda x: x % 0, lambda x: x // 0):
        with pytest.raises(RuntimeError):
            fn(torch.tensor(I7))
        with pytest.raises(RuntimeError):
            fn(minidl.tensor(I7))
    with pytest.raises(ValueError):
        minidl.div(minidl.tensor(a), 2.0, rounding_mode="ceil")


def test_scatter_src_larger_than_index_and_norm_of_parameter() -> None:
    """Only the leading index-shaped block of ``src`` is used (forward; torch has no gradient for this
    case), and ``Parameter.norm()`` backpropagates into the parameter."""
    rng = np.random.default_rng(3)
    x, src = rng.normal(size=(2, 4)), rng.normal(size=(3, 5))
    for fn in (lambda a, s, i: a.scatter(1, i, s), lambda a, s, i: a.scatter_add(1, i, s)):
        t = fn(torch.tensor(x), torch.tensor(src), torch.tensor(IDX))
        m = fn(minidl.tensor(x), minidl.tensor(src), minidl.tensor(IDX))
        assert_close(m, t, atol=1e-12, rtol=0, what="scatter with a larger src")
    w = rng.normal(size=(3, 4))
    tp, mp = torch.nn.Parameter(torch.tensor(w)), minidl.nn.Parameter(minidl.tensor(w))
    for p in (tp, mp):
        (p.norm() * 2 + p.norm(p=1, dim=0).sum()).backward()
    assert_close(mp.grad, tp.grad, atol=1e-12, rtol=1e-7, what="Parameter.norm grad")


def test_index_valued_functions() -> None:
    """nonzero / argwhere / unique / bincount / count_nonzero / logical_* / meshgrid / cummax indices, exactly."""
    m = np.array([[0, 2, 0, 3], [1, 0, 0, 2], [3, 3, 0, 1]])
    for fn in (lambda a: a.nonzero(), lambda a: lib(a).nonzero(a, as_tuple=True)[1], lambda a: lib(a).argwhere(a),
               lambda a: a.argwhere(), lambda a: lib(a).unique(a), lambda a: a.unique(return_counts=True)[1],
               lambda a: lib(a).unique(a, return_inverse=True)[1], lambda a: lib(a).bincount(a.reshape(-1)),
               lambda a: a.reshape(-1).bincount(minlength=7), lambda a: lib(a).count_nonzero(a),
               lambda a: a.count_nonzero(dim=0), lambda a: lib(a).logical_and(a, a > 1), lambda a: a.logical_or(a > 1),
               lambda a: lib(a).logical_xor(a, a.flip(0)), lambda a: lib(a).logical_not(a), lambda a: a.logical_not(),
               lambda a: a.logical_and(a - 1).logical_xor(a), lambda a: lib(a).cummax(a, 1).indices,
               lambda a: a.cummin(0).indices, lambda a: a.median(1).indices,
               lambda a: lib(a).meshgrid(a[0], a[1, :3], indexing="ij")[1],
               lambda a: lib(a).meshgrid([a[0], a[1, :3]], indexing="xy")[0],
               lambda a: lib(a).bincount(a.reshape(-1), weights=a.reshape(-1).double() * 0.5)):
        assert_close(fn(minidl.tensor(m)), fn(torch.tensor(m)), atol=0, rtol=0, what="index-valued")
