"""Convolution and pooling ops: thin ``Function`` wrappers around the Numba kernels in
``minidl/kernels`` (where the loops, and their plain-NumPy references, live).

Convolution (cross-correlation, as in every deep-learning library), for x: (N, C, H, W) and
w: (O, C, kh, kw):

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x[n, c, s i + d u - p, s j + d v - p]

Differentiating this sum term by term gives the three gradients:

    dL/db[o]          = sum_{n, i, j} g[n, o, i, j]
    dL/dw[o, c, u, v] = sum_{n, i, j} g[n, o, i, j] x[n, c, s i + d u - p, s j + d v - p]   (a correlation of x with g)
    dL/dx             = the transposed convolution of g with w                               (a "full" convolution)

A transposed convolution is exactly that input gradient used as a forward op, so its backward swaps
the roles: dL/dx is a convolution of g with w, dL/dw the same weight-gradient kernel with x and g swapped.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import kernels as K
from minidl.autograd import Context, Function
from minidl.kernels.shapes import pair


class Conv2d(Function):
    """y = conv2d(x, w) + b (see the module docstring for the three gradients)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> np.ndarray:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        return K.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        return K.conv2d_backward(x, w, np.ascontiguousarray(g), *ctx.conf, need_input_grad=need_x,
                                 need_weight_grad=need_w, need_bias_grad=need_b)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, the input gradient of a convolution used as a layer (upsampling)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, stride: tuple[int, int],
                padding: tuple[int, int], output_padding: tuple[int, int], dilation: tuple[int, int],
                groups: int) -> np.ndarray:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, output_padding, dilation, groups)
        return K.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        return K.conv_transpose2d_backward(x, w, np.ascontiguousarray(g), *ctx.conf, need_input_grad=need_x,
                                           need_weight_grad=need_w, need_bias_grad=need_b)


class MaxPool2d(Function):
    """y = max over each window.   dL/dx = dL/dy routed to the window's arg-max (added where windows share it)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], ceil_mode: bool,
                indices_out: list | None = None) -> np.ndarray:
        y, argmax = K.maxpool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(argmax)
        ctx.x_shape = x.shape
        if indices_out is not None:  # return_indices=True: the caller also wants the arg-max positions
            indices_out.append(argmax)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (argmax,) = ctx.saved
        return K.maxpool2d_backward(np.ascontiguousarray(g), argmax, ctx.x_shape)


class AvgPool2d(Function):
    """y = window sum / divisor.   dL/dx = dL/dy / divisor spread over the window's in-bounds pixels."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], ceil_mode: bool, count_include_pad: bool,
                divisor_override: int | None) -> np.ndarray:
        ctx.x_shape = x.shape
        ctx.conf = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return K.avgpool2d_forward(x, *ctx.conf)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return K.avgpool2d_backward(np.ascontiguousarray(g), ctx.x_shape, *ctx.conf)


class AdaptiveAvgPool2d(Function):
    """y = mean over torch's adaptive windows [floor(i H/Ho), ceil((i+1) H/Ho)).   dL/dx = dL/dy / window size."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, output_size: tuple[int, int]) -> np.ndarray:
        ctx.x_shape = x.shape
        return K.adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return K.adaptive_avg_pool2d_backward(np.ascontiguousarray(g), ctx.x_shape)


class Pad(Function):
    """y = x surrounded by a constant.   dL/dx = the central crop of dL/dy."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, widths: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return g[ctx.crop]


# --------------------------------------------------------------------------- helpers for the functional API
def as_batched(x: Any, op: str, ndim: int = 4) -> tuple[Any, bool]:
    """torch accepts unbatched (C, H, W) inputs: add the batch axis, remembering to remove it."""
    if x.ndim == ndim - 1:
        return x.unsqueeze(0), True
    if x.ndim != ndim:
        raise RuntimeError(f"{op}: expected a {ndim - 1}D (unbatched) or {ndim}D (batched) input, got "
                           f"input of shape {tuple(x.shape)}")
    return x, False


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]
                 ) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """padding="same": total d (k - 1) per axis. Returns the symmetric part for the kernel, and the one
    extra pixel (right/bottom side, as torch does) when the total is odd, else None."""
    if stride != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    total = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    sym = (total[0] // 2, total[1] // 2)
    extra = (total[0] % 2, total[1] % 2)
    return sym, (extra if any(extra) else None)


__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Pad", "pair",
           "as_batched", "same_padding"]
