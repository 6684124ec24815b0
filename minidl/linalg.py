"""``minidl.linalg``: differentiable linear algebra on (batches of) square matrices, torch's names.

    inv(A)  solve(A, B)  cholesky(A)  det(A)  slogdet(A)  vector_norm / matrix_norm / norm

Derivatives (matrix calculus with <G, dZ> = trace(G^T dZ); batches are independent):
* inverse, Z = A^-1: dZ = -Z dA Z, so dL/dA = -Z^T G Z^T.
* solve, X = A^-1 B: dL/dB = A^-T G (one more solve), dL/dA = -(dL/dB) X^T.
* determinant: d det(A) = det(A) trace(A^-1 dA), so dL/dA = g det(A) A^-T; for log|det A|, g A^-T.
* Cholesky, A = L L^T (Murray 2016, "Differentiation of the Cholesky decomposition"): with
  P = Phi(L^T G) (the lower triangle, diagonal halved) and P symmetrised, dL/dA = L^-T P L^-1. The
  result is symmetric: A's two triangles share each gradient (torch's convention).

A singular or non-positive-definite matrix raises ``LinAlgError`` (a RuntimeError, as torch's).
Deliberately simpler than torch: det/slogdet of a singular matrix have no gradient (torch uses an SVD).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, normalize_dims
from minidl.tensor import Tensor

SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


class LinAlgError(RuntimeError):
    """A factorisation or inverse that does not exist (torch.linalg.LinAlgError is a RuntimeError too)."""


def _mT(a: Any) -> Any:
    """The transpose of the last two dims (ndarray or Tensor)."""
    return a.transpose(-1, -2) if isinstance(a, Tensor) else np.swapaxes(a, -1, -2)


def _np_inv(a: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise LinAlgError(f"{name}: The diagonal element of the LU factorisation is zero: the input {a.shape} "
                          f"is singular") from None


class Inv(Function):
    """Z = A^-1.   dL/dA = -Z^T G Z^T."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        z = _np_inv(a, "linalg.inv")
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (z,) = ctx.saved
        xp = ctx.xp
        return -xp.matmul(xp.matmul(_mT(z), g), _mT(z))


class Solve(Function):
    """X = A^-1 B with B: (..., n, k).   dL/dB = A^-T G,  dL/dA = -(dL/dB) X^T."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            x = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise LinAlgError(f"linalg.solve: The solver failed because the input matrix A {a.shape} is "
                              f"singular.") from None
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        a, x = ctx.saved
        gb = Solve.apply(_mT(a), g) if isinstance(g, Tensor) else np.linalg.solve(_mT(a), g)
        ga = -ctx.xp.matmul(gb, _mT(x)) if ctx.needs_input_grad[0] else None
        return ga, gb


def _inv_any(a: Any, name: str) -> Any:
    """A^-1: the recorded ``Inv`` op for a Tensor, NumPy for an ndarray."""
    return Inv.apply(a) if isinstance(a, Tensor) else _np_inv(a, name)


def _tril_any(a: Any, k: int = 0) -> Any:
    if isinstance(a, Tensor):
        from minidl.ops.layout import tril
        return tril(a, k)
    return np.tril(a, k)


class Cholesky(Function):
    """L lower triangular with A = L L^T.   dL/dA = L^-T sym(Phi(L^T G)) L^-1 (see the module docstring)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        try:
            low = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise LinAlgError(f"linalg.cholesky: The factorization could not be completed because the input "
                              f"{a.shape} is not positive-definite.") from None
        ctx.save_for_backward(low)
        return low

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (low,) = ctx.saved
        xp = ctx.xp
        p = _tril_any(xp.matmul(_mT(low), g))
        p = (p + _mT(_tril_any(p, -1))) * 0.5      # symmetric, diagonal halved
        linv = _inv_any(low, "linalg.cholesky backward")
        return xp.matmul(xp.matmul(_mT(linv), p), linv)


class Det(Function):
    """d = det A.   dL/dA = g d A^-T."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        d = np.asarray(np.linalg.det(a))
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        a, d = ctx.saved
        return ctx.xp.expand_dims(g * d, (-2, -1)) * _mT(_inv_any(a, "linalg.det backward"))


class LogAbsDet(Function):
    """l = log |det A|.   dL/dA = g A^-T."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.asarray(np.linalg.slogdet(a)[1])

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (a,) = ctx.saved
        return ctx.xp.expand_dims(g, (-2, -1)) * _mT(_inv_any(a, "linalg.slogdet backward"))


# --------------------------------------------------------------------------- user-facing functions
def _square(a: Any, name: str) -> Tensor:
    a = as_tensor(a)
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions (got shape {tuple(a.shape)}).")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices (shape {tuple(a.shape)})")
    if a.dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {a.dtype}")
    return a


def inv(A: Tensor) -> Tensor:
    """A^-1 for a square matrix or a batch of them (LinAlgError when singular)."""
    return Inv.apply(_square(A, "linalg.inv"))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B. B is a batch of vectors (..., n) when its shape is A's without the last dim (or 1-D)."""
    if not left:
        raise NotImplementedError("linalg.solve(left=False) is not implemented in minidl; solve A^T X^T = B^T")
    A = _square(A, "linalg.solve")
    B = as_tensor(B)
    if B.dtype != A.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type {A.dtype} "
                           f"and B of type {B.dtype} instead")
    vector = B.ndim == 1 or tuple(B.shape) == tuple(A.shape[:-1])
    B2 = B.unsqueeze(-1) if vector else B
    if B2.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B2.shape[-2]}x{B2.shape[-1]}; A {tuple(A.shape)}, "
                           f"B {tuple(B.shape)})")
    from minidl.ops._util import check_broadcast
    check_broadcast(tuple(A.shape[:-2]), tuple(B2.shape[:-2]))
    X = Solve.apply(A, B2)
    return X.squeeze(-1) if vector else X


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """Lower-triangular L with A = L L^T (``upper=True``: U = L^T with A = U^T U)."""
    low = Cholesky.apply(_square(A, "linalg.cholesky"))
    return low.transpose(-1, -2) if upper else low


def det(A: Tensor) -> Tensor:
    return Det.apply(_square(A, "linalg.det"))


def slogdet(A: Tensor) -> SlogdetResult:
    """(sign, log|det A|): the log-determinant without overflow; only ``logabsdet`` carries a gradient."""
    A = _square(A, "linalg.slogdet")
    sign = Tensor(np.asarray(np.linalg.slogdet(A._data)[0]))
    return SlogdetResult(sign, LogAbsDet.apply(A))


def logdet(A: Tensor) -> Tensor:
    """log det A: NaN where det A < 0, -inf where it is 0 (torch's convention)."""
    sign, logabs = slogdet(A)
    from minidl.ops.elementwise import where
    return where(Tensor(sign._data < 0), Tensor(np.asarray(np.nan, dtype=logabs.dtype)), logabs)


def cross(a: Tensor, b: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (torch.linalg.cross's default is the last dim)."""
    from minidl.ops.composite import cross as _cross
    return _cross(a, b, dim)


def matrix_power(A: Tensor, n: int) -> Tensor:
    """A^n by repeated squaring (n < 0: the inverse's power; n = 0: the identity)."""
    A = _square(A, "linalg.matrix_power")
    if n < 0:
        A, n = inv(A), -n
    from minidl.creation import eye
    result = eye(A.shape[-1], dtype=A.dtype).expand(*A.shape)
    base = A
    while n:
        if n & 1:
            result = result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def multi_dot(tensors: Any) -> Tensor:
    """The product of a chain of matrices (the first and last may be vectors), left to right."""
    ts = list(tensors)
    out = ts[0]
    for t in ts[1:]:
        out = out @ t
    return out


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    return (x * y).sum(dim)


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with A X = B for triangular A; only A's triangle is read, so only it gets a gradient."""
    from minidl.ops.layout import tril, triu
    T = triu(A) if upper else tril(A)
    if unitriangular:
        from minidl.creation import eye
        n = A.shape[-1]
        mask = eye(n, dtype=A.dtype)
        T = T * (1 - mask) + mask
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve(T.transpose(-1, -2), B.transpose(-1, -2)).transpose(-1, -2)
    return solve(T, B)


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """(sum |x_i|^ord)^(1/ord) over ``dim`` (all elements by default); ord may be inf, -inf or 0."""
    from minidl.ops.scan import norm as _norm
    return _norm(x, float(ord), dim, keepdim, dtype)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1), keepdim: bool = False) -> Tensor:
    """The Frobenius norm of the matrices in dims ``dim`` (other orders are not implemented in minidl)."""
    if ord != "fro":
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} is not implemented in minidl (only 'fro')")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions "
                           f"(got shape {tuple(A.shape)}).")
    return vector_norm(A, 2, tuple(normalize_dims(dim, A.ndim)), keepdim)


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """torch.linalg.norm: the 2-norm of the flattened input by default; a vector ``ord`` for an int ``dim`` or a
    1-D input; a matrix ``ord`` ('fro') for a 2-D input or a pair of dims."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    matrix = (dim is None and A.ndim == 2) or (dim is not None and not isinstance(dim, int) and len(dim) == 2)
    if matrix:
        return matrix_norm(A if dtype is None else A.to(dtype), ord, (-2, -1) if dim is None else tuple(dim), keepdim)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)
