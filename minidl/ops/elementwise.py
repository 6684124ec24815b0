"""Elementwise functions: exp, log, log1p, sqrt, abs, sign, clamp, maximum, minimum, where, and casts.

Backwards are written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``); masks
are computed from the numbers (``xp.data``) and are constants of the recorded graph.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, binary_operands, check_broadcast
from minidl.tensor import Tensor


class Exp(Function):
    """z = e^x.   dz/dx = e^x = z."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        z = np.exp(x)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (z,) = ctx.saved
        return g * z


class Log(Function):
    """z = ln x.   dz/dx = 1/x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return g / x


class Log1p(Function):
    """z = ln(1 + x), accurate for small x.   dz/dx = 1/(1 + x)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        with np.errstate(divide="ignore"):
            return g / (1 + x)


class Sqrt(Function):
    """z = sqrt(x).   dz/dx = 1/(2 sqrt x) = 1/(2z)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            z = np.sqrt(x)
        ctx.save_for_backward(z)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (z,) = ctx.saved
        with np.errstate(divide="ignore"):
            return g / (2 * z)


class Abs(Function):
    """z = |x|.   dz/dx = sign(x)  (0 at x = 0, as in torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        return g * ctx.xp.sign(x)


class Clamp(Function):
    """z = min(max(x, lo), hi).   dz/dx = 1 where lo < x < hi, else 0 (0 exactly at a bound, as torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, min: float | None, max: float | None) -> np.ndarray:
        mask = np.ones(x.shape, dtype=bool)
        if min is not None:
            mask &= x > min
        if max is not None:
            mask &= x < max
        ctx.save_for_backward(mask)
        return np.clip(x, min, max).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved
        return g * mask


class Maximum(Function):
    """z = max(x, y) elementwise.   The gradient goes to the larger input; ties split it in half (torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.maximum(x, y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = ctx.saved
        x, y = ctx.xp.data(x), ctx.xp.data(y)
        share = np.where(x == y, 0.5, 1.0).astype(g.dtype)
        return g * (share * (x >= y)), g * (share * (y >= x))


class Minimum(Function):
    """z = min(x, y) elementwise.   The gradient goes to the smaller input; ties split it in half."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.minimum(x, y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = ctx.saved
        x, y = ctx.xp.data(x), ctx.xp.data(y)
        share = np.where(x == y, 0.5, 1.0).astype(g.dtype)
        return g * (share * (x <= y)), g * (share * (y <= x))


class Where(Function):
    """z = x where cond else y.   dz/dx = cond,  dz/dy = not cond  (cond is not differentiable)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, *, cond: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(cond)
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (cond,) = ctx.saved
        zero = np.zeros((), dtype=g.dtype)
        return ctx.xp.where(cond, g, zero), ctx.xp.where(cond, zero, g)


class Sign(Function):
    """z = sign(x) in {-1, 0, 1}.   dz/dx = 0 (almost everywhere); it stays in the graph, as in torch."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return np.sign(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return ctx.xp.zeros_like(g)


class Cast(Function):
    """z = x converted to another floating dtype.   dz/dx = 1 (the gradient is cast back by the engine)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return g


class Clone(Function):
    """z = a copy of x.   dz/dx = 1."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return x.copy()

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return g


# --------------------------------------------------------------------------- user-facing functions
def exp(x: Tensor) -> Tensor:
    return Exp.apply(_float(x))


def log(x: Tensor) -> Tensor:
    return Log.apply(_float(x))


def log1p(x: Tensor) -> Tensor:
    return Log1p.apply(_float(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(_float(x))


def abs(x: Tensor) -> Tensor:
    return Abs.apply(x)


def sign(x: Tensor) -> Tensor:
    """sign(x); its gradient is 0 (almost everywhere), and the result stays in the graph as torch's does."""
    return Sign.apply(x) if x.dtype.kind in "fc" else Tensor(np.sign(x._data))


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return Clamp.apply(x, min=_scalar(min), max=_scalar(max))


clip = clamp


def maximum(a: Any, b: Any) -> Tensor:
    return Maximum.apply(*binary_operands(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    return Minimum.apply(*binary_operands(a, b))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``condition`` else ``y``, all three broadcast together."""
    cond = np.asarray(condition._data if isinstance(condition, Tensor) else condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
    X, Y = binary_operands(x, y)
    check_broadcast(cond.shape, check_broadcast(X.shape, Y.shape))
    return Where.apply(X, Y, cond=cond)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x.to(dtype)``: differentiable between float dtypes; integer/bool results leave the graph."""
    dt = np.dtype(dtype)
    if x.dtype == dt:
        return x
    if dt.kind != "f":
        return Tensor(x._data.astype(dt))
    return Cast.apply(x, dtype=dt)


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)


def _float(x: Any) -> Tensor:
    from minidl import autograd
    x = as_tensor(x)
    return cast(x, autograd.get_default_dtype()) if x.dtype.kind in "biu" else x


def _scalar(v: Any) -> Any:
    return v.item() if isinstance(v, Tensor) else v
