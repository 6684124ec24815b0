"""Arithmetic: add, sub, mul, div, neg, pow, matmul.

Each backward returns the gradient for the *broadcast* shape; the engine sums it back to each
input's shape (``autograd._unbroadcast``), so nothing here worries about broadcasting.

Every backward here is written once for ndarrays and Tensors (``xp = ctx.xp``, see the
``minidl.autograd`` docstring), so all of these ops are twice differentiable.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import autograd
from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, binary_operands, cast
from minidl.tensor import Tensor


class Add(Function):
    """z = x + y.   dz/dx = 1,  dz/dy = 1."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return g, g


class Sub(Function):
    """z = x - y.   dz/dx = 1,  dz/dy = -1."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x - y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return g, -g


class Mul(Function):
    """z = x * y.   dz/dx = y,  dz/dy = x."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, y = ctx.saved
        return (g * y if ctx.needs_input_grad[0] else None,
                g * x if ctx.needs_input_grad[1] else None)


class Div(Function):
    """z = x / y.   dz/dx = 1/y,  dz/dy = -x/y^2 = -z/y."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = x / y
        ctx.save_for_backward(y, z)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        y, z = ctx.saved
        gx = g / y
        return gx, (-gx * z if ctx.needs_input_grad[1] else None)


class Neg(Function):
    """z = -x.   dz/dx = -1."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return -g


class PowScalar(Function):
    """z = x^c for a constant c.   dz/dx = c x^(c-1)  (0 when c = 0, as in torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, exponent: float) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return np.power(x, exponent)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        c, xp = ctx.exponent, ctx.xp
        if c == 0:
            return xp.zeros_like(g)
        return g * xp.astype(c * xp.power(x, c - 1), x.dtype)


class Pow(Function):
    """z = x^y for tensors.   dz/dx = y x^(y-1),   dz/dy = x^y ln x  (0 where x = 0 and y >= 0)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = np.power(x, y)
        ctx.save_for_backward(x, y, z)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, y, z = ctx.saved
        xp = ctx.xp
        xa, ya = xp.data(x), xp.data(y)  # the numbers, for the masks (constants)
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = g * xp.astype(xp.where(ya == 0, 0.0, y * xp.power(x, y - 1)), g.dtype)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gy = g * xp.astype(xp.where((xa == 0) & (ya >= 0), 0.0, z * xp.log(x)), g.dtype)
        return gx, gy


class Matmul(Function):
    """z = x @ y with NumPy/torch matmul semantics (1-D, 2-D, batched, broadcast batch dims).

    For matrices, dL/dx = g y^T and dL/dy = x^T g. A 1-D operand is treated as a row (x) or a
    column (y) vector and the extra axis is removed again; the engine sums broadcast batch dims.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.matmul(x, y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, y = ctx.saved
        xp = ctx.xp
        x2 = x[None, :] if x.ndim == 1 else x          # (..., n, k)
        y2 = y[:, None] if y.ndim == 1 else y          # (..., k, m)
        g2 = g
        if y.ndim == 1:
            g2 = xp.expand_dims(g2, -1)                # restore the m = 1 axis
        if x.ndim == 1:
            g2 = xp.expand_dims(g2, -2)                # restore the n = 1 axis
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = xp.matmul(g2, xp.swapaxes(y2, -1, -2))
            if x.ndim == 1:
                gx = gx[..., 0, :]
        if ctx.needs_input_grad[1]:
            gy = xp.matmul(xp.swapaxes(x2, -1, -2), g2)
            if y.ndim == 1:
                gy = gy[..., 0]
        return gx, gy


# --------------------------------------------------------------------------- user-facing functions
def add(a: Any, b: Any, *, alpha: float = 1.0) -> Tensor:
    A, B = binary_operands(a, b if alpha == 1 else b * alpha)
    return Add.apply(A, B)


def sub(a: Any, b: Any, *, alpha: float = 1.0) -> Tensor:
    A, B = binary_operands(a, b if alpha == 1 else b * alpha)
    return Sub.apply(A, B)


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(*binary_operands(a, b))


def div(a: Any, b: Any) -> Tensor:
    A, B = binary_operands(a, b)
    if A.dtype.kind in "biu" and B.dtype.kind in "biu":  # true division of integers gives floats
        A, B = cast(A, autograd.get_default_dtype()), cast(B, autograd.get_default_dtype())
    return Div.apply(A, B)


true_divide = divide = div
multiply = mul
subtract = sub


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


negative = neg


def pow(x: Any, exponent: Any) -> Tensor:
    """``x ** exponent``; a Python-number exponent uses the cheaper ``PowScalar``."""
    if isinstance(x, Tensor) and isinstance(exponent, (int, float, np.number)) and not isinstance(exponent, bool):
        if x.dtype.kind in "iu" and isinstance(exponent, (float, np.floating)):
            x = cast(x, autograd.get_default_dtype())
        return PowScalar.apply(x, exponent=exponent)
    return Pow.apply(*binary_operands(x, exponent))


def matmul(a: Any, b: Any) -> Tensor:
    A, B = as_tensor(a), as_tensor(b)
    if A.ndim == 0 or B.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{A.ndim}D and {B.ndim}D")
    k_a = A.shape[-1]
    k_b = B.shape[0] if B.ndim == 1 else B.shape[-2]
    if k_a != k_b:
        sa = "x".join(map(str, A.shape))
        sb = "x".join(map(str, B.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    if A.ndim > 2 or B.ndim > 2:
        from minidl.ops._util import check_broadcast
        check_broadcast(tuple(A.shape[:-2]), tuple(B.shape[:-2] if B.ndim > 1 else ()))
    if A.dtype != B.dtype:
        A, B = binary_operands(A, B)
    return Matmul.apply(A, B)


mm = bmm = matmul


def floor_divide(a: Any, b: Any) -> Tensor:
    """Integer-valued division; not differentiable (torch's gradient is 0 almost everywhere)."""
    A, B = binary_operands(a, b)
    return Tensor(np.floor_divide(A._data, B._data))


def remainder(a: Any, b: Any) -> Tensor:
    A, B = binary_operands(a, b)
    return Tensor(np.remainder(A._data, B._data))


def compare(op: Any, a: Any, b: Any) -> Tensor:
    """Elementwise comparison -> bool tensor, outside the graph."""
    A, B = binary_operands(a, b)
    return Tensor(op(A._data, B._data))
