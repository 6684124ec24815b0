"""The fast convolution weight and bias gradients, register-blocked like the forward (``_conv_direct.py``).

    dL/dW[o, k] = sum_{n, p} gy[n, o, p] X_n[k, p],     dL/db[o] = sum_{n, p} gy[n, o, p],
    X_n[(i, j, c), (ho, wo)] = x_pad[n, c, ho*sh + i*dh, wo*sw + j*dw]

**Micro-kernel.**  A tile of 8 taps x L output channels of ``dW^T`` lives in vector registers
(``acc_r``: tap ``k0 + r``, L = ``tile_lanes(dtype)`` channel lanes: 2 zmm = 32 float32 on AVX-512,
1 ymm on AVX2; see ``_scratch.py``).  For every output pixel ``p`` it loads the L channels
``gy[n, o0:o0+L, p]`` once, broadcasts the 8 values ``X[k0:k0+8, p]`` and adds
``X[k0 + r, p] * gy[n, o0:o0+L, p]`` to each ``acc_r``: on AVX-512, 2 vector loads, 8 broadcasts, 16 FMAs.
For both operands to be contiguous, a chunk of pixels of one image is staged in two small
row-major buffers:

* ``cols[r, (i, j, c)]``: the receptive field of pixel ``p0 + r``, taps ordered (i, j, c) so that the
  ``kw*C`` taps of one kernel row are one contiguous copy from a channels-last copy of the image;
* ``gyt[r, o]``: the output gradient of pixel ``p0 + r``, channels contiguous (a small transpose).

Each thread sums over its own images into a private ``dW^T`` (so threads never race); the parts are
added at the end.  Taps are padded with zeros to a multiple of 8 and channels to a multiple of L.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._scratch import carray, tile_alloc, tile_lanes

FM = {"reassoc", "contract"}
TILE_K = 8      # taps per tile


def round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


@njit(cache=True, boundscheck=False)
def _channels_last_padded(x: np.ndarray, n: int, xt: np.ndarray, sh: int, sw: int, ph: int,
                          pw: int) -> None:  # pragma: no cover - compiled
    """xt[hp, wp, c] = x[n, c, hp - ph, wp - pw] (zero outside x)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Hp, Wp = xt.shape[0], xt.shape[1]
    xt[:, :, :] = 0
    for c in range(C):
        for hp in range(max(0, ph), min(Hp, H + ph)):
            src = x[n, c, hp - ph]
            dst = xt[hp]
            for wp in range(max(0, pw), min(Wp, W + pw)):
                dst[wp, c] = src[wp - pw]


@njit(cache=True, boundscheck=False, inline="always")
def _load_tile(src: np.ndarray, k: int, o0: int, acc: np.ndarray) -> None:  # pragma: no cover - compiled
    row = src[k, o0:o0 + acc.shape[0]]
    for l in range(acc.shape[0]):
        acc[l] = row[l]


@njit(cache=True, boundscheck=False, inline="always")
def _save_tile(dst: np.ndarray, k: int, o0: int, acc: np.ndarray) -> None:  # pragma: no cover - compiled
    row = dst[k, o0:o0 + acc.shape[0]]
    for l in range(acc.shape[0]):
        row[l] = acc[l]


@njit(cache=True, parallel=True, fastmath=FM, boundscheck=False)
def conv_wgrad(x: np.ndarray, gy3: np.ndarray, gwt_parts: np.ndarray, gb_parts: np.ndarray, kh: int, kw: int,
               sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, Wo: int, rows: int, nchunks: int,
               zero: float) -> None:  # pragma: no cover
    """gwt_parts[t, (i, j, c), o] and gb_parts[t, o]: thread t's share of dW^T and db (zeros on entry).

    x: (N, C, H, W);  gy3: (N, O, Ho*Wo) contiguous last axis;  gwt_parts: (nchunks, Kp, Op), Kp a
    multiple of TILE_K and Op of ``tile_lanes(x.dtype)``;  rows: pixels staged per chunk;  zero: 0 of x's dtype.
    """
    N, C = x.shape[0], x.shape[1]
    O, P = gy3.shape[1], gy3.shape[2]
    Ho = P // Wo
    Kp, Op = gwt_parts.shape[1], gwt_parts.shape[2]
    LANES = tile_lanes(x.dtype)      # channels per tile: one tile row is 2 zmm (AVX-512) or 1 ymm (AVX2)
    Hp = (Ho - 1) * sh + dh * (kh - 1) + 1
    Wp = (Wo - 1) * sw + dw * (kw - 1) + 1
    seg = kw * C
    segc = (seg + 15) // 16 * 16          # copy whole vectors: the overshoot is overwritten (see below)
    npc = (P + rows - 1) // rows
    T = N * npc
    for ch in prange(nchunks):
        gwt = gwt_parts[ch]
        gb = gb_parts[ch]
        xtf = np.zeros(Hp * Wp * C + segc, dtype=x.dtype)          # + slack for the overshoot
        xt = xtf[:Hp * Wp * C].reshape(Hp, Wp, C)
        colsf = np.zeros(rows * Kp + segc, dtype=x.dtype)
        cols = colsf[:rows * Kp].reshape(rows, Kp)
        gyt = np.zeros((rows, Op), dtype=x.dtype)      # channels past O stay 0
        gytf = gyt.reshape(-1)
        a0 = carray(tile_alloc(x.dtype), LANES)
        a1 = carray(tile_alloc(x.dtype), LANES)
        a2 = carray(tile_alloc(x.dtype), LANES)
        a3 = carray(tile_alloc(x.dtype), LANES)
        a4 = carray(tile_alloc(x.dtype), LANES)
        a5 = carray(tile_alloc(x.dtype), LANES)
        a6 = carray(tile_alloc(x.dtype), LANES)
        a7 = carray(tile_alloc(x.dtype), LANES)
        last_n = -1
        for t in range(ch * T // nchunks, (ch + 1) * T // nchunks):
            n, p0 = t // npc, (t % npc) * rows
            m = min(rows, P - p0)
            if n != last_n:
                _channels_last_padded(x, n, xt, sh, sw, ph, pw)
                last_n = n
            # stage the receptive fields and output gradients of pixels p0 .. p0+m-1
            # (rows are filled in order, so a copy running past its segment is overwritten by the next
            # segment or row; past the last tap it lands in padding taps, whose sums are discarded)
            for r in range(m):
                ho, wo = (p0 + r) // Wo, (p0 + r) % Wo
                for i in range(kh):
                    base = ((ho * sh + i * dh) * Wp + wo * sw) * C
                    d = r * Kp + i * seg
                    if dw == 1:                       # the kw taps of kernel row i: kw*C consecutive values
                        for q in range(segc):
                            colsf[np.uint64(d + q)] = xtf[np.uint64(base + q)]
                    else:
                        for j in range(kw):
                            b = base + j * dw * C
                            for c in range(C):
                                colsf[np.uint64(d + j * C + c)] = xtf[np.uint64(b + c)]
            for o in range(O):
                src = gy3[n, o]
                tot = zero
                for r in range(m):
                    v = src[p0 + r]
                    gyt[r, o] = v
                    tot += v
                gb[o] += tot
            # contract: dW^T[k0:k0+8, o0:o0+32] += cols[:m, k0:k0+8]^T gyt[:m, o0:o0+32]
            for k0 in range(0, Kp, TILE_K):
                for o0 in range(0, Op, LANES):
                    _load_tile(gwt, k0, o0, a0)
                    _load_tile(gwt, k0 + 1, o0, a1)
                    _load_tile(gwt, k0 + 2, o0, a2)
                    _load_tile(gwt, k0 + 3, o0, a3)
                    _load_tile(gwt, k0 + 4, o0, a4)
                    _load_tile(gwt, k0 + 5, o0, a5)
                    _load_tile(gwt, k0 + 6, o0, a6)
                    _load_tile(gwt, k0 + 7, o0, a7)
                    for r in range(m):
                        gb_ = np.uint64(r * Op + o0)
                        xk = cols[r, k0:k0 + TILE_K]
                        x0, x1, x2, x3 = xk[0], xk[1], xk[2], xk[3]
                        x4, x5, x6, x7 = xk[4], xk[5], xk[6], xk[7]
                        for l in range(LANES):
                            v = gytf[gb_ + np.uint64(l)]
                            a0[l] += x0 * v
                            a1[l] += x1 * v
                            a2[l] += x2 * v
                            a3[l] += x3 * v
                            a4[l] += x4 * v
                            a5[l] += x5 * v
                            a6[l] += x6 * v
                            a7[l] += x7 * v
                    _save_tile(gwt, k0, o0, a0)
                    _save_tile(gwt, k0 + 1, o0, a1)
                    _save_tile(gwt, k0 + 2, o0, a2)
                    _save_tile(gwt, k0 + 3, o0, a3)
                    _save_tile(gwt, k0 + 4, o0, a4)
                    _save_tile(gwt, k0 + 5, o0, a5)
                    _save_tile(gwt, k0 + 6, o0, a6)
                    _save_tile(gwt, k0 + 7, o0, a7)
