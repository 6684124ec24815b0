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

Second derivatives. The backwards are written once against ``xp = ctx.xp`` (see ``minidl.autograd``):
NumPy + the Numba kernels on the fast path; when recording, the same three gradients as ops, i.e.
dL/dx = ConvTranspose2d(g, w), dL/dw = Conv2dWeightGrad(x, g), dL/db = sum(g). The weight gradient is
bilinear in (x, g); with G = dL/d(dL/dw), the identity <G, Wgrad(x, g)> = <conv2d(x, G), g> gives its
own gradients: d/dg = conv2d(x, G) and d/dx = the input gradient of conv2d(., G) at g. Average pooling
is linear, y = A x, so its backward A^T g has the gradient A G: AvgPool2d and AvgPool2dBackward are each
other's backward. Max pooling's backward is a scatter to the arg-max (``ScatterAdd`` when recording).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import kernels as K
from minidl.autograd import Context, Function
from minidl.kernels.shapes import pair


class Conv2d(Function):
    """y = conv2d(x, w) + b (see the module docstring for the three gradients)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> np.ndarray:
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        return K.conv2d_forward(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        x, w = ctx.saved
        return ctx.xp.conv2d_backward(x, w, g, ctx.conf, ctx.needs_input_grad)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b, the input gradient of a convolution used as a layer (upsampling)."""

    twice_differentiable = True

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
        return ctx.xp.conv_transpose2d_backward(x, w, g, ctx.conf, ctx.needs_input_grad)


class Conv2dWeightGrad(Function):
    """z = dL/dw of ``conv2d(x, w)`` for output gradient g: z[o, c, u, v] = sum_{n,i,j} g[n,o,i,j] x[n,c,...].

    Bilinear in (x, g). For G = dL/dz: dL/dg = conv2d(x, G) and dL/dx = the input gradient of
    conv2d(., G) at g (both by <G, z> = <conv2d(x, G), g>).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, g: np.ndarray, *, kernel: tuple[int, int],
                conf: tuple[Any, ...]) -> np.ndarray:
        ctx.save_for_backward(x, g)
        ctx.conf = conf
        w_shape = (g.shape[1], x.shape[1] // conf[3]) + tuple(kernel)
        return K.conv2d_backward(x, np.empty(w_shape, x.dtype), np.ascontiguousarray(g), *conf,
                                 need_input_grad=False, need_weight_grad=True, need_bias_grad=False)[1]

    @staticmethod
    def backward(ctx: Context, G: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        x, g = ctx.saved
        xp = ctx.xp
        gx = xp.conv2d_backward(x, G, g, ctx.conf, (True, False, False))[0] if ctx.needs_input_grad[0] else None
        gg = xp.conv2d(x, G, ctx.conf) if ctx.needs_input_grad[1] else None
        return gx, gg


class MaxPool2d(Function):
    """y = max over each window.   dL/dx = dL/dy routed to the window's arg-max (added where windows share it)."""

    twice_differentiable = True

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
        return ctx.xp.maxpool2d_backward(g, argmax, ctx.x_shape)


class AvgPool2d(Function):
    """y = window sum / divisor.   dL/dx = dL/dy / divisor spread over the window's in-bounds pixels."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], ceil_mode: bool, count_include_pad: bool,
                divisor_override: int | None) -> np.ndarray:
        ctx.x_shape = x.shape
        ctx.conf = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return K.avgpool2d_forward(x, *ctx.conf)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return ctx.xp.avgpool2d_backward(g, ctx.x_shape, ctx.conf)


class AvgPool2dBackward(Function):
    """z = A^T g, the backward of average pooling y = A x, as an op.   Linear: dL/dg = A (dL/dz), a pooling."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, *, x_shape: tuple[int, ...], conf: tuple[Any, ...]) -> np.ndarray:
        ctx.conf = conf
        return K.avgpool2d_backward(np.ascontiguousarray(g), x_shape, *conf)

    @staticmethod
    def backward(ctx: Context, G: np.ndarray) -> np.ndarray:
        return ctx.xp.avgpool2d(G, ctx.conf)


class AdaptiveAvgPool2d(Function):
    """y = mean over torch's adaptive windows [floor(i H/Ho), ceil((i+1) H/Ho)).   dL/dx = dL/dy / window size."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, output_size: tuple[int, int]) -> np.ndarray:
        ctx.x_shape = x.shape
        return K.adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return ctx.xp.adaptive_avg_pool2d_backward(g, ctx.x_shape)


class AdaptiveAvgPool2dBackward(Function):
    """z = A^T g for adaptive average pooling y = A x.   Linear: dL/dg = A (dL/dz), an adaptive pooling."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, *, x_shape: tuple[int, ...]) -> np.ndarray:
        ctx.out_size = tuple(g.shape[2:])
        return K.adaptive_avg_pool2d_backward(np.ascontiguousarray(g), x_shape)

    @staticmethod
    def backward(ctx: Context, G: np.ndarray) -> np.ndarray:
        return ctx.xp.adaptive_avg_pool2d(G, ctx.out_size)


class Pad(Function):
    """y = x surrounded by a constant.   dL/dx = the central crop of dL/dy."""

    twice_differentiable = True

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


__all__ = ["Conv2d", "ConvTranspose2d", "Conv2dWeightGrad", "MaxPool2d", "AvgPool2d", "AvgPool2dBackward",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool2dBackward", "Pad", "pair",
           "as_batched", "same_padding"]
