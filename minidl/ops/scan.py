"""Scans and more reductions: cumsum, cumprod, prod, norm, mode, and the logical all / any.

Derivatives:
* cumsum: z_i = sum_{j<=i} x_j, so dL/dx_j = sum_{i>=j} g_i, a cumsum of g run backwards.
* prod: dL/dx_j = g prod_{k!=j} x_k. We compute "the product of the others" as (product of those
  before j) x (product of those after j), two exclusive cumprods, which stays right when some
  x_k = 0 (dividing the product by x_j would give 0/0 there).
* cumprod: dL/dx_j = sum_{i>=j} g_i prod_{k<=i, k!=j} x_k; without zeros it is revcumsum(g z) / x.
* p-norm: n = (sum |x|^p)^(1/p), dn/dx = sign(x) |x|^(p-1) / n^(p-1); for p = 2, x / n; for p = inf,
  sign(x) shared evenly by the largest |x|. At n = 0 the gradient is 0 (torch's choice).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import cast, normalize_dim, normalize_dims
from minidl.tensor import Tensor

ModeResult = namedtuple("mode", ["values", "indices"])


def _rev_cumsum(g: Any, dim: int) -> Any:
    """sum_{i>=j} g_i along ``dim``: flip, cumsum, flip (recorded for a Tensor)."""
    if isinstance(g, Tensor):
        from minidl.ops.layout import flip
        return flip(cumsum(flip(g, dim), dim), dim)
    return np.flip(np.cumsum(np.flip(g, dim), dim), dim)


class Cumsum(Function):
    """z_i = sum_{j<=i} x_j along ``dim``.   dL/dx_j = sum_{i>=j} g_i."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int) -> np.ndarray:
        ctx.dim = dim
        return np.cumsum(x, axis=dim, dtype=x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _rev_cumsum(g, ctx.dim)


def _others_product(x: np.ndarray, dim: int) -> np.ndarray:
    """prod_{k != j} x_k along ``dim``, for every j, without dividing (exact with zeros)."""
    ones = np.ones_like(np.take(x, [0], axis=dim))
    before = np.cumprod(np.concatenate([ones, np.take(x, np.arange(x.shape[dim] - 1), axis=dim)], dim), axis=dim)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(np.take(x, np.arange(1, x.shape[dim]), axis=dim), dim)],
                                              dim), axis=dim), dim)
    return before * after


class Cumprod(Function):
    """z_i = prod_{j<=i} x_j along ``dim``.   dL/dx_j = sum_{i>=j} g_i prod_{k<=i, k!=j} x_k."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int) -> np.ndarray:
        ctx.dim = dim
        z = np.cumprod(x, axis=dim, dtype=x.dtype)
        ctx.save_for_backward(x, z)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        x, z = ctx.saved
        d = ctx.dim
        if np.all(x != 0):
            return _rev_cumsum(g * z, d) / x
        n = x.shape[d]
        out = np.empty_like(g)
        for j in range(n):  # zeros present: the O(n^2) sum, vectorised over the other dims
            xj = x.copy()
            np.moveaxis(xj, d, 0)[j] = 1
            part = np.cumprod(xj, axis=d)
            tail = np.take(g * part, np.arange(j, n), axis=d).sum(axis=d)
            np.moveaxis(out, d, 0)[j] = tail
        return out


class Prod(Function):
    """z = prod_j x_j over one dim (or all: ``dim=None`` flattens).   dL/dx_j = g prod_{k!=j} x_k."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int | None, keepdim: bool) -> np.ndarray:
        ctx.dim, ctx.keepdim, ctx.shape = dim, keepdim, x.shape
        ctx.save_for_backward(x)
        return np.asarray(np.prod(x, axis=dim, keepdims=keepdim and dim is not None, dtype=x.dtype))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        if ctx.dim is None:
            return (g * _others_product(x.reshape(-1), 0)).reshape(ctx.shape)
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        return g * _others_product(x, ctx.dim)


class Norm(Function):
    """n = (sum |x|^p)^(1/p) over ``axes`` (p = 2: sqrt(sum x^2); p = inf: max |x|; p = 0: the count of
    non-zeros, with zero gradient).   dn/dx = sign(x) |x|^(p-1) / n^(p-1); 0 where n = 0.

    The backward recomputes n from x (with ``xp``), so that it is a function of x when recording: the
    gradient penalty ||d D / d x|| of a WGAN-GP is differentiated through this backward.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, p: float, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        a = np.abs(x)
        if p == np.inf:
            n = np.max(a, axis=axes, keepdims=True)
        elif p == -np.inf:
            n = np.min(a, axis=axes, keepdims=True)
        elif p == 0:
            n = np.sum(a != 0, axis=axes, keepdims=True).astype(x.dtype)
        elif p == 2:
            n = np.sqrt(np.sum(a * a, axis=axes, keepdims=True))
        elif p == 1:
            n = np.sum(a, axis=axes, keepdims=True)
        else:
            n = np.sum(a ** p, axis=axes, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, n)
        return n if keepdim else np.squeeze(n, axis=axes)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, n_const = ctx.saved
        p, axes, xp = ctx.p, ctx.axes, ctx.xp
        if not ctx.keepdim:
            g = xp.expand_dims(g, axes)
        xa = xp.data(x)
        sign = np.sign(xa)                      # piecewise constant: a constant of the recorded graph
        if p == 0:
            return xp.zeros_like(x)
        if p == 1:
            return g * sign
        if np.isinf(p):                         # the extreme |x|, sharing the gradient evenly on ties
            hit = (np.abs(xa) == n_const).astype(xa.dtype)
            return g * (sign * hit / np.sum(hit, axis=axes, keepdims=True))
        absx = x * sign
        n = xp.sqrt(xp.sum(x * x, axis=axes, keepdims=True)) if p == 2 else \
            xp.power(xp.sum(xp.power(absx, p), axis=axes, keepdims=True), 1.0 / p)
        n_safe = n + (xp.data(n) == 0).astype(xa.dtype)   # n = 0: the gradient is 0, not 0/0
        if p == 2:
            return g * (x / n_safe)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (sign * xp.power(absx, p - 1) / xp.power(n_safe, p - 1))


# --------------------------------------------------------------------------- user-facing functions
def _acc_dtype(x: Tensor, dtype: Any) -> Tensor:
    if dtype is not None:
        return cast(x, dtype)
    if x.dtype.kind in "bi" and x.dtype != np.int64:
        return cast(x, np.int64)  # torch accumulates bool/int32 in int64
    return x


def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    x = _acc_dtype(x, dtype)
    if not x.ndim:
        return x.clone()
    return Cumsum.apply(x, dim=normalize_dim(dim, x.ndim))


def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    x = _acc_dtype(x, dtype)
    if not x.ndim:
        return x.clone()
    return Cumprod.apply(x, dim=normalize_dim(dim, x.ndim))


def prod(x: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    x = _acc_dtype(x, dtype)
    d = None if dim is None or not x.ndim else normalize_dim(dim, x.ndim)
    if dim is not None and not x.ndim:
        normalize_dim(dim, 0)
    return Prod.apply(x, dim=d, keepdim=keepdim)


def _logical(x: Tensor, dim: Any, keepdim: bool, fn: Any) -> Tensor:
    axes = normalize_dims(dim, x.ndim)
    out = fn(x._data.astype(bool), axis=axes, keepdims=keepdim and dim is not None)
    return Tensor(np.asarray(out).astype(np.uint8 if x.dtype == np.uint8 else np.bool_))


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001  (torch's name)
    """True where every element (along ``dim``) is non-zero; a bool tensor outside the graph."""
    return _logical(x, dim, keepdim, np.all)


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return _logical(x, dim, keepdim, np.any)


def _p_value(p: Any) -> float:
    if p in ("fro", None):
        return 2.0
    if isinstance(p, str):
        raise RuntimeError(f"norm: p = '{p}' is not supported by minidl (use 'fro' or a number)")
    return float(p)


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """The p-norm of all elements (``dim=None``) or along ``dim``: ``x.norm()`` is sqrt(sum x^2)."""
    if dtype is not None:
        x = cast(x, dtype)
    if x.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {x.dtype}")
    return Norm.apply(x, p=_p_value(p), axes=normalize_dims(dim, x.ndim), keepdim=keepdim)


def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> ModeResult:
    """The most frequent value along ``dim`` (the smallest one on ties) and the index of its last
    occurrence, as torch returns them."""
    from minidl.ops.indexing import Gather
    d = normalize_dim(dim, x.ndim)
    if not x.ndim:
        return ModeResult(x.clone(), Tensor(np.asarray(0, dtype=np.int64)))
    data = np.moveaxis(x._data, d, -1)
    lead = data.shape[:-1]
    flat = data.reshape(-1, data.shape[-1])
    idx = np.empty(flat.shape[0], dtype=np.int64)
    for r, row in enumerate(flat):
        vals, counts = np.unique(row, return_counts=True)
        best = vals[np.argmax(counts)]  # np.unique sorts, argmax takes the first: the smallest on ties
        idx[r] = np.flatnonzero(row == best)[-1]
    index = np.moveaxis(idx.reshape(lead + (1,)), -1, d)
    values = Gather.apply(x, dim=d, index=index)
    if not keepdim:
        values, index = values.squeeze(d), np.squeeze(index, d)
    return ModeResult(values, Tensor(index))

