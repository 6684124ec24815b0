"""``minidl.linalg`` against ``torch.linalg``: values, gradients, finite differences (float64), second
derivatives where the op is twice differentiable, and torch's error types for bad matrices.

Matrices are built inside the tested function (``S S^T + 3 I`` is symmetric positive definite with
eigenvalues >= 3, so condition numbers stay small and float64 keeps rtol 1e-7 / atol 1e-9)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
from parity.coverage import declare
from parity.helpers import assert_close, parity_op
from parity.higher_order import declare_second_order, hvp_parity

F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)


def la(x: Any) -> Any:
    return torch.linalg if isinstance(x, torch.Tensor) else minidl.linalg


def spd(s: Any) -> Any:
    n = s.shape[-1]
    eye = (torch if isinstance(s, torch.Tensor) else minidl).eye(n, dtype=s.dtype)
    return s @ s.transpose(-1, -2) + 3 * eye


CASES = [
    ("Inv", lambda s: la(s).inv(spd(s)), [(3, 3)], "spd"),
    ("Inv", lambda s: la(s).inv(s + 4 * (torch if isinstance(s, torch.Tensor) else minidl).eye(4, dtype=s.dtype)),
     [(2, 4, 4)], "batched-nonsymmetric"),
    ("Inv", lambda s: spd(s).inverse(), [(3, 3)], "method"),
    ("Solve", lambda s, b: la(s).solve(spd(s), b), [(3, 3), (3, 2)], "matrix"),
    ("Solve", lambda s, b: la(s).solve(spd(s), b), [(3, 3), (3,)], "vector"),
    ("Solve", lambda s, b: la(s).solve(spd(s), b), [(2, 3, 3), (2, 3)], "batched-vectors"),
    ("Solve", lambda s, b: la(s).solve(spd(s), b), [(2, 3, 3), (3, 4)], "broadcast-b"),
    ("Cholesky", lambda s: la(s).cholesky(spd(s)), [(3, 3)], "lower"),
    ("Cholesky", lambda s: la(s).cholesky(spd(s), upper=True), [(2, 4, 4)], "upper-batched"),
    ("Det", lambda s: la(s).det(spd(s)), [(3, 3)], "spd"),
    ("Det", lambda s: la(s).det(s), [(2, 3, 3)], "batched-any-sign"),
    ("Det", lambda s: (torch if isinstance(s, torch.Tensor) else minidl).det(s), [(4, 4)], "toplevel"),
    ("LogAbsDet", lambda s: la(s).slogdet(spd(s)).logabsdet, [(3, 3)], "spd"),
    ("LogAbsDet", lambda s: la(s).slogdet(s)[1], [(2, 3, 3)], "batched-any-sign"),
    ("LogAbsDet", lambda s: (torch if isinstance(s, torch.Tensor) else minidl).logdet(spd(s)), [(3, 3)], "logdet"),
    ("Norm", lambda s: la(s).norm(s), [(3, 4)], "default"),
    ("Norm", lambda s: la(s).vector_norm(s, ord=3, dim=1), [(3, 4)], "vector-ord3"),
    ("Norm", lambda s: la(s).matrix_norm(s), [(2, 3, 4)], "matrix-fro"),
    ("Norm", lambda s: la(s).norm(s, ord=1, dim=0), [(3, 4)], "ord1-dim"),
    ("Norm", lambda s: la(s).norm(s, "fro", dim=(0, 2)), [(2, 3, 4)], "fro-dims"),
]
declare(*[c[0] for c in CASES])


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_float64(case: tuple) -> None:
    op, fn, inputs, _ = case
    parity_op(fn, None, inputs, op=op, dtype=np.float64, low=-1.0, high=1.0, **F64)


@pytest.mark.parametrize("case", CASES[::3], ids=[f"{c[0]}-{c[3]}" for c in CASES[::3]])
def test_float32(case: tuple) -> None:
    # float32: LAPACK factorisations and inverses differ from torch's in rounding; with condition
    # numbers below ~10 the relative differences stay within a few hundred ulp (2e-5).
    op, fn, inputs, _ = case
    parity_op(fn, None, inputs, op=op, dtype=np.float32, low=-1.0, high=1.0,
              atol=2e-5, rtol=2e-5, grad_atol=2e-5, grad_rtol=2e-5)


def test_slogdet_sign_and_singular_matrices() -> None:
    a = np.array([[[1.0, 2.0], [3.0, 4.0]], [[2.0, 0.0], [0.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]])
    t, m = torch.linalg.slogdet(torch.tensor(a)), minidl.linalg.slogdet(minidl.tensor(a))
    assert_close(m.sign, t.sign, atol=0, rtol=0, what="slogdet sign")
    assert_close(m.logabsdet, t.logabsdet, atol=1e-12, rtol=1e-12, what="slogdet logabsdet")
    assert_close(minidl.logdet(minidl.tensor(a)), torch.logdet(torch.tensor(a)), atol=1e-12, rtol=1e-12,
                 what="logdet (nan for negative det, -inf for singular)")
    assert_close(minidl.linalg.det(minidl.tensor(a)), torch.linalg.det(torch.tensor(a)), atol=1e-12, rtol=1e-12,
                 what="det")


@pytest.mark.parametrize("fn,arr", [
    (lambda A: la(A).inv(A), np.array([[1.0, 2.0], [2.0, 4.0]])),                     # singular
    (lambda A: la(A).cholesky(A), np.array([[1.0, 2.0], [2.0, 1.0]])),                 # not positive definite
    (lambda A: la(A).solve(A, A[:, :1]), np.array([[1.0, 2.0], [2.0, 4.0]])),          # singular
    (lambda A: la(A).inv(A), np.ones((2, 3))),                                          # not square
    (lambda A: la(A).det(A), np.ones(3)),                                               # 1-D
    (lambda A: la(A).inv(A), np.eye(2, dtype=np.int64)),                                # integers
    (lambda A: la(A).solve(A, A[:1]), np.eye(3)),                                       # incompatible B
    (lambda A: la(A).solve(A, A.float()), np.eye(3)),                                   # mixed dtypes
], ids=["inv-singular", "cholesky-not-pd", "solve-singular", "inv-not-square", "det-1d", "inv-int",
        "solve-shapes", "solve-dtypes"])
def test_errors_like_torch(fn: Any, arr: np.ndarray) -> None:
    with pytest.raises(Exception) as t_err:
        fn(torch.tensor(arr))
    with pytest.raises(Exception) as m_err:
        fn(minidl.tensor(arr))
    assert isinstance(m_err.value, type(t_err.value)) or \
        (isinstance(t_err.value, torch.linalg.LinAlgError) and isinstance(m_err.value, minidl.linalg.LinAlgError)), \
        f"minidl raised {type(m_err.value).__name__}({m_err.value}); torch {type(t_err.value).__name__}"


SECOND = {
    "linalg": (("Inv", "Solve", "Cholesky", "Det", "LogAbsDet", "Norm"),
               lambda L, x, b: la(x).inv(spd(x)).sum() + (la(x).solve(spd(x), b) ** 2).sum()
               + (la(x).cholesky(spd(x)) ** 2).sum() + la(x).det(spd(x) * 0.5) + la(x).slogdet(spd(x))[1] * 2
               + la(x).norm(x, dim=1).sum() + la(x).vector_norm(x, ord=3) + x.norm(p=1)
               + x.norm(p=float("inf"), dim=0).sum(), [(3, 3), (3, 2)]),
    "layout": (("Diagonal", "DiagonalEmbed", "Flip", "Roll", "Tri", "Einsum", "Repeat"),
               lambda L, x, b: (x.diagonal() ** 3).sum() + (x.flip(0) * x).sum() + (x.roll(1, 1) * x * x).sum()
               + (x.tril() ** 3).sum() + L.einsum("ij,jk->", x * x, b) + (x.repeat(2, 1) ** 3).sum(),
               [(3, 3), (3, 2)]),
    "math": (("Sin", "Cos", "Fmod", "Remainder", "Round", "DivRounded"),
             lambda L, x, b: (x.sin() * x.cos()).sum() + (x.fmod(0.7) * x).sum() + ((x * 3) % 0.9 * x).sum()
             + (x.floor() * x * x).sum() + (L.div(x, b[:, :1] + 2, rounding_mode="trunc") * x ** 2).sum()
             + (L.remainder(x, b[:, :1] + 2) * b.sum()).sum(), [(3, 3), (3, 2)]),
    "unary": (("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Atanh", "Log2", "Log10", "Exp2", "Expm1",
               "Rsqrt", "Reciprocal", "Atan2"),
              lambda L, x, b: (x.tan() * x.asin() + x.acos() * x.atan() + x.sinh() * x.cosh() + x.asinh() * x.atanh()
                               + (x + 2).log2() * (x + 2).log10() + x.exp2() * x.expm1()
                               + (x + 2).rsqrt() * (x + 2).reciprocal()).sum()
              + L.atan2(x[:, :2], b).sum(), [(3, 3), (3, 2)]),
    "indexing-scans": (("Gather", "Scatter", "Cumsum"),
                       lambda L, x, b: (x.gather(1, L.tensor([[0, 0], [2, 1], [1, 1]])) ** 3).sum()
                       + (x.scatter(1, L.tensor([[2, 0], [1, 2], [0, 1]]), b * b) ** 2).sum()
                       + (x.scatter_add(1, L.tensor([[2, 2], [1, 1], [0, 0]]), b * x[:, :2]) ** 2).sum()
                       + (x.cumsum(0) ** 3).sum(), [(3, 3), (3, 2)]),
}
declare_second_order(*[op for ops, _, _ in SECOND.values() for op in ops])
declare("DiagonalEmbed")  # diagonal's backward; applied (and checked to run) by the "layout" case below


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_derivatives_match_torch(name: str) -> None:
    """Hessian-vector products through the twice-differentiable ops of issue 8, against torch (float64)."""
    ops, fn, shapes = SECOND[name]
    rng = np.random.default_rng(7)
    hvp_parity(fn, [rng.uniform(-0.9, 0.9, s) for s in shapes], f"second derivatives ({name})", ops)
