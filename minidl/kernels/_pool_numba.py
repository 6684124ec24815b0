"""Numba pooling kernels: one parallel task per (image, channel) plane, one pass over the input.

The rules (torch's, exactly) are documented in ``pool_reference.py``; each loop here visits taps and
outputs in the same order as the reference, so results are bit-identical to it.  No ``fastmath``: the
NaN test ``v != v`` and the order of additions must be kept.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _first_tap(start: int, step: int) -> int:  # pragma: no cover - compiled
    """First tap position >= 0 of a window starting at ``start`` with taps every ``step``."""
    while start < 0:
        start += step
    return start


@njit(cache=True, parallel=True, boundscheck=False)
def maxpool_fwd(x: np.ndarray, y: np.ndarray, idx: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int,
                pw: int, dh: int, dw: int) -> None:  # pragma: no cover - compiled
    """y[n, c, oh, ow] = max over the window's in-bounds taps, idx = its flat index h*W + w (torch's rule)."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    ninf = -np.inf
    for t in prange(N * C):
        n, c = t // C, t % C
        plane = x[n, c]
        yp = y[n, c]
        ip = idx[n, c]
        for oh in range(Ho):
            h0 = oh * sh - ph
            hs, he = _first_tap(h0, dh), min(h0 + (kh - 1) * dh + 1, H)
            for ow in range(Wo):
                w0 = ow * sw - pw
                ws, we = _first_tap(w0, dw), min(w0 + (kw - 1) * dw + 1, W)
                best = ninf
                at = hs * W + ws
                for h in range(hs, he, dh):
                    for w in range(ws, we, dw):
                        v = plane[h, w]
                        if v > best or v != v:      # strictly greater keeps the first maximum; NaN wins
                            best = v
                            at = h * W + w
                yp[oh, ow] = best
                ip[oh, ow] = at


@njit(cache=True, parallel=True, boundscheck=False)
def maxpool_bwd(gy: np.ndarray, idx: np.ndarray, gx: np.ndarray) -> None:  # pragma: no cover - compiled
    """gx[n, c].flat[idx[n, c, oh, ow]] += gy[n, c, oh, ow], outputs in row-major order; gx is overwritten.

    Indices outside the plane (a dilated window with no in-bounds tap, as torch reports it) are skipped."""
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        g = gx[n, c].reshape(H * W)         # the plane, flat (gx is C-contiguous), so idx indexes it
        for q in range(H * W):
            g[q] = 0
        gp = gy[n, c]
        ip = idx[n, c]
        for oh in range(Ho):
            for ow in range(Wo):
                a = ip[oh, ow]
                if 0 <= a < H * W:          # a window with no in-bounds tap sends nothing back
                    g[a] += gp[oh, ow]


@njit(cache=True, parallel=True, boundscheck=False)
def avgpool_fwd(x: np.ndarray, y: np.ndarray, div: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int,
                pw: int, zero: float) -> None:  # pragma: no cover - compiled
    """y = (sum of in-bounds taps, added in row-major order) / div[oh, ow].  zero: 0 of x's dtype."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        plane = x[n, c]
        for oh in range(Ho):
            h0 = oh * sh - ph
            for ow in range(Wo):
                w0 = ow * sw - pw
                s = zero
                for h in range(max(h0, 0), min(h0 + kh, H)):
                    for w in range(max(w0, 0), min(w0 + kw, W)):
                        s += plane[h, w]
                y[n, c, oh, ow] = s / div[oh, ow]


@njit(cache=True, parallel=True, boundscheck=False)
def avgpool_bwd(gy: np.ndarray, div: np.ndarray, gx: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int,
                pw: int) -> None:  # pragma: no cover - compiled
    """gx[tap] += gy[oh, ow] / div[oh, ow] for every in-bounds tap; taps (i, j) outer, outputs inner."""
    N, C, H, W = gx.shape
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        g = gx[n, c]
        g[:, :] = 0
        gp = gy[n, c]
        for i in range(kh):
            for j in range(kw):
                for oh in range(Ho):
                    h = oh * sh - ph + i
                    if h < 0 or h >= H:
                        continue
                    for ow in range(Wo):
                        w = ow * sw - pw + j
                        if 0 <= w < W:
                            g[h, w] += gp[oh, ow] / div[oh, ow]


@njit(cache=True, parallel=True, boundscheck=False)
def adaptive_avg_fwd(x: np.ndarray, y: np.ndarray, hs: np.ndarray, he: np.ndarray, ws: np.ndarray,
                     we: np.ndarray, khf: np.ndarray, kwf: np.ndarray,
                     zero: float) -> None:  # pragma: no cover - compiled
    """y[oh, ow] = (sum of the window in row-major order) / kh / kw, windows [hs, he) x [ws, we).

    khf, kwf: the window sizes as floats of x's dtype (so float32 stays float32 arithmetic); zero: 0 of that dtype."""
    N, C = x.shape[0], x.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        plane = x[n, c]
        for oh in range(Ho):
            for ow in range(Wo):
                s = zero
                for h in range(hs[oh], he[oh]):
                    for w in range(ws[ow], we[ow]):
                        s += plane[h, w]
                y[n, c, oh, ow] = s / khf[oh] / kwf[ow]


@njit(cache=True, parallel=True, boundscheck=False)
def adaptive_avg_bwd(gy: np.ndarray, gx: np.ndarray, hs: np.ndarray, he: np.ndarray, ws: np.ndarray,
                     we: np.ndarray, khf: np.ndarray, kwf: np.ndarray) -> None:  # pragma: no cover - compiled
    """gx[window of (oh, ow)] += gy[oh, ow] / kh / kw, outputs in row-major order."""
    N, C = gx.shape[0], gx.shape[1]
    Ho, Wo = gy.shape[2], gy.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        g = gx[n, c]
        g[:, :] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                v = gy[n, c, oh, ow] / khf[oh] / kwf[ow]
                for h in range(hs[oh], he[oh]):
                    for w in range(ws[ow], we[ow]):
                        g[h, w] += v


# ---------------------------------------------------------------------------------------------------
# 2 x 2 windows with stride 2 (the course's networks): the same rule, unrolled so that LLVM vectorises
# along the row (selects instead of branches).  (A matching backward that writes each input pixel once
# instead of zeroing then scattering measured 2x slower than ``maxpool_bwd``, which is memory-bound.)

@njit(cache=True, parallel=True, boundscheck=False)
def maxpool2x2_fwd(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> None:  # pragma: no cover - compiled
    """kernel 2, stride 2, no padding/dilation, every window inside x (Ho <= H // 2, Wo <= W // 2)."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for t in prange(N * C):
        n, c = t // C, t % C
        for oh in range(Ho):
            r0 = x[n, c, 2 * oh]
            r1 = x[n, c, 2 * oh + 1]
            yr = y[n, c, oh]
            ir = idx[n, c, oh]
            base = 2 * oh * W
            for ow in range(Wo):
                w = np.uint64(2 * ow)
                v0, v1, v2, v3 = r0[w], r0[w + np.uint64(1)], r1[w], r1[w + np.uint64(1)]
                # scan order (0, 0), (0, 1), (1, 0), (1, 1); replace on ">" or NaN (torch's rule)
                best, at = v0, 0
                take = (v1 > best) | (v1 != v1)
                best, at = (v1, 1) if take else (best, at)
                take = (v2 > best) | (v2 != v2)
                best, at = (v2, W) if take else (best, at)
                take = (v3 > best) | (v3 != v3)
                best, at = (v3, W + 1) if take else (best, at)
                yr[ow] = best
                ir[ow] = base + 2 * ow + at
