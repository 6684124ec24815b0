"""Batch normalisation (Ioffe & Szegedy 2015), as one op.

Over the axes ``A`` = every axis but the channel axis 1 (batch, and space for images), with m elements
per channel:

    mu = mean_A x,   var = mean_A (x - mu)^2  (biased),   x^ = (x - mu) / sqrt(var + eps),
    y = gamma x^ + beta.

Backward in training mode (mu and var depend on x), with dx^ = g gamma:

    dL/dx     = (1 / sqrt(var + eps)) (dx^ - mean_A dx^ - x^ mean_A(dx^ x^))
    dL/dgamma = sum_A g x^,      dL/dbeta = sum_A g.

In evaluation mode mu and var are the running statistics (constants), so dL/dx = g gamma / sqrt(var + eps).

The backward is written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``). x^ and
1/sqrt(var + eps) are saved for the fast path; when the backward is recorded they are recomputed from
x (``_standardise``), so that the recorded gradient depends on x through them too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd import Context, Function


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _standardise(xp: Any, x: Any, mean: np.ndarray, invstd: np.ndarray, eps: float, batch_stats: bool
                 ) -> tuple[Any, Any]:
    """(x^, 1/sqrt(var + eps)) as functions of x: the batch's statistics, or the given (running) ones."""
    if not batch_stats:
        return (x - mean) * invstd, invstd
    axes = (0,) + tuple(range(2, x.ndim))
    centred = x - xp.mean(x, axis=axes, keepdims=True)
    inv = 1.0 / xp.sqrt(xp.mean(centred * centred, axis=axes, keepdims=True) + eps)
    return centred * inv, inv


class BatchNorm(Function):
    """y = gamma (x - mu) / sqrt(var + eps) + beta with mu, var given (batch or running statistics)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, *,
                mean: np.ndarray, var: np.ndarray, eps: float, batch_stats: bool) -> np.ndarray:
        shape = _channel_shape(x)
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(shape)
        ctx.mean = mean.astype(x.dtype).reshape(shape)
        x_hat = (x - ctx.mean) * invstd
        ctx.save_for_backward(x, weight, x_hat, invstd)
        ctx.batch_stats, ctx.eps = batch_stats, eps
        y = x_hat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        x, weight, x_hat, invstd = ctx.saved
        xp = ctx.xp
        if ctx.create_graph:
            x_hat, invstd = _standardise(xp, x, ctx.mean, invstd, ctx.eps, ctx.batch_stats)
        axes = (0,) + tuple(range(2, g.ndim))
        shape = _channel_shape(g)
        dx_hat = g * weight.reshape(shape) if weight is not None else g
        gx = None
        if ctx.needs_input_grad[0]:
            if ctx.batch_stats:
                gx = invstd * (dx_hat - xp.mean(dx_hat, axis=axes, keepdims=True)
                               - x_hat * xp.mean(dx_hat * x_hat, axis=axes, keepdims=True))
            else:
                gx = dx_hat * invstd
        gw = xp.sum(g * x_hat, axis=axes) if ctx.needs_input_grad[1] else None
        gb = xp.sum(g, axis=axes) if ctx.needs_input_grad[2] else None
        return gx, gw, gb
