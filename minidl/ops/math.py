"""More elementwise maths: sin, cos, the roundings (floor, ceil, round, trunc), fmod, remainder, and
division with a rounding mode (``div(a, b, rounding_mode="trunc" | "floor")``).

Backwards are written once for ndarrays and Tensors (see the ``minidl.autograd`` docstring):
``_on(x, np.cos, cos)`` picks NumPy's function for an ndarray and minidl's differentiable one for a
Tensor, so the same line records its own graph when ``create_graph=True``.

The roundings are piecewise constant: their derivative is 0 almost everywhere, and torch keeps them
in the graph with a zero gradient (``x.floor()`` of a tensor that requires grad also requires grad).
So do we; a rounded division ``div(a, b, rounding_mode=...)`` likewise has a zero gradient.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from minidl import autograd
from minidl.autograd import Context, Function
from minidl.ops._util import binary_operands, cast
from minidl.tensor import Tensor


def _on(x: Any, np_fn: Callable[..., Any], tensor_fn: Callable[..., Any]) -> Any:
    """``np_fn(x)`` for an ndarray, ``tensor_fn(x)`` (recorded) for a Tensor."""
    return tensor_fn(x) if isinstance(x, Tensor) else np_fn(x)


class Sin(Function):
    """z = sin x.   dz/dx = cos x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        return g * _on(x, np.cos, cos)


class Cos(Function):
    """z = cos x.   dz/dx = -sin x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved
        return -(g * _on(x, np.sin, sin))


class Round(Function):
    """z = floor x, ceil x, round x (half to even, as torch) or trunc x.   dz/dx = 0 almost everywhere."""

    twice_differentiable = True
    KINDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc}

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kind: str, decimals: int = 0) -> np.ndarray:
        if decimals:
            return np.round(x, decimals)
        return Round.KINDS[kind](x)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return ctx.xp.zeros_like(g)


class Fmod(Function):
    """z = x - trunc(x / y) y (C's fmod: the sign of x).   dz/dx = 1,  dz/dy = -trunc(x / y)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.fmod(x, y)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        x, y = ctx.saved
        xa, ya = ctx.xp.data(x), ctx.xp.data(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.trunc(xa / ya)  # piecewise constant: a constant of the recorded graph
        return g, (-(g * q) if ctx.needs_input_grad[1] else None)


class Remainder(Function):
    """z = x - floor(x / y) y (Python's %: the sign of y).   dz/dx = 1,  dz/dy = -floor(x / y)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.remainder(x, y)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        x, y = ctx.saved
        xa, ya = ctx.xp.data(x), ctx.xp.data(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.floor(xa / ya)
        return g, (-(g * q) if ctx.needs_input_grad[1] else None)


class DivRounded(Function):
    """z = trunc(x / y) or floor(x / y).   Piecewise constant: dz/dx = dz/dy = 0 (torch's too).

    Floats: ``floor`` is NumPy's ``floor_divide`` (Python's ``//``, computed from fmod as torch does, so
    ``7.0 // 0.1`` is 69 in both), ``trunc`` is ``trunc(x / y)``. Integers stay integers; an integer
    division by zero raises, as in torch.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, *, mode: str) -> np.ndarray:
        if x.dtype.kind in "biu":
            if np.any(y == 0):
                raise RuntimeError("ZeroDivisionError")
            q = np.floor_divide(x, y)
            if mode == "trunc":  # floor rounds negative quotients down; trunc rounds them up
                q = q + ((np.remainder(x, y) != 0) & ((x < 0) != (y < 0))).astype(q.dtype)
            return q
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.floor_divide(x, y) if mode == "floor" else np.trunc(x / y)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        z = ctx.xp.zeros_like(g)
        return z, z


# --------------------------------------------------------------------------- user-facing functions
def sin(x: Tensor) -> Tensor:
    return Sin.apply(_floating(x))


def cos(x: Tensor) -> Tensor:
    return Cos.apply(_floating(x))


def _round(x: Tensor, kind: str, decimals: int = 0) -> Tensor:
    if x.dtype.kind in "biu":  # already whole numbers (torch returns a copy)
        return Tensor(x._data.copy())
    return Round.apply(x, kind=kind, decimals=int(decimals))


def floor(x: Tensor) -> Tensor:
    return _round(x, "floor")


def ceil(x: Tensor) -> Tensor:
    return _round(x, "ceil")


def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001  (torch's name)
    """Round half to even (torch's and NumPy's rule: 0.5 -> 0, 1.5 -> 2); ``decimals`` digits after the point."""
    return _round(x, "round", decimals)


def trunc(x: Tensor) -> Tensor:
    return _round(x, "trunc")


fix = trunc


def fmod(a: Any, b: Any) -> Tensor:
    """C's remainder: the result has the sign of the dividend ``a`` (``fmod(-7, 3) = -1``)."""
    A, B = binary_operands(a, b)
    _check_int_zero(A, B, "fmod")
    return Fmod.apply(A, B)


def remainder(a: Any, b: Any) -> Tensor:
    """Python's ``%``: the result has the sign of the divisor ``b`` (``remainder(-7, 3) = 2``)."""
    A, B = binary_operands(a, b)
    _check_int_zero(A, B, "remainder")
    return Remainder.apply(A, B)


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``a / b``; with ``rounding_mode="trunc"`` or ``"floor"`` the quotient is rounded (and integer
    inputs give an integer result, as in torch). The rounded quotient has a zero gradient."""
    from minidl.ops.arithmetic import div as true_div
    if rounding_mode is None:
        return true_div(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    A, B = binary_operands(a, b)
    if A.dtype.kind == "b" and B.dtype.kind == "b":
        A, B = cast(A, np.int64), cast(B, np.int64)
    return DivRounded.apply(A, B, mode=rounding_mode)


divide = div


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b`` = ``div(a, b, rounding_mode="floor")``.

    Differs from torch on purpose: torch's floor_divide has no derivative (its backward raises); here it
    is the rounded division, whose gradient is 0.
    """
    return div(a, b, rounding_mode="floor")


def _check_int_zero(A: Tensor, B: Tensor, name: str) -> None:
    if A.dtype.kind in "biu" and B.dtype.kind in "biu" and np.any(B._data == 0):
        raise RuntimeError(f"ZeroDivisionError ({name} of integer tensors by zero)")


def _floating(x: Any) -> Tensor:
    """Integer tensors become the default float dtype (torch's rule for sin, cos...)."""
    if not isinstance(x, Tensor):
        from minidl.ops._util import as_tensor
        x = as_tensor(x)
    return cast(x, autograd.get_default_dtype()) if x.dtype.kind in "biu" else x
