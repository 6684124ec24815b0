"""Activations: tanh, sigmoid, relu, leaky_relu, softmax, log_softmax, logsumexp, dropout.

Backwards are written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``): the
saved output (h, s, y, z) is the output tensor itself when the backward is recorded, so
``1 - h * h`` is then a function of x, as the second derivative needs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import kernels as K
from minidl import random as _random
from minidl.autograd import Context, Function
from minidl.ops._util import normalize_dim, normalize_dims
from minidl.ops._xp import expit  # scipy.special.expit, imported on first use
from minidl.tensor import Tensor


class Tanh(Function):
    """h = tanh(x).   dh/dx = 1 - h^2   (the course's (1 - h^2) factor in the MLP backward)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        h = np.tanh(x)
        ctx.save_for_backward(h)
        return h

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (h,) = ctx.saved
        return g * (1 - h * h)


class Sigmoid(Function):
    """s = 1 / (1 + e^-x) (computed without overflow).   ds/dx = s (1 - s)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        s = expit(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (s,) = ctx.saved
        return g * s * (1 - s)


class ReLU(Function):
    """z = max(x, 0).   dz/dx = 1 where x > 0, else 0 (0 at x = 0, as in torch)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        z, positive = K.relu_forward(x)          # x * (x > 0), parallel on large arrays
        ctx.save_for_backward(positive)
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (positive,) = ctx.saved
        return ctx.xp.mask_multiply(g, positive)  # g * positive (a constant mask: recorded as such)


class LeakyReLU(Function):
    """z = x if x > 0 else a x.   dz/dx = 1 if x > 0 else a."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, negative_slope: float) -> np.ndarray:
        z, positive = K.leaky_relu_forward(x, negative_slope)   # where(x > 0, x, a x), parallel on large arrays
        ctx.save_for_backward(positive)
        ctx.a = negative_slope
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (positive,) = ctx.saved
        return ctx.xp.leaky_mask_multiply(g, positive, ctx.a)   # where(positive, g, g a)


class Softmax(Function):
    """y_i = e^{x_i} / sum_j e^{x_j} along ``dim`` (shifted by the max for stability).

    dL/dx_i = y_i (g_i - sum_j g_j y_j)   (the Jacobian diag(y) - y y^T applied to g).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int) -> np.ndarray:
        e = np.exp(x - np.max(x, axis=dim, keepdims=True))
        y = e / np.sum(e, axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (y,) = ctx.saved
        return y * (g - ctx.xp.sum(g * y, axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """z_i = x_i - log sum_j e^{x_j}.   dL/dx_i = g_i - softmax(x)_i sum_j g_j.

    With a one-hot y and L = -sum_i y_i z_i this is softmax(x) - y: the course's dL/dy~ = y^ - y.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int) -> np.ndarray:
        shifted = x - np.max(x, axis=dim, keepdims=True)
        z = shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
        ctx.save_for_backward(z)
        ctx.dim = dim
        return z

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (z,) = ctx.saved
        xp = ctx.xp
        return g - xp.exp(z) * xp.sum(g, axis=ctx.dim, keepdims=True)


class LogSumExp(Function):
    """z = log sum_i e^{x_i} over ``dim`` = m + log sum_i e^{x_i - m}, m = max.   dz/dx_i = softmax(x)_i."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # rows of -inf give -inf, not NaN
        with np.errstate(divide="ignore"):
            z = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
        out = z if keepdim else np.squeeze(z, axis=axes)
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        x, z = ctx.saved
        xp = ctx.xp
        if not ctx.keepdim:
            g, z = xp.expand_dims(g, ctx.axes), xp.expand_dims(z, ctx.axes)
        return g * xp.exp(x - z)


class Dropout(Function):
    """z = x * m / (1 - p) with m ~ Bernoulli(1 - p) (inverted dropout).   dz/dx = m / (1 - p)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, mask: np.ndarray, scale: float) -> np.ndarray:
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return x * mask * np.asarray(scale, x.dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (mask,) = ctx.saved
        return g * mask * np.asarray(ctx.scale, g.dtype)


# --------------------------------------------------------------------------- user-facing functions
def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(x)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from minidl.ops._util import cast
    if dtype is not None:
        x = cast(x, dtype)
    return Softmax.apply(x, dim=normalize_dim(dim, x.ndim))


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    from minidl.ops._util import cast
    if dtype is not None:
        x = cast(x, dtype)
    return LogSoftmax.apply(x, dim=normalize_dim(dim, x.ndim))


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    return LogSumExp.apply(x, axes=normalize_dims(dim, x.ndim), keepdim=keepdim)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Any = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return Dropout.apply(x, mask=np.zeros(x.shape, dtype=x.dtype), scale=0.0)
    keep = _random.generator(generator).random(x.shape) >= p
    return Dropout.apply(x, mask=keep.astype(x.dtype), scale=1.0 / (1.0 - p))


def dropout_mask(shape: tuple[int, ...], p: float, dtype: Any, generator: Any = None) -> np.ndarray:
    """A Bernoulli(1 - p) keep-mask (used by Dropout2d, which drops whole channels)."""
    return (_random.generator(generator).random(shape) >= p).astype(dtype)
