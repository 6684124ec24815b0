"""Batch normalisation (Ioffe & Szegedy 2015), as one op.

Over the axes ``A`` = every axis but the channel axis 1 (batch, and space for images), with m elements
per channel:

    mu = mean_A x,   var = mean_A (x - mu)^2  (biased),   x^ = (x - mu) / sqrt(var + eps),
    y = gamma x^ + beta.

Backward in training mode (mu and var depend on x), with dx^ = g gamma:

    dL/dx     = (1 / sqrt(var + eps)) (dx^ - mean_A dx^ - x^ mean_A(dx^ x^))
    dL/dgamma = sum_A g x^,      dL/dbeta = sum_A g.

In evaluation mode mu and var are the running statistics (constants), so dL/dx = g gamma / sqrt(var + eps).
"""
from __future__ import annotations

import numpy as np

from minidl.autograd import Context, Function


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


class BatchNorm(Function):
    """y = gamma (x - mu) / sqrt(var + eps) + beta with mu, var given (batch or running statistics)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, *,
                mean: np.ndarray, var: np.ndarray, eps: float, batch_stats: bool) -> np.ndarray:
        shape = _channel_shape(x)
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(shape)
        x_hat = (x - mean.astype(x.dtype).reshape(shape)) * invstd
        ctx.save_for_backward(x_hat, invstd, weight)
        ctx.batch_stats = batch_stats
        y = x_hat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        x_hat, invstd, weight = ctx.saved
        axes = (0,) + tuple(range(2, g.ndim))
        shape = _channel_shape(g)
        dx_hat = g * weight.reshape(shape) if weight is not None else g
        gx = None
        if ctx.needs_input_grad[0]:
            if ctx.batch_stats:
                gx = invstd * (dx_hat - dx_hat.mean(axis=axes, keepdims=True)
                               - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True))
            else:
                gx = dx_hat * invstd
        gw = (g * x_hat).sum(axis=axes) if ctx.needs_input_grad[1] else None
        gb = g.sum(axis=axes) if ctx.needs_input_grad[2] else None
        return gx, gw, gb
