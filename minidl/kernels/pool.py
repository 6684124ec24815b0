"""Fast 2-D pooling on plain ndarrays (NCHW, float32 or float64), bit-identical to ``pool_reference.py``.

Same functions and arguments as the reference (which documents torch's rules); the work is done by
the one-pass Numba kernels of ``_pool_numba.py``, parallel over (image, channel) planes.

``maxpool2d_forward`` returns ``argmax`` as torch's ``return_indices`` does: int64, the flat index
``h * W + w`` inside each (H, W) plane.  The backward then scatters with no search.
"""
from __future__ import annotations

import numpy as np

from . import _outputs
from . import _pool_numba as K
from .shapes import (IntPair, adaptive_pool2d_output_shape, adaptive_windows, avg_pool_divisors,
                     check_float_arrays, pool2d_output_shape)

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
           "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "pool2d_output_shape"]


def _check_grad(op: str, gy: np.ndarray, shape: tuple[int, ...]) -> None:
    check_float_arrays(op, grad_output=gy)
    if gy.shape != tuple(shape):
        raise RuntimeError(f"{op}: grad_output {gy.shape} must have the output shape {tuple(shape)}")


def maxpool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair = 0,
                      dilation: IntPair = (1, 1), ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), argmax (N, C, Ho, Wo) int64 flat (H, W) index)."""
    check_float_arrays("max_pool2d", input=x)
    shape, (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pool2d_output_shape(
        "max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    y = _outputs.empty(shape, x.dtype)
    idx = _outputs.empty(shape, np.int64)
    H, W = x.shape[2:]
    if (kh, kw, sh, sw, ph, pw, dh, dw) == (2, 2, 2, 2, 0, 0, 1, 1) and 2 * shape[2] <= H and 2 * shape[3] <= W:
        K.maxpool2x2_fwd(x, y, idx)          # the common case, vectorised (same results)
    else:
        K.maxpool_fwd(x, y, idx, kh, kw, sh, sw, ph, pw, dh, dw)
    return y, idx


def maxpool2d_backward(gy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """dL/dx (N, C, H, W): dL/dy added at every window's argmax (summed where windows share it)."""
    _check_grad("max_pool2d_backward", gy, argmax.shape)
    x_shape = tuple(int(v) for v in x_shape)
    if len(x_shape) != 4 or x_shape[:2] != gy.shape[:2]:
        raise RuntimeError(f"max_pool2d_backward: input shape {x_shape} does not match grad_output {gy.shape}")
    gx = _outputs.empty(x_shape, gy.dtype)
    K.maxpool_bwd(gy, argmax, gx)
    return gx


def avgpool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair = 0,
                      ceil_mode: bool = False, count_include_pad: bool = True,
                      divisor_override: int | None = None) -> np.ndarray:
    """x (N, C, H, W) -> y (N, C, Ho, Wo): in-bounds window sums divided by torch's divisor."""
    check_float_arrays("avg_pool2d", input=x)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("avg_pool2d: divisor_override must be non-zero")
    shape, (kh, kw), (sh, sw), (ph, pw), _ = pool2d_output_shape("avg_pool2d", x.shape, kernel_size, stride,
                                                                 padding, 1, ceil_mode)
    H, W = x.shape[2:]
    div = avg_pool_divisors(H, W, shape[2], shape[3], (kh, kw), (sh, sw), (ph, pw), count_include_pad,
                        divisor_override).astype(x.dtype)
    y = _outputs.empty(shape, x.dtype)
    K.avgpool_fwd(x, y, div, kh, kw, sh, sw, ph, pw, x.dtype.type(0))
    return y


def avgpool2d_backward(gy: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: IntPair,
                       stride: IntPair | None, padding: IntPair = 0, ceil_mode: bool = False,
                       count_include_pad: bool = True, divisor_override: int | None = None) -> np.ndarray:
    """dL/dx (N, C, H, W): dL/dy / divisor spread over every in-bounds tap of its window."""
    shape, (kh, kw), (sh, sw), (ph, pw), _ = pool2d_output_shape("avg_pool2d", x_shape, kernel_size, stride,
                                                                 padding, 1, ceil_mode)
    _check_grad("avg_pool2d_backward", gy, shape)
    H, W = x_shape[2:]
    div = avg_pool_divisors(H, W, shape[2], shape[3], (kh, kw), (sh, sw), (ph, pw), count_include_pad,
                        divisor_override).astype(gy.dtype)
    gx = _outputs.empty(tuple(x_shape), gy.dtype)
    K.avgpool_bwd(gy, div, gx, kh, kw, sh, sw, ph, pw)
    return gx


def _adaptive(x_shape: tuple[int, ...], out_hw: tuple[int, int], dtype: np.dtype):
    (hs, he), (ws, we) = adaptive_windows(x_shape[2], out_hw[0]), adaptive_windows(x_shape[3], out_hw[1])
    return hs, he, ws, we, (he - hs).astype(dtype), (we - ws).astype(dtype)


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, Ho, Wo): mean over torch's adaptive windows."""
    check_float_arrays("adaptive_avg_pool2d", input=x)
    shape = adaptive_pool2d_output_shape(x.shape, output_size)
    y = _outputs.empty(shape, x.dtype)
    K.adaptive_avg_fwd(x, y, *_adaptive(x.shape, shape[2:], x.dtype), x.dtype.type(0))
    return y


def adaptive_avg_pool2d_backward(gy: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """dL/dx (N, C, H, W): each dL/dy / (kh kw) spread evenly over its window (overlaps add up)."""
    check_float_arrays("adaptive_avg_pool2d_backward", grad_output=gy)
    x_shape = tuple(int(v) for v in x_shape)
    if len(x_shape) != 4 or x_shape[:2] != gy.shape[:2] or gy.ndim != 4:
        raise RuntimeError(f"adaptive_avg_pool2d_backward: input shape {x_shape} does not match grad_output {gy.shape}")
    gx = _outputs.empty(x_shape, gy.dtype)
    K.adaptive_avg_bwd(gy, gx, *_adaptive(x_shape, gy.shape[2:], gy.dtype))
    return gx
