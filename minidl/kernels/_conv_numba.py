"""Numba building blocks of the fast convolution (``conv.py`` composes them; the maths is in ``conv_reference.py``).

A convolution is a matrix product ``y[o, p] = sum_k W[o, k] cols[k, p]`` over the unfolded receptive
fields (im2col).  Two facts shape these kernels:

* **Copying im2col buffers costs as much as the product** when it goes through main memory.  So the
  unfolding is done in small tiles, by the thread that consumes them, while they are still in L1/L2.
* **BLAS here is the generic AVX2 OpenBLAS** and the CPU has AVX-512.  A 4x4 block of dot products
  with the reduction innermost (``_dot4x4``) is the loop shape LLVM vectorises best from Numba: the 16
  sums stay in 16 zmm registers, each step loads 8 vectors and issues 16 FMAs.  Both operands must be
  contiguous along the reduction, which decides every layout below:

  - forward ``y = W cols``: rows of ``cols`` (one receptive field) are contiguous when the input is
    NHWC: the ``kw`` taps of one kernel row are ``kw*C`` consecutive floats.  So the input is first
    copied to a zero-padded NHWC array (``pack_nhwc``) and the weight to ``(O, kh, kw, C)``.
  - weight gradient ``dW = gy cols^T``, reduced over (image, position): ``gy[n, o, :]`` is already
    contiguous over positions, and im2col rows ``cols[(c, i, j), :]`` are contiguous over positions
    when built from NCHW (``_im2col_row``); images are taken a chunk at a time so the sums are long.

Reductions are reassociated (``fastmath`` reassoc + contract only, so NaN and inf still propagate):
results match ``conv_reference`` to rounding, not bit for bit.  The reduction length of every dot is
padded with zeros to a multiple of 16 so that no scalar remainder loop runs.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

FM = {"reassoc", "contract"}   # allow vectorised sums and FMA; keep NaN/inf semantics


def round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


@njit(cache=True, fastmath=FM, boundscheck=False, inline="always")
def _dot4x4(a0, a1, a2, a3, b0, b1, b2, b3, K, out):  # pragma: no cover - compiled
    """out[r, c] = sum_k a_r[k] b_c[k] for r, c < 4 (a_r, b_c: 1-D contiguous, length >= K)."""
    out[0, 0] = 0
    z = out[0, 0]                     # a zero of the arrays' dtype
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
    for k in range(K):
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
        s20 += x2 * y0
        s21 += x2 * y1
        s22 += x2 * y2
        s23 += x2 * y3
        s30 += x3 * y0
        s31 += x3 * y1
        s32 += x3 * y2
        s33 += x3 * y3
    out[0, 0] = s00
    out[0, 1] = s01
    out[0, 2] = s02
    out[0, 3] = s03
    out[1, 0] = s10
    out[1, 1] = s11
    out[1, 2] = s12
    out[1, 3] = s13
    out[2, 0] = s20
    out[2, 1] = s21
    out[2, 2] = s22
    out[2, 3] = s23
    out[3, 0] = s30
    out[3, 1] = s31
    out[3, 2] = s32
    out[3, 3] = s33


@njit(cache=True, parallel=True, boundscheck=False)
def pack_nhwc(x, top, bottom, left, right):  # pragma: no cover - compiled
    """x (N, C, H, W) -> (N, H+top+bottom, W+left+right, C), zero outside x; negative pads crop."""
    N, C, H, W = x.shape
    Hp, Wp = H + top + bottom, W + left + right
    out = np.empty((N, Hp, Wp, C), dtype=x.dtype)
    for t in prange(N * Hp):
        n, hp = t // Hp, t % Hp
        h = hp - top
        row = out[n, hp]
        if h < 0 or h >= H:
            row[:, :] = 0
            continue
        w0, w1 = max(0, left), min(Wp, W + left)   # columns of the padded row that come from x
        row[:w0, :] = 0
        row[w1:, :] = 0
        for c in range(C):
            for wp in range(w0, w1):
                row[wp, c] = x[n, c, h, wp - left]
    return out


@njit(cache=True, parallel=True, fastmath=FM, boundscheck=False)
def conv_fwd_nhwc(xh, wr, bias, y, kh, kw, sh, sw, dh, dw, tile, nchunks):  # pragma: no cover - compiled
    """y[n, o, ho, wo] = bias[o] + sum_{i,j,c} xh[n, ho*sh + i*dh, wo*sw + j*dw, c] wr[o, (i, j, c)].

    xh: (N, Hp, Wp, C) padded NHWC;  wr: (O4, Kp) with O4 = O rounded up to 4, Kp = kh*kw*C rounded up
    to 16, zero-filled;  y: (N, O, Ho, Wo) (any strides);  bias: (O,).
    Work items are ``tile`` consecutive output positions of one image: their receptive fields are
    unfolded into a private ``(tile, Kp)`` buffer, then every 4 positions x 4 channels block is one
    ``_dot4x4`` over Kp.
    """
    N, Hp, Wp, C = xh.shape
    O4, Kp = wr.shape
    O, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    P = Ho * Wo
    ntile = (P + tile - 1) // tile
    T = N * ntile
    xf = xh.reshape(-1)
    seg = kw * C                      # one kernel row of taps, contiguous in NHWC when dw == 1
    for ch in prange(nchunks):
        buf = np.zeros((round_up_nb(tile, 4), Kp), dtype=xh.dtype)
        out = np.empty((4, 4), dtype=xh.dtype)
        for t in range(ch * T // nchunks, (ch + 1) * T // nchunks):
            n, p0 = t // ntile, (t % ntile) * tile
            np_ = min(tile, P - p0)
            # unfold: buf[r, (i, j, c)] = xh[n, ho*sh + i*dh, wo*sw + j*dw, c]
            for r in range(np_):
                ho, wo = (p0 + r) // Wo, (p0 + r) % Wo
                row = buf[r]
                for i in range(kh):
                    base = ((n * Hp + ho * sh + i * dh) * Wp + wo * sw) * C
                    if dw == 1:
                        for q in range(seg):
                            row[i * seg + q] = xf[base + q]
                    else:
                        for j in range(kw):
                            b = base + j * dw * C
                            for c in range(C):
                                row[i * seg + j * C + c] = xf[b + c]
            # contract: 4 positions x 4 channels at a time (stale buffer rows past np_ are not stored)
            for o in range(0, O4, 4):
                for r in range(0, np_, 4):
                    _dot4x4(buf[r], buf[r + 1], buf[r + 2], buf[r + 3], wr[o], wr[o + 1], wr[o + 2], wr[o + 3],
                            Kp, out)
                    for a in range(min(4, np_ - r)):
                        ho, wo = (p0 + r + a) // Wo, (p0 + r + a) % Wo
                        for c in range(min(4, O - o)):
                            y[n, o + c, ho, wo] = out[a, c] + bias[o + c]


@njit(cache=True, inline="always")
def round_up_nb(v, m):  # pragma: no cover - compiled
    return (v + m - 1) // m * m


@njit(cache=True, boundscheck=False, inline="always")
def _im2col_row(x, n, c, i, j, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, dst, d0):  # pragma: no cover
    """dst[d0 + ho*Wo + wo] = x[n, c, ho*sh + i*dh - ph, wo*sw + j*dw - pw] (0 outside x)."""
    H, W = x.shape[2], x.shape[3]
    off = j * dw - pw
    # in-bounds columns: 0 <= wo*sw + off < W
    lo = 0 if off >= 0 else (-off + sw - 1) // sw
    hi = 0 if W - 1 - off < 0 else (W - 1 - off) // sw + 1
    lo, hi = min(lo, Wo), min(max(hi, 0), Wo)
    if hi < lo:
        hi = lo
    for ho in range(Ho):
        h = ho * sh + i * dh - ph
        d = d0 + ho * Wo
        if h < 0 or h >= H:
            for wo in range(Wo):
                dst[d + wo] = 0
            continue
        src = x[n, c, h]
        for wo in range(lo):
            dst[d + wo] = 0
        if sw == 1:
            for wo in range(lo, hi):
                dst[d + wo] = src[wo + off]
        else:
            for wo in range(lo, hi):
                dst[d + wo] = src[wo * sw + off]
        for wo in range(hi, Wo):
            dst[d + wo] = 0


@njit(cache=True, parallel=True, boundscheck=False)
def im2col_chunk(x, n0, cols, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):  # pragma: no cover - compiled
    """cols[m, (c, i, j), p] = im2col of image n0 + m (cols: (nc, >= C*kh*kw, Ho*Wo))."""
    nc = cols.shape[0]
    C = x.shape[1]
    for t in prange(nc * C):
        m, c = t // C, t % C
        for i in range(kh):
            for j in range(kw):
                _im2col_row(x, n0 + m, c, i, j, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo,
                            cols[m, (c * kh + i) * kw + j], 0)


@njit(cache=True, parallel=True, fastmath=FM, boundscheck=False)
def conv_wgrad(x, gy, gw, gb, kh, kw, sh, sw, ph, pw, dh, dw, nimg, nchunks, zero):  # pragma: no cover - compiled
    """gw[o, (c, i, j)] = sum_{n, p} gy[n, o, p] cols_n[(c, i, j), p];  gb[o] = sum_{n, p} gy[n, o, p].

    x: (N, C, H, W);  gy: (N, O, Ho, Wo);  gw: (O4, K4) zeros, K4 = C*kh*kw rounded up to 4;  gb: (O,) zeros;
    zero: 0 of x's dtype.
    Images are processed ``nimg`` at a time: gy's rows are packed into A (O4, L), and each 4-row block
    of cols (4, L) is unfolded by the thread that owns those 4 columns of gw, then dotted with A.
    """
    N, C = x.shape[0], x.shape[1]
    O, Ho, Wo = gy.shape[1], gy.shape[2], gy.shape[3]
    O4, K4 = gw.shape
    K = C * kh * kw
    P = Ho * Wo
    Lmax = round_up_nb(nimg * P, 16)
    A = np.zeros((O4, Lmax), dtype=x.dtype)
    nkb = K4 // 4
    for n0 in range(0, N, nimg):
        nc = min(nimg, N - n0)
        L = round_up_nb(nc * P, 16)
        for o in prange(O):
            row = A[o]
            s = zero
            for m in range(nc):
                src = gy[n0 + m, o]
                for ho in range(Ho):
                    for wo in range(Wo):
                        v = src[ho, wo]
                        row[m * P + ho * Wo + wo] = v
                        s += v
            for q in range(nc * P, L):
                row[q] = 0
            gb[o] += s
        for ch in prange(nchunks):
            B = np.zeros((4, Lmax), dtype=x.dtype)
            out = np.empty((4, 4), dtype=x.dtype)
            for kb in range(ch * nkb // nchunks, (ch + 1) * nkb // nchunks):
                for r in range(4):
                    k = kb * 4 + r
                    dst = B[r]
                    if k < K:
                        c, i, j = k // (kh * kw), (k // kw) % kh, k % kw
                        for m in range(nc):
                            _im2col_row(x, n0 + m, c, i, j, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, dst, m * P)
                    else:
                        dst[:] = 0
                    for q in range(nc * P, L):
                        dst[q] = 0
                for o in range(0, O4, 4):
                    _dot4x4(A[o], A[o + 1], A[o + 2], A[o + 3], B[0], B[1], B[2], B[3], L, out)
                    for a in range(4):
                        for r in range(4):
                            gw[o + a, kb * 4 + r] += out[a, r]


@njit(cache=True, parallel=True, boundscheck=False)
def col2im_chunk(dcols, n0, gx, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo):  # pragma: no cover - compiled
    """gx[n0 + m, c, ho*sh + i*dh - ph, wo*sw + j*dw - pw] += dcols[m, (c, i, j), ho*Wo + wo] (in bounds).

    One thread per (image, channel) plane, so the additions never race; the order (i, j, ho, wo) is fixed.
    """
    nc = dcols.shape[0]
    C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
    for t in prange(nc * C):
        m, c = t // C, t % C
        plane = gx[n0 + m, c]
        for i in range(kh):
            for j in range(kw):
                src = dcols[m, (c * kh + i) * kw + j]
                for ho in range(Ho):
                    h = ho * sh + i * dh - ph
                    if h < 0 or h >= H:
                        continue
                    for wo in range(Wo):
                        w = wo * sw + j * dw - pw
                        if 0 <= w < W:
                            plane[h, w] += src[ho * Wo + wo]
