"""The fast convolution forward: a register-blocked direct convolution in Numba (no im2col matrix).

    y[n, o, p] = bias[o] + sum_k W[o, k] X_n[k, p],   k = (c, i, j) a tap,  p = (ho, wo) an output pixel,
    X_n[(c, i, j), (ho, wo)] = x_pad[n, c, ho*sh + i*dh, wo*sw + j*dw]          (the im2col matrix)

**Micro-kernel.**  A tile of 8 output channels x L consecutive output pixels lives in vector
registers (``acc_r``, one per channel; L = ``tile_lanes(dtype)``: 32 float32 = 2 zmm on AVX-512, 8 =
1 ymm on AVX2; see ``_scratch.py`` for the widths and how Numba is made to keep them in registers).
On AVX-512, for float32, for every tap ``k`` it loads the 32 pixels ``X[k, p0:p0+32]`` once,
broadcasts the 8 weights ``W[o0:o0+8, k]``, and adds ``W[o_r, k] * X[k, p0:p0+32]`` to each ``acc_r``:
2 vector loads, 8 broadcasts and 16 FMAs, the same shape as a BLAS GEMM kernel.  (16 channels x 16
pixels, with the broadcasts folded into the FMAs, runs ~10 % slower here: 17 loads per 16 FMAs.)

**Row expansion instead of im2col.**  The 32 pixels must be contiguous for every tap.  Flattened over
(ho, wo), consecutive output pixels of one row are ``sw`` apart in x, and the next row starts ``sh``
input rows further.  So per image we copy, for every channel ``c`` and column tap ``j``, the columns
``wo*sw + j*dw`` of every needed input row (zero padding included):

    xs[c, 0, j, r, wo] = x_pad[c, r, wo*sw + j*dw]            (stride sh == 1: rows r of the padded input)

Then tap (c, i, j) of pixels p0..p0+31 is the contiguous run ``xs[c, 0, j].flat[i*dh*Wo + p0 :][:32]``,
crossing row boundaries freely: a shifted view, ``kw`` copies of the input instead of ``kh*kw``.
With ``sh > 1`` rows no longer line up, and the copy also resolves the row tap (``xs[c, i, j, ho, wo]``):
that is the ordinary im2col of one image.  The copy is per image and per thread, so it stays in L2.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._scratch import carray, tile_alloc, tile_lanes

FM = {"reassoc", "contract"}   # vectorised sums and FMA; NaN/inf semantics kept
TILE_O = 8                     # output channels per tile


def round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


@njit(cache=True, boundscheck=False)
def expand_rows(x: np.ndarray, n: int, xp: np.ndarray, xs: np.ndarray, kh: int, kw: int, sh: int, sw: int,
                ph: int, pw: int, dh: int, dw: int, Wo: int, shift: bool) -> None:  # pragma: no cover - compiled
    """Fill xs (C, KI, kw, L) for image n: xs[c, ii, j, r*Wo + wo] = x_pad[n, c, r*sr + ii*dh, wo*sw + j*dw].

    ``shift`` (used when sh == 1): KI = xs.shape[1] = 1, sr = 1 and the row tap is a shift of i*dh rows;
    otherwise KI = kh and sr = sh.  R = rows filled; the tail of each row of xs past R*Wo is slack for
    partial tiles.  xp (C, Hp, Wp) is scratch for the zero-padded image.

    Indices are cast to unsigned so that Numba emits no negative-index wraparound and LLVM vectorises
    the copies (these rows are short: 8 to 32 values).
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Hp, Wp = xp.shape[1], xp.shape[2]
    KI, L = xs.shape[1], xs.shape[3]
    R = (L - tile_lanes(x.dtype)) // Wo
    sr = 1 if shift else sh
    w0, w1 = min(max(pw, 0), Wp), min(max(W + pw, 0), Wp)       # padded columns that hold x
    for c in range(C):
        for hp in range(Hp):
            row = xp[c, hp]
            h = hp - ph
            if h < 0 or h >= H:
                for q in range(Wp):
                    row[np.uint64(q)] = 0
                continue
            src = x[n, c, h]
            for q in range(w0):
                row[np.uint64(q)] = 0
            for q in range(w0, w1):
                row[np.uint64(q)] = src[np.uint64(q - pw)]
            for q in range(w1, Wp):
                row[np.uint64(q)] = 0
        for ii in range(KI):
            for j in range(kw):
                dst = xs[c, ii, j]
                for r in range(R):
                    src = xp[c, r * sr + ii * dh]
                    d = r * Wo
                    b = j * dw
                    if sw == 1:
                        for wo in range(Wo):
                            dst[np.uint64(d + wo)] = src[np.uint64(b + wo)]
                    else:
                        for wo in range(Wo):
                            dst[np.uint64(d + wo)] = src[np.uint64(b + wo * sw)]
                for q in range(R * Wo, L):
                    dst[np.uint64(q)] = 0


@njit(cache=True, boundscheck=False, inline="always")
def _store(y3: np.ndarray, n: int, o: int, p0: int, nl: int, acc: np.ndarray,
           bias: np.ndarray) -> None:  # pragma: no cover - compiled
    """y3[n, o, p0:p0+nl] = acc[:nl] + bias[o], for an existing channel o."""
    O = y3.shape[1]
    if o < O:
        row = y3[n, o]
        b = bias[o]
        for l in range(nl):
            row[p0 + l] = acc[l] + b


@njit(cache=True, parallel=True, fastmath=FM, boundscheck=False)
def conv_direct(x: np.ndarray, wt: np.ndarray, bias: np.ndarray, y3: np.ndarray, kh: int, kw: int, sh: int,
                sw: int, ph: int, pw: int, dh: int, dw: int, Wo: int, shift: bool, R: int, ogroups: int,
                nchunks: int) -> None:  # pragma: no cover
    """y3[n, o, p] = bias[o] + sum_{c,i,j} wt[(c, i, j), o] x_pad[n, c, ho*sh + i*dh, wo*sw + j*dw].

    x: (N, C, H, W) any strides;  wt: (C*kh*kw, Op) the weight transposed, Op = O rounded up to
    TILE_O (zero columns);  y3: (N, O, Ho*Wo) with contiguous last axis;  bias: (O,).
    Work items: (image, group of output-channel tiles); ``ogroups`` > 1 splits an image's channel
    tiles over threads when there are few images (each then expands the image itself).
    """
    N, C = x.shape[0], x.shape[1]
    O, P = y3.shape[1], y3.shape[2]
    ntile_o = wt.shape[1] // TILE_O
    LANES = tile_lanes(x.dtype)      # pixels per tile: one tile row is 2 zmm (AVX-512) or 1 ymm (AVX2)
    L = R * Wo + LANES
    KI = 1 if shift else kh
    Hp = R if shift else (R - 1) * sh + dh * (kh - 1) + 1         # rows of the padded image that are read
    Wp = (Wo - 1) * sw + dw * (kw - 1) + 1
    T = N * ogroups
    for ch in prange(nchunks):
        xs = np.empty((C, KI, kw, L), dtype=x.dtype)
        xsf = xs.reshape(-1)
        xp = np.empty((C, Hp, Wp), dtype=x.dtype)
        a0 = carray(tile_alloc(x.dtype), LANES)
        a1 = carray(tile_alloc(x.dtype), LANES)
        a2 = carray(tile_alloc(x.dtype), LANES)
        a3 = carray(tile_alloc(x.dtype), LANES)
        a4 = carray(tile_alloc(x.dtype), LANES)
        a5 = carray(tile_alloc(x.dtype), LANES)
        a6 = carray(tile_alloc(x.dtype), LANES)
        a7 = carray(tile_alloc(x.dtype), LANES)
        for t in range(ch * T // nchunks, (ch + 1) * T // nchunks):
            n, g = t // ogroups, t % ogroups
            expand_rows(x, n, xp, xs, kh, kw, sh, sw, ph, pw, dh, dw, Wo, shift)
            for ot in range(g, ntile_o, ogroups):
                o0 = ot * TILE_O
                for p0 in range(0, P, LANES):
                    for l in range(LANES):
                        a0[l] = 0
                        a1[l] = 0
                        a2[l] = 0
                        a3[l] = 0
                        a4[l] = 0
                        a5[l] = 0
                        a6[l] = 0
                        a7[l] = 0
                    for c in range(C):
                        for i in range(kh):
                            ii = 0 if shift else i
                            s = p0 + (i * dh * Wo if shift else 0)
                            for j in range(kw):
                                # the 32 pixels of tap (c, i, j); unsigned index: no wraparound test
                                xb = np.uint64(((c * KI + ii) * kw + j) * L + s)
                                wk = wt[(c * kh + i) * kw + j, o0:o0 + TILE_O]       # 8 channels' weights
                                w0, w1, w2, w3 = wk[0], wk[1], wk[2], wk[3]
                                w4, w5, w6, w7 = wk[4], wk[5], wk[6], wk[7]
                                for l in range(LANES):
                                    v = xsf[xb + np.uint64(l)]
                                    a0[l] += w0 * v
                                    a1[l] += w1 * v
                                    a2[l] += w2 * v
                                    a3[l] += w3 * v
                                    a4[l] += w4 * v
                                    a5[l] += w5 * v
                                    a6[l] += w6 * v
                                    a7[l] += w7 * v
                    nl = min(LANES, P - p0)
                    _store(y3, n, o0, p0, nl, a0, bias)
                    _store(y3, n, o0 + 1, p0, nl, a1, bias)
                    _store(y3, n, o0 + 2, p0, nl, a2, bias)
                    _store(y3, n, o0 + 3, p0, nl, a3, bias)
                    _store(y3, n, o0 + 4, p0, nl, a4, bias)
                    _store(y3, n, o0 + 5, p0, nl, a5, bias)
                    _store(y3, n, o0 + 6, p0, nl, a6, bias)
                    _store(y3, n, o0 + 7, p0, nl, a7, bias)
