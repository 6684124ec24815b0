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
that is the ordinary im2col of one image.  The copy is per thread and covers one band of output
rows for one chunk of input channels at a time, so it stays in L2 (see ``conv_direct``).

**Tiles that span images.**  On small output planes (DCGAN: 4x4 and 8x8, 16 and 64 pixels) one image
fills a 32-pixel tile only partly.  There the full im2col is used (no row shift) for a *group* of G
images side by side, ``xs[c, i, j, m*P + p]`` for image ``n0 + m`` and pixel ``p`` (P = Ho*Wo): the pixel
axis of the GEMM becomes (image, pixel), tiles run over G*P columns and may straddle two images, and
the store maps column ``q`` back to image ``n0 + q // P``, pixel ``q % P``.
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
                ph: int, pw: int, dh: int, dw: int, Wo: int, shift: bool, R: int,
                d0: int, c0: int, nc: int, r0: int) -> None:  # pragma: no cover - compiled
    """Fill xs (>= nc, KI, kw, L) for image n, input channels c0 .. c0+nc-1 and the R rows of a band that
    starts at output row r0:

        xs[c - c0, ii, j, d0 + r*Wo + wo] = x_pad[n, c, (r0 + r)*sr + ii*dh, wo*sw + j*dw],   r < R.

    ``shift`` (used when sh == 1 on large planes): KI = xs.shape[1] = 1, sr = 1 and the row tap is a
    shift of i*dh rows (R then counts the dh*(kh-1) halo rows too); otherwise KI = kh and sr = sh.
    xp (>= nc, Hb, Wp) is scratch for the zero-padded rows r0*sr .. r0*sr + Hb - 1 of the band.  The
    caller zeroes the slack past the last row (read by partial tiles).

    Indices are cast to unsigned so that Numba emits no negative-index wraparound and LLVM vectorises
    the copies (these rows are short: 4 to 32 values).
    """
    H, W = x.shape[2], x.shape[3]
    Hb, Wp = xp.shape[1], xp.shape[2]
    KI = xs.shape[1]
    sr = 1 if shift else sh
    hp0 = r0 * sr                                                # first padded row of the band
    w0, w1 = min(max(pw, 0), Wp), min(max(W + pw, 0), Wp)       # padded columns that hold x
    for cl in range(nc):
        c = c0 + cl
        for hb in range(Hb):
            row = xp[cl, hb]
            h = hp0 + hb - ph
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
                dst = xs[cl, ii, j]
                for r in range(R):
                    src = xp[cl, r * sr + ii * dh]
                    d = d0 + r * Wo
                    b = j * dw
                    if sw == 1:
                        for wo in range(Wo):
                            dst[np.uint64(d + wo)] = src[np.uint64(b + wo)]
                    else:
                        for wo in range(Wo):
                            dst[np.uint64(d + wo)] = src[np.uint64(b + wo * sw)]


@njit(cache=True, boundscheck=False)
def expand_gather(x: np.ndarray, n: int, xpc: np.ndarray, xs2: np.ndarray, idx: np.ndarray,
                  d0: int) -> None:  # pragma: no cover - compiled
    """The im2col of image n on a small plane: xs2[c*kh*kw + t, d0 + p] = x[n, c].flat[idx[t, p]].

    idx (kh*kw, P) holds, for tap t = (i, j) and output pixel p = (ho, wo), the position h*W + w of
    x_pad[ho*sh + i*dh, wo*sw + j*dw] in the plane, or H*W where it falls in the padding; xpc (H*W + 1)
    is scratch for one plane followed by that zero.  One flat gather loop per tap instead of a short
    copy per (tap, row): on 4x4 planes the rows are 4 values long and the loop overhead dominated.
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    KK, P = idx.shape
    for c in range(C):
        for h in range(H):
            src = x[n, c, h]
            for w in range(W):
                xpc[h * W + w] = src[w]
        xpc[H * W] = 0
        for t in range(KK):
            dst = xs2[c * KK + t]
            it = idx[t]
            for q in range(P):
                dst[np.uint64(d0 + q)] = xpc[it[q]]


@njit(cache=True, boundscheck=False, inline="always")
def _store(y: np.ndarray, y3: np.ndarray, flat: bool, n0: int, P: int, o: int, q0: int, nl: int, acc: np.ndarray,
           bias: np.ndarray, buf: np.ndarray, first: bool) -> None:  # pragma: no cover - compiled
    """y[n0 + m, o, ho, wo] = acc[q - q0] + bias[o] (``first``; else y += acc[q - q0]) for the columns
    q = m*P + ho*Wo + wo, q0 <= q < q0 + nl, channel o < O.

    ``flat``: y's planes are contiguous and y3 is y seen as (N, O, Ho*Wo); a tile is then one run of
    y3.  Otherwise (y a strided view: a phase of a strided input gradient) it is written one output
    row segment at a time, through ``buf`` (a heap array): the register tile ``acc`` must only be
    indexed by full-width loops there, or LLVM no longer keeps it in registers during the reduction."""
    if o < y.shape[1]:
        Ho, Wo = y.shape[2], y.shape[3]
        b = bias[o]
        m = q0 // P
        if flat:
            if m == (q0 + nl - 1) // P:    # the tile lies in one image (always so when G == 1)
                row3 = y3[n0 + m, o]
                p0 = q0 - m * P
                if first:
                    for l in range(nl):
                        row3[p0 + l] = acc[l] + b
                else:
                    for l in range(nl):
                        row3[p0 + l] += acc[l]
            else:                          # only with G > 1, where CB = C: one chunk
                for l in range(nl):
                    q = q0 + l
                    y3[n0 + q // P, o, q % P] = acc[l] + b
            return
        if not first:
            b = b * 0
        for l in range(acc.shape[0]):
            buf[l] = acc[l] + b
        ho = (q0 - m * P) // Wo
        wo = q0 - m * P - ho * Wo
        l = 0
        while l < nl:
            seg = min(nl - l, Wo - wo)
            row = y[n0 + m, o, ho]
            if first:
                for u in range(seg):
                    row[wo + u] = buf[l + u]
            else:
                for u in range(seg):
                    row[wo + u] += buf[l + u]
            l += seg
            wo = 0
            ho += 1
            if ho == Ho:              # the tile continues in the next image
                ho = 0
                m += 1


@njit(cache=True, parallel=True, fastmath=FM, boundscheck=False)
def conv_direct(x: np.ndarray, wt: np.ndarray, bias: np.ndarray, y: np.ndarray, y3: np.ndarray, flat: bool,
                kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, Wo: int, shift: bool, R: int,
                G: int, idx: np.ndarray, ogroups: int, nchunks: int, CB: int) -> None:  # pragma: no cover
    """y[n, o, ho, wo] = bias[o] + sum_{c,i,j} W[o, c, i, j] x_pad[n, c, ho*sh + i*dh, wo*sw + j*dw].

    x: (N, C, H, W) any strides;  wt: (ntile_o, C*kh*kw, TILE_O) the weight packed by tile of 8 output
    channels, wt[t, (c, i, j), r] = W[8t + r, c, i, j] (zero past O);  y: (N, O, Ho, Wo) any strides (a
    phase of a strided input gradient writes every other pixel);  y3, flat: see ``_store``;  bias: (O,).
    G: images per tile group;  idx: the gather table of ``expand_gather`` (small planes; empty:
    ``expand_rows``).  Work items: (group of G images, group of output-channel tiles); ``ogroups`` > 1
    splits a group's channel tiles over threads when there are few groups (each then expands it itself).

    **Cache blocking** (as a BLAS GEMM blocks its loops) when G == 1 and rows are expanded: the image
    is cut into bands of R output rows and the reduction into chunks of CB input channels.  Only one
    (band, chunk) is expanded at a time, into a per-thread buffer the caller sizes for L2, and every
    channel tile reads it there; one tile's weights for a chunk (CB*kh*kw x 8, contiguous) stay in L1.
    The first chunk stores acc + bias, the next ones add acc to y.  Before (whole image expanded, then
    swept once per channel tile) VGG16's 64-channel 224x224 layers expanded 39 MB per image and
    streamed it from memory 8 times.  Otherwise (small planes, G images side by side) R = Ho, CB = C.
    """
    N, C = x.shape[0], x.shape[1]
    Ho = y.shape[2]
    P = Ho * Wo
    ntile_o = wt.shape[0]
    LANES = tile_lanes(x.dtype)      # pixels per tile: one tile row is 2 zmm (AVX-512) or 1 ymm (AVX2)
    banded = G == 1 and idx.shape[0] == 0
    halo = dh * (kh - 1) if shift else 0                       # extra rows a band of R output rows reads
    B = (R + halo) * Wo              # columns of xs per image (per band when banded)
    L = G * B + LANES
    KI = 1 if shift else kh
    Hb = R + halo if shift else (R - 1) * sh + dh * (kh - 1) + 1   # rows of the padded image a band reads
    Wp = (Wo - 1) * sw + dw * (kw - 1) + 1
    T = -(-N // G) * ogroups
    CX = CB if banded else C          # channels held in xs
    rpc, runlen = (kh, kw) if shift else (1, kh * kw)   # runs of taps per input channel, taps per run
    for ch in prange(nchunks):
        xs = np.empty((CX, KI, kw, L), dtype=x.dtype)
        xsf = xs.reshape(-1)
        xp = np.empty((CX, Hb, Wp) if idx.shape[0] == 0 else (0, 0, 0), dtype=x.dtype)
        xpc = np.empty(x.shape[2] * x.shape[3] + 1, dtype=x.dtype)
        xs2 = xs.reshape(CX * KI * kw, L)
        buf = np.empty(LANES, dtype=x.dtype)
        a0 = carray(tile_alloc(x.dtype), LANES)
        a1 = carray(tile_alloc(x.dtype), LANES)
        a2 = carray(tile_alloc(x.dtype), LANES)
        a3 = carray(tile_alloc(x.dtype), LANES)
        a4 = carray(tile_alloc(x.dtype), LANES)
        a5 = carray(tile_alloc(x.dtype), LANES)
        a6 = carray(tile_alloc(x.dtype), LANES)
        a7 = carray(tile_alloc(x.dtype), LANES)
        for t in range(ch * T // nchunks, (ch + 1) * T // nchunks):
            n0, g = t // ogroups * G, t % ogroups
            gc = min(G, N - n0)
            if not banded:                          # the whole group, all channels, once
                for m in range(gc):
                    if idx.shape[0] == 0:
                        expand_rows(x, n0 + m, xp, xs, kh, kw, sh, sw, ph, pw, dh, dw, Wo, shift, R, m * B,
                                    0, C, 0)
                    else:
                        expand_gather(x, n0 + m, xpc, xs2, idx, m * B)
                for cc in range(C * KI * kw):             # slack read by the last, partial tile
                    for q in range(gc * B, L):
                        xsf[np.uint64(cc * L + q)] = 0
            for r0 in range(0, Ho if banded else 1, R):
                rows = min(R, Ho - r0)
                Q = rows * Wo if banded else gc * P      # columns computed: (image, pixel) pairs of the band
                for c0 in range(0, C, CX):
                    nc = min(CX, C - c0)
                    if banded:
                        expand_rows(x, n0, xp, xs, kh, kw, sh, sw, ph, pw, dh, dw, Wo, shift, rows + halo, 0,
                                    c0, nc, r0)
                        for cc in range(nc * KI * kw):     # slack read by the band's last, partial tile
                            for q in range((rows + halo) * Wo, L):
                                xsf[np.uint64(cc * L + q)] = 0
                    first = c0 == 0
                    for ot in range(g, ntile_o, ogroups):
                        o0 = ot * TILE_O
                        for p0 in range(0, Q, LANES):
                            for l in range(LANES):
                                a0[l] = 0
                                a1[l] = 0
                                a2[l] = 0
                                a3[l] = 0
                                a4[l] = 0
                                a5[l] = 0
                                a6[l] = 0
                                a7[l] = 0
                            # taps come in runs of consecutive rows of xs and of wt: with ``shift``, the kw
                            # column taps of one (c, i), shifted by i*dh rows; without, the kh*kw taps of c
                            for c in range(nc):                            # c: index in xs
                                for i in range(rpc):
                                    xb0 = (c * kw * L + p0 + i * dh * Wo) if shift else (c * runlen * L + p0)
                                    t0 = ((c0 + c) * rpc + i) * runlen             # first tap of the run
                                    for u in range(runlen):
                                        # the 32 pixels of tap t0 + u; unsigned index: no wraparound test
                                        xb = np.uint64(xb0 + u * L)
                                        wk = wt[ot, t0 + u]       # 8 channels' weights, contiguous
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
                            nl = min(LANES, Q - p0)
                            q0 = r0 * Wo + p0
                            _store(y, y3, flat, n0, P, o0, q0, nl, a0, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 1, q0, nl, a1, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 2, q0, nl, a2, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 3, q0, nl, a3, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 4, q0, nl, a4, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 5, q0, nl, a5, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 6, q0, nl, a6, bias, buf, first)
                            _store(y, y3, flat, n0, P, o0 + 7, q0, nl, a7, bias, buf, first)
