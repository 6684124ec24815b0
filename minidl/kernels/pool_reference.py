"""Readable plain-NumPy pooling, following torch's CPU rules exactly; ``pool.py`` is tested against it.

Window of output pixel ``(oh, ow)``: rows ``oh*s - p + i*d`` for ``i < kh`` (columns likewise).  Taps in
the padding never count.

* **max**: scan the taps in row-major order keeping ``(best, index)``; a tap replaces the best when
  ``value > best`` or ``value`` is NaN (torch's rule: the first maximum wins, NaN propagates, and
  several NaNs give the last one).  ``best`` starts at -inf and ``index`` at the first in-bounds tap.
  The index is flat in the (H, W) plane, as ``max_pool2d(..., return_indices=True)`` returns it.
  Backward: ``dL/dx[n, c, index] += dL/dy[n, c, oh, ow]``.
* **avg**: the sum over in-bounds taps divided by ``divisor_override``, or by the window's size clipped
  to the padded input (``count_include_pad=True``; a ``ceil_mode`` window past the padding is cut), or
  by the number of in-bounds taps (``count_include_pad=False``).  Backward spreads ``dL/dy / divisor``
  back over the same taps.
* **adaptive avg**: window ``i`` along an axis of size ``H`` into ``Ho`` outputs is
  ``[floor(i H / Ho), ceil((i + 1) H / Ho))``.
"""
from __future__ import annotations

import numpy as np

from .shapes import (IntPair, adaptive_pool2d_output_shape, adaptive_windows, avg_pool_divisors,
                     check_float_arrays, pool2d_output_shape)


def _taps(size: int, out: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(out, k)`` of every tap along one axis, and whether each lies inside the input."""
    pos = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
    return pos, (pos >= 0) & (pos < size)


def maxpool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair = 0,
                      dilation: IntPair = (1, 1), ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """x (N, C, H, W) -> (y (N, C, Ho, Wo), argmax (N, C, Ho, Wo) int64, flat index into the (H, W) plane)."""
    check_float_arrays("max_pool2d", input=x)
    (N, C, Ho, Wo), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pool2d_output_shape(
        "max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    H, W = x.shape[2:]
    rows, row_ok = _taps(H, Ho, kh, sh, ph, dh)        # (Ho, kh)
    cols, col_ok = _taps(W, Wo, kw, sw, pw, dw)        # (Wo, kw)
    # the scan starts at the window's first tap at or after 0 (torch steps by the dilation from the start);
    # when a dilated window has no in-bounds tap at all, this points past the edge, as in torch
    def first_tap(start: np.ndarray, d: int) -> np.ndarray:
        return np.where(start < 0, start + (-start + d - 1) // d * d, start)
    first_row = first_tap(rows[:, 0], dh)
    first_col = first_tap(cols[:, 0], dw)
    best = np.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)
    index = np.broadcast_to(first_row[:, None] * W + first_col[None, :], (N, C, Ho, Wo)).astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            ok = row_ok[:, i][:, None] & col_ok[:, j][None, :]                        # (Ho, Wo)
            r, c = np.clip(rows[:, i], 0, H - 1), np.clip(cols[:, j], 0, W - 1)
            val = x[:, :, r[:, None], c[None, :]]                                      # (N, C, Ho, Wo)
            take = ok & ((val > best) | np.isnan(val))
            best = np.where(take, val, best)
            index = np.where(take, (r[:, None] * W + c[None, :]), index)
    return best, index


def maxpool2d_backward(gy: np.ndarray, argmax: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """dL/dx (N, C, H, W): every dL/dy goes to the input pixel its window picked (summed when shared)."""
    N, C, H, W = x_shape
    gx = np.zeros((N * C, H * W), dtype=gy.dtype)
    planes = np.broadcast_to(np.arange(N * C)[:, None], (N * C, argmax[0, 0].size))
    at, g = argmax.reshape(N * C, -1), gy.reshape(N * C, -1)
    inside = (at >= 0) & (at < H * W)     # a window with no in-bounds tap (its max is -inf) sends nothing back
    np.add.at(gx, (planes[inside], at[inside]), g[inside])
    return gx.reshape(x_shape)


def avgpool2d_forward(x: np.ndarray, kernel_size: IntPair, stride: IntPair | None, padding: IntPair = 0,
                      ceil_mode: bool = False, count_include_pad: bool = True,
                      divisor_override: int | None = None) -> np.ndarray:
    """x (N, C, H, W) -> y (N, C, Ho, Wo): window sums over in-bounds taps divided by torch's divisor."""
    check_float_arrays("avg_pool2d", input=x)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("avg_pool2d: divisor_override must be non-zero")
    (N, C, Ho, Wo), k, s, p, _ = pool2d_output_shape("avg_pool2d", x.shape, kernel_size, stride, padding, 1,
                                                     ceil_mode)
    H, W = x.shape[2:]
    rows, row_ok = _taps(H, Ho, k[0], s[0], p[0], 1)
    cols, col_ok = _taps(W, Wo, k[1], s[1], p[1], 1)
    total = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            ok = row_ok[:, i][:, None] & col_ok[:, j][None, :]
            r, c = np.clip(rows[:, i], 0, H - 1), np.clip(cols[:, j], 0, W - 1)
            total += np.where(ok, x[:, :, r[:, None], c[None, :]], 0)
    div = avg_pool_divisors(H, W, Ho, Wo, k, s, p, count_include_pad, divisor_override)
    empty = ~(row_ok.any(axis=1)[:, None] & col_ok.any(axis=1)[None, :])   # window entirely in padding
    return np.where(empty, 0, total / div.astype(x.dtype)).astype(x.dtype)


def avgpool2d_backward(gy: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: IntPair,
                       stride: IntPair | None, padding: IntPair = 0, ceil_mode: bool = False,
                       count_include_pad: bool = True, divisor_override: int | None = None) -> np.ndarray:
    """dL/dx (N, C, H, W): each dL/dy[oh, ow] / divisor is added to every in-bounds tap of its window."""
    (N, C, Ho, Wo), k, s, p, _ = pool2d_output_shape("avg_pool2d", x_shape, kernel_size, stride, padding, 1,
                                                     ceil_mode)
    H, W = x_shape[2:]
    rows, row_ok = _taps(H, Ho, k[0], s[0], p[0], 1)
    cols, col_ok = _taps(W, Wo, k[1], s[1], p[1], 1)
    g = gy / avg_pool_divisors(H, W, Ho, Wo, k, s, p, count_include_pad, divisor_override).astype(gy.dtype)
    gx = np.zeros(x_shape, dtype=gy.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            oh, ow = np.flatnonzero(row_ok[:, i]), np.flatnonzero(col_ok[:, j])   # outputs whose tap is inside
            # within one tap (i, j), distinct output pixels hit distinct input pixels, so += is safe
            gx[:, :, rows[oh, i][:, None], cols[ow, j][None, :]] += g[:, :, oh[:, None], ow[None, :]]
    return gx


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size: IntPair) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, Ho, Wo): mean over torch's adaptive windows (sum in row-major order / kh / kw)."""
    check_float_arrays("adaptive_avg_pool2d", input=x)
    N, C, Ho, Wo = adaptive_pool2d_output_shape(x.shape, output_size)
    hs, he = adaptive_windows(x.shape[2], Ho)
    ws, we = adaptive_windows(x.shape[3], Wo)
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            total = np.zeros((N, C), dtype=x.dtype)
            for h in range(hs[i], he[i]):
                for w in range(ws[j], we[j]):
                    total += x[:, :, h, w]
            y[:, :, i, j] = total / x.dtype.type(he[i] - hs[i]) / x.dtype.type(we[j] - ws[j])
    return y


def adaptive_avg_pool2d_backward(gy: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """dL/dx: each dL/dy[i, j] / kh / kw goes to every pixel of its window (overlapping windows add up)."""
    N, C, Ho, Wo = gy.shape
    H, W = x_shape[2:]
    hs, he = adaptive_windows(H, Ho)
    ws, we = adaptive_windows(W, Wo)
    gx = np.zeros(x_shape, dtype=gy.dtype)
    for i in range(Ho):
        for j in range(Wo):
            g = gy[:, :, i, j] / gy.dtype.type(he[i] - hs[i]) / gy.dtype.type(we[j] - ws[j])
            gx[:, :, hs[i]:he[i], ws[j]:we[j]] += g[:, :, None, None]
    return gx
