"""Reductions: sum, mean, var, std, max, min, argmax, argmin (with ``dim``, ``keepdim``, negative
and tuple dims). Each backward first puts back the reduced axes (``_expand``), then broadcasts.
Backwards are written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``)."""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any, Sequence

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import cast, normalize_dim, normalize_dims
from minidl.tensor import Tensor

MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _expand(xp: Any, g: Any, axes: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]) -> Any:
    """Broadcast the gradient of a reduction back to the input's ``shape``."""
    if not keepdim and axes:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, shape)


class Sum(Function):
    """z = sum_i x_i over ``dim``.   dz/dx_i = 1: the gradient is copied to every summed element."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        return np.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return _expand(ctx.xp, g, ctx.axes, ctx.keepdim, ctx.shape)


class Mean(Function):
    """z = (1/n) sum_i x_i.   dz/dx_i = 1/n."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        ctx.n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return _expand(ctx.xp, g / np.asarray(ctx.n, dtype=g.dtype), ctx.axes, ctx.keepdim, ctx.shape)


class Var(Function):
    """z = sum_i (x_i - m)^2 / (n - c) with m the mean and c the correction (1 = unbiased).

    dz/dx_i = 2 (x_i - m) / (n - c)   (the terms through m cancel because sum_i (x_i - m) = 0).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axes: tuple[int, ...], keepdim: bool, correction: int) -> np.ndarray:
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        ctx.denom = builtins.max(n - correction, 0)
        centred = x - np.mean(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.sum(centred * centred, axis=axes, keepdims=keepdim) / ctx.denom).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        xp = ctx.xp
        centred = x - xp.mean(x, axis=ctx.axes, keepdims=True)  # recomputed: a function of x when recording
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.asarray(2.0 / ctx.denom if ctx.denom else np.inf, dtype=g.dtype)
        return _expand(xp, g, ctx.axes, ctx.keepdim, ctx.shape) * centred * scale


class MaxAll(Function):
    """z = max_i x_i over all elements.   The gradient is shared evenly among tied maxima (torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, take_min: bool = False) -> np.ndarray:
        z = np.min(x) if take_min else np.max(x)
        ctx.save_for_backward(x == z)
        return np.asarray(z)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (ties,) = ctx.saved
        return (g / np.asarray(ties.sum(), dtype=g.dtype)) * ties


class MaxDim(Function):
    """z = x at ``index`` along ``dim`` (the arg-max or arg-min).   The gradient goes to that one element."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int, index: np.ndarray, keepdim: bool) -> np.ndarray:
        ctx.dim, ctx.keepdim, ctx.shape = dim, keepdim, x.shape
        ctx.save_for_backward(index)
        z = np.take_along_axis(x, index, axis=dim)
        return z if keepdim else np.squeeze(z, axis=dim)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (index,) = ctx.saved
        xp = ctx.xp
        return xp.scatter_along(ctx.shape, index, g if ctx.keepdim else xp.expand_dims(g, ctx.dim), ctx.dim)


# --------------------------------------------------------------------------- user-facing functions
def sum(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtype)
    elif x.dtype.kind in "bi" and x.dtype != np.int64:
        x = cast(x, np.int64)  # torch sums bool/int32 into int64
    return Sum.apply(x, axes=normalize_dims(dim, x.ndim), keepdim=keepdim)


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dtype is not None:
        x = cast(x, dtype)
    if x.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be floating point, got {x.dtype}")
    return Mean.apply(x, axes=normalize_dims(dim, x.ndim), keepdim=keepdim)


def _correction(unbiased: bool | None, correction: int | None) -> int:
    if correction is not None:
        return int(correction)
    return 0 if unbiased is False else 1


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """Variance; ``unbiased=True`` (default) divides by n - 1, ``correction=c`` by n - c."""
    if isinstance(dim, bool):  # torch's var(x, False) means unbiased=False
        dim, unbiased = None, dim
    return Var.apply(x, axes=normalize_dims(dim, x.ndim), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """Standard deviation, sqrt(var): its gradient is dvar / (2 std), by the chain rule."""
    from minidl.ops.elementwise import sqrt
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def _extremum(x: Tensor, dim: Any, keepdim: bool, take_min: bool) -> Any:
    from minidl.ops.elementwise import maximum, minimum
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        return minimum(x, dim) if take_min else maximum(x, dim)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() == 0.")
        return MaxAll.apply(x, take_min=take_min)
    d = normalize_dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"max(): Expected reduction dim {d} to have non-zero size.")
    data = x._data if x.ndim else x._data.reshape(1)
    index = (np.argmin if take_min else np.argmax)(data, axis=d if x.ndim else 0, keepdims=True)
    if not x.ndim:
        index = index.reshape(())
        return (MinResult if take_min else MaxResult)(x.clone(), Tensor(np.asarray(0, np.int64)))
    values = MaxDim.apply(x, dim=d, index=index, keepdim=keepdim)
    indices = Tensor((index if keepdim else np.squeeze(index, axis=d)).astype(np.int64))
    return (MinResult if take_min else MaxResult)(values, indices)


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """``max(x)`` -> the largest value; ``max(x, dim)`` -> (values, indices); ``max(x, y)`` -> maximum."""
    return _extremum(x, dim, keepdim, take_min=False)


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return _extremum(x, dim, keepdim, take_min=True)


def amax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return max(x) if dim is None else max(x, dim, keepdim).values


def amin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return min(x) if dim is None else min(x, dim, keepdim).values


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (flattened when ``dim`` is None); first one on ties."""
    if dim is None:
        return Tensor(np.asarray(np.argmax(x._data), dtype=np.int64))
    d = normalize_dim(dim, x.ndim)
    return Tensor(np.argmax(x._data, axis=d, keepdims=keepdim).astype(np.int64))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return Tensor(np.asarray(np.argmin(x._data), dtype=np.int64))
    d = normalize_dim(dim, x.ndim)
    return Tensor(np.argmin(x._data, axis=d, keepdims=keepdim).astype(np.int64))
