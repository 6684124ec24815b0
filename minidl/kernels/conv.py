"""Fast 2-D convolution and transposed convolution on plain ndarrays (NCHW, float32 or float64).

Same functions, arguments and results as ``conv_reference.py`` (read that file for the maths), built
from register-blocked Numba kernels (``_conv_direct.py``, ``_conv_wgrad.py``; no im2col matrix):

* **forward** ``y = conv2d(x, w, b)``: ``conv_direct``, tiles of 8 channels x 32 pixels in registers
  (on planes under 64 pixels the 32 pixels run across several images), cache-blocked over bands of
  output rows and chunks of input channels on large planes.
* **input gradient** ``dL/dx``: with stride 1 it is itself a convolution of ``gy`` with the weight
  flipped in space and transposed in channels, padded by ``d(k-1) - p``:

      dL/dx[c, h, w] = sum_{o,i,j} gy[o, h + p - i d, w + p - j d] w[o, c, i, j]
                     = conv2d(gy, w')[c, h, w],  w'[c, o, i', j'] = w[o, c, kh-1-i', kw-1-j'],

  so it reuses the forward kernel.  With a larger stride (not in the course's CIFAR network, used by
  DCGAN) it splits into ``sh*sw`` phases: the input pixels h = rh + sh*a of one phase receive ``gy``
  only through the taps with (rh + p - i d) divisible by sh, and for them it is again a stride-1
  convolution of ``gy`` with that sub-kernel (``_phase_taps`` derives its padding and dilation).  For
  DCGAN's k4 s2 p1 each phase is a 2x2 convolution on planes of 4x4 to 16x16 pixels, which is why the
  forward kernel's tiles span several images on small planes.  Only with fewer than 8 input channels
  (DCGAN's last generator layer), where 8-channel tiles would be mostly empty: one BLAS
  ``dcols = W^T gy`` per chunk of images, then ``col2im`` in Numba.
* **weight and bias gradients**: ``conv_wgrad``, tiles of 8 taps x 32 channels in registers, summed
  over each thread's images into a private buffer.

``groups`` is implemented by a Python loop over groups on channel slices (views, no copies of x).
A transposed convolution is the input gradient of a convolution, and its backward uses the forward
and the weight-gradient kernels with the roles of input and output swapped.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from . import _conv_direct as D
from . import _col2im as K
from . import _conv_wgrad as W
from . import _outputs
from ._scratch import tile_lanes
from .shapes import IntPair, check_float_arrays, conv2d_output_shape, conv_transpose2d_output_shape, pair

WGRAD_STAGE = 51200    # values of the staged receptive-field rows per thread in the weight gradient (~200 KB)
BLAS_CHUNK_BYTES = 4 << 20   # im2col / col2im buffers of the BLAS path stay about this size
GROUP_COLUMNS = 128          # small planes: tiles span images until a group has this many (image, pixel) columns
GROUP_BYTES = 512 << 10      # ... and its im2col stays within this (per thread, in L2)
BLOCK_BYTES = 384 << 10      # large planes: one expanded (band, channel chunk) per thread, in L2 (1 MB on Zen 4)
WEIGHT_BYTES = 16 << 10       # ... and one 8-channel tile's weights for the chunk, in L1 (32 KB)
BLOCK_COLUMNS = 512          # ... with bands of at least this many output pixels
BLOCK_ABOVE = BLOCK_BYTES    # ... for images whose whole expansion is larger than this

__all__ = ["conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
           "conv2d_output_shape", "conv_transpose2d_output_shape"]


def _taps_in_bounds(size: int, k: int, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(taps i, input positions i*d - p) of the taps of a one-pixel output that land inside [0, size)."""
    pos = np.arange(k) * d - p
    keep = (pos >= 0) & (pos < size)
    return np.nonzero(keep)[0], pos[keep]


def _one_pixel_patch(x: np.ndarray, kh: int, kw: int, pad_tl: tuple[int, int], dilation: tuple[int, int]
                     ) -> np.ndarray:
    """(N, C, kh, kw): the receptive field of a convolution's only output pixel (zeros in the padding)."""
    N, C, H, W = x.shape
    patch = np.zeros((N, C, kh, kw), dtype=x.dtype)
    ti, hi = _taps_in_bounds(H, kh, pad_tl[0], dilation[0])
    tj, wj = _taps_in_bounds(W, kw, pad_tl[1], dilation[1])
    patch[:, :, ti[:, None], tj[None, :]] = x[:, :, hi[:, None], wj[None, :]]
    return patch


def _forward_into(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, y: np.ndarray,
                  stride: tuple[int, int], pad_tl: tuple[int, int], dilation: tuple[int, int]) -> None:
    """One group: y (N, O, Ho, Wo) = conv of x (N, C, H, W) with w (O, C, kh, kw), padding top/left =
    pad_tl (may be negative: crop) and zeros past the bottom/right edge as far as Ho, Wo need.

    A one-pixel output (DCGAN's last discriminator layer; the input gradient of its first generator
    layer) is one matrix product of the receptive fields with the weights: y = patch W^T (+ b)."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho, Wo = y.shape[2:]
    if Ho == 1 and Wo == 1:
        patch = _one_pixel_patch(x, kh, kw, pad_tl, dilation).reshape(N, C * kh * kw)
        y[:, :, 0, 0] = patch @ w.reshape(O, C * kh * kw).T + (0 if b is None else b)
        return
    (sh, sw), (ph, pw), (dh, dw) = stride, pad_tl, dilation
    dtype = x.dtype
    K, ntile_o = C * kh * kw, -(-O // D.TILE_O)
    wpad = np.zeros((ntile_o * D.TILE_O, K), dtype=dtype)
    wpad[:O] = w.reshape(O, K)
    # packed by tile of 8 output channels: wt[t, (c, i, j), r] = W[8t + r, c, i, j], contiguous per tile
    wt = np.ascontiguousarray(wpad.reshape(ntile_o, D.TILE_O, K).transpose(0, 2, 1))
    bias = np.zeros(O, dtype=dtype) if b is None else b
    lanes, P = tile_lanes(dtype), Ho * Wo
    # see _conv_direct: rows are shifted views when sh == 1 and the plane fills tiles; on small planes
    # the full im2col of G images side by side, so that tiles span images
    shift = sh == 1 and P >= 2 * lanes
    threads = numba.get_num_threads()
    if shift:
        G = 1
    else:
        per_image = C * kh * kw * P * dtype.itemsize               # bytes of one image's im2col
        G = max(1, min(N, -(-GROUP_COLUMNS // P), GROUP_BYTES // per_image))
        G = max(1, min(G, -(-N // threads)))                        # at least one group per thread
    ngroups = -(-N // G)
    ogroups = 1 if ngroups >= 2 * threads else min(ntile_o, -(-2 * threads // ngroups))
    idx = np.zeros((0, 0), dtype=np.intp) if shift or P >= 2 * lanes else _gather_table(x.shape[2:], (kh, kw), (Ho, Wo), stride,
                                                                      pad_tl, dilation)
    flat = y.strides[3] == dtype.itemsize and y.strides[2] == Wo * dtype.itemsize
    y3 = y.reshape(N, O, Ho * Wo) if flat else y[:0, :0, 0, :0]   # a view when the planes are contiguous
    # cache blocks (see conv_direct): bands of R output rows (at least BLOCK_COLUMNS pixels) x chunks of
    # CB input channels, so that a chunk's expanded band (per channel KI*kw rows of (R + halo)*Wo values)
    # fits BLOCK_BYTES and one 8-channel tile's weights for it fit WEIGHT_BYTES
    # (only where one image's expansion does not fit: the course's CIFAR net keeps whole images)
    R, CB = Ho, C
    KI, halo = (1, dh * (kh - 1)) if shift else (kh, 0)
    whole = C * KI * kw * ((Ho + halo) * Wo + lanes) * dtype.itemsize
    if G == 1 and len(idx) == 0 and whole > BLOCK_ABOVE:
        R = min(Ho, -(-BLOCK_COLUMNS // Wo))
        per_channel = KI * kw * ((R + halo) * Wo + lanes) * dtype.itemsize
        CB = max(1, min(C, BLOCK_BYTES // per_channel, WEIGHT_BYTES // (kh * kw * D.TILE_O * dtype.itemsize)))
    D.conv_direct(x, wt, bias, y, y3, flat, kh, kw, sh, sw, ph, pw, dh, dw, Wo, shift, R, G, idx, ogroups,
                  min(ngroups * ogroups, 4 * threads), CB)


@functools.lru_cache(maxsize=64)
def _gather_table(hw: tuple[int, int], k: tuple[int, int], out: tuple[int, int], stride: tuple[int, int],
                  pad_tl: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """(kh*kw, Ho*Wo): position h*W + w in the input plane read by tap (i, j) at output pixel (ho, wo),
    h = ho*sh + i*dh - ph, w = wo*sw + j*dw - pw; H*W (the zero after the plane) where it is padding."""
    (H, W), (kh, kw), (Ho, Wo) = hw, k, out
    h = np.arange(Ho)[None, :] * stride[0] + np.arange(kh)[:, None] * dilation[0] - pad_tl[0]     # (kh, Ho)
    w = np.arange(Wo)[None, :] * stride[1] + np.arange(kw)[:, None] * dilation[1] - pad_tl[1]     # (kw, Wo)
    inside = ((h >= 0) & (h < H))[:, None, :, None] & ((w >= 0) & (w < W))[None, :, None, :]
    pos = h[:, None, :, None] * W + w[None, :, None, :]                                          # (kh, kw, Ho, Wo)
    table = np.where(inside, pos, H * W).reshape(kh * kw, Ho * Wo).astype(np.intp)
    table.flags.writeable = False       # cached and shared between calls
    return table


def _input_grad_into(gy: np.ndarray, w: np.ndarray, gx: np.ndarray, stride: tuple[int, int],
                     padding: tuple[int, int], dilation: tuple[int, int]) -> None:
    """One group: gx (N, C, H, W) = dL/dx of y = conv(x, w) given gy (N, O, Ho, Wo)."""
    N, O, Ho, Wo = gy.shape
    _, C, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    if Ho == 1 and Wo == 1:        # dL/dpatch = gy W, written back where the patch lies inside x
        dpatch = (gy.reshape(N, O) @ w.reshape(O, C * kh * kw)).reshape(N, C, kh, kw)
        ti, hi = _taps_in_bounds(gx.shape[2], kh, ph, dh)
        tj, wj = _taps_in_bounds(gx.shape[3], kw, pw, dw)
        gx[...] = 0
        gx[:, :, hi[:, None], wj[None, :]] = dpatch[:, :, ti[:, None], tj[None, :]]   # distinct positions
        return
    if sh == 1 and sw == 1:
        w_flip = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])   # (C, O, kh, kw)
        _forward_into(gy, w_flip, None, gx, (1, 1), (dh * (kh - 1) - ph, dw * (kw - 1) - pw), dilation)
        return
    if C < D.TILE_O:               # a few input channels (DCGAN's last generator layer): 8-channel tiles
        _input_grad_blas(gy, w, gx, stride, padding, dilation)      # would be mostly empty
        return
    H, W = gx.shape[2:]
    for rh in range(min(sh, H)):
        ti, offh, d2h = _phase_taps(rh, kh, sh, ph, dh)
        for rw in range(min(sw, W)):
            tj, offw, d2w = _phase_taps(rw, kw, sw, pw, dw)
            out = gx[:, :, rh::sh, rw::sw]
            if len(ti) == 0 or len(tj) == 0:      # no tap lands on this phase
                out[...] = 0
                continue
            # the phase's sub-kernel, taps in increasing offset order, as a (C, O, ki, kj) conv weight
            wp = np.ascontiguousarray(w[:, :, ti[:, None], tj[None, :]].transpose(1, 0, 2, 3))
            _forward_into(gy, wp, None, out, (1, 1), (-offh, -offw), (d2h, d2w))   # writes the strided view


def _input_grad_blas(gy: np.ndarray, w: np.ndarray, gx: np.ndarray, stride: tuple[int, int],
                     padding: tuple[int, int], dilation: tuple[int, int]) -> None:
    """gx = col2im(W^T gy): one BLAS product per chunk of images, folded back in Numba (``_col2im.py``)."""
    N, O, Ho, Wo = gy.shape
    _, C, kh, kw = w.shape
    Kn, P = C * kh * kw, Ho * Wo
    wt = np.ascontiguousarray(w.reshape(O, Kn).T)                                    # (K, O)
    nimg = max(1, min(N, BLAS_CHUNK_BYTES // (Kn * P * gy.dtype.itemsize)))
    dcols = np.empty((nimg, Kn, P), dtype=gy.dtype)
    gy3 = gy.reshape(N, O, P) if gy.flags.c_contiguous else np.ascontiguousarray(gy).reshape(N, O, P)
    gx[...] = 0
    for n0 in range(0, N, nimg):
        nc = min(nimg, N - n0)
        np.matmul(wt, gy3[n0:n0 + nc], out=dcols[:nc])
        K.col2im_chunk(dcols[:nc], n0, gx, kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0],
                       dilation[1], Ho, Wo)


def _phase_taps(r: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, int, int]:
    """The taps of one phase of a strided input gradient, along one axis.

    Input position h = r + s*a (phase r, 0 <= r < s) receives gy[ho] through tap i exactly when
    h + p - i*d = ho*s, i.e. when (r + p - i*d) is a multiple of s; then ho = a + off_i with
    off_i = (r + p - i*d) / s.  So phase r of dL/dx is a stride-1 correlation of gy with the taps
    ``i`` listed by increasing offset (decreasing i), starting at offset ``off`` (a padding of -off)
    and ``d2`` apart (a dilation): returns (taps i, off, d2).
    """
    taps = np.array([i for i in range(k - 1, -1, -1) if (r + p - i * d) % s == 0], dtype=np.intp)
    if len(taps) == 0:
        return taps, 0, 1
    offs = (r + p - taps * d) // s
    return taps, int(offs[0]), int(offs[1] - offs[0]) if len(taps) > 1 else 1


def _weight_grad(x: np.ndarray, gy: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One group: (dL/dw (O, C, kh, kw), dL/db (O,)) for x (N, C, H, W) and gy (N, O, Ho, Wo)."""
    N, C = x.shape[:2]
    O, Ho, Wo = gy.shape[1:]
    kh, kw = kernel
    Kn = C * kh * kw
    if Ho == 1 and Wo == 1:        # one output pixel: dW = gy^T patch
        g2 = gy.reshape(N, O)
        patch = _one_pixel_patch(x, kh, kw, padding, dilation).reshape(N, Kn)
        return (g2.T @ patch).reshape(O, C, kh, kw), g2.sum(axis=0)
    Kp, Op = W.round_up(Kn, W.TILE_K), W.round_up(O, tile_lanes(x.dtype))
    gy3 = gy.reshape(N, O, Ho * Wo) if gy.strides[3] == gy.itemsize and gy.strides[2] == Wo * gy.itemsize \
        else np.ascontiguousarray(gy).reshape(N, O, Ho * Wo)
    rows = max(16, min(Ho * Wo, WGRAD_STAGE // Kp))
    parts = numba.get_num_threads()
    gwt = np.zeros((parts, Kp, Op), dtype=x.dtype)          # per-thread dW^T, taps ordered (i, j, c)
    gb = np.zeros((parts, O), dtype=x.dtype)
    W.conv_wgrad(x, gy3, gwt, gb, kh, kw, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
                 Wo, rows, parts, x.dtype.type(0))
    gw = gwt.sum(axis=0)[:Kn, :O].reshape(kh, kw, C, O).transpose(3, 2, 0, 1)
    return np.ascontiguousarray(gw), gb.sum(axis=0)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: IntPair, padding: IntPair,
                   dilation: IntPair, groups: int = 1) -> np.ndarray:
    """y = conv2d(x, w, b): x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None -> y (N, O, Ho, Wo)."""
    check_float_arrays("conv2d", input=x, weight=w, bias=b)
    N, O, Ho, Wo = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups,
                                       None if b is None else b.shape)
    s, p, d = pair(stride), pair(padding), pair(dilation)
    Cg, Og = w.shape[1], O // groups
    y = _outputs.empty((N, O, Ho, Wo), x.dtype)
    for g in range(groups):
        o, c = slice(g * Og, (g + 1) * Og), slice(g * Cg, (g + 1) * Cg)
        _forward_into(x[:, c], w[o], None if b is None else b[o], y[:, o], s, p, d)
    return y


def conv2d_backward(x: np.ndarray, w: np.ndarray, gy: np.ndarray, stride: IntPair, padding: IntPair,
                    dilation: IntPair, groups: int = 1, need_input_grad: bool = True,
                    need_weight_grad: bool = True, need_bias_grad: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(dL/dx, dL/dw, dL/db) of ``y = conv2d(x, w, b)`` given gy = dL/dy (N, O, Ho, Wo); None where not needed."""
    check_float_arrays("conv2d_backward", input=x, weight=w, grad_output=gy)
    shape = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups)
    if gy.shape != shape:
        raise RuntimeError(f"conv2d_backward: grad_output {gy.shape} must have the output shape {shape}")
    s, p, d = pair(stride), pair(padding), pair(dilation)
    Cg, kh, kw = w.shape[1:]
    Og = shape[1] // groups
    gx = _outputs.empty_like(x) if need_input_grad else None
    gw = np.empty_like(w) if need_weight_grad else None
    gb = np.empty(shape[1], dtype=x.dtype) if need_bias_grad else None
    for g in range(groups):
        o, c = slice(g * Og, (g + 1) * Og), slice(g * Cg, (g + 1) * Cg)
        if gx is not None:
            _input_grad_into(gy[:, o], w[o], gx[:, c], s, p, d)
        if gw is not None:
            gw[o], gbg = _weight_grad(x[:, c], gy[:, o], (kh, kw), s, p, d)
            if gb is not None:
                gb[o] = gbg
    if gb is not None and gw is None:
        gb[:] = gy.sum(axis=(0, 2, 3))
    return gx, gw, gb


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: IntPair,
                             padding: IntPair, output_padding: IntPair, dilation: IntPair, groups: int = 1
                             ) -> np.ndarray:
    """y = conv_transpose2d(x, w, b): x (N, Cin, H, W), w (Cin, Cout/groups, kh, kw) -> (N, Cout, Ho, Wo).

    The input gradient of ``conv2d(., w)`` (Cout -> Cin channels) at ``gy = x``, plus the bias.
    """
    check_float_arrays("conv_transpose2d", input=x, weight=w, bias=b)
    N, Cout, Ho, Wo = conv_transpose2d_output_shape(x.shape, w.shape, stride, padding, output_padding,
                                                    dilation, groups, None if b is None else b.shape)
    s, p, d = pair(stride), pair(padding), pair(dilation)
    Cig, Cog = w.shape[0] // groups, w.shape[1]
    y = _outputs.empty((N, Cout, Ho, Wo), x.dtype)
    for g in range(groups):
        ci, co = slice(g * Cig, (g + 1) * Cig), slice(g * Cog, (g + 1) * Cog)
        _input_grad_into(x[:, ci], w[ci], y[:, co], s, p, d)
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_transpose2d_backward(x: np.ndarray, w: np.ndarray, gy: np.ndarray, stride: IntPair, padding: IntPair,
                              output_padding: IntPair, dilation: IntPair, groups: int = 1,
                              need_input_grad: bool = True, need_weight_grad: bool = True,
                              need_bias_grad: bool = True
                              ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(dL/dx, dL/dw, dL/db) of ``y = conv_transpose2d(x, w, b)``: dL/dx = conv2d(gy, w) (cropped to x's
    size), dL/dw = conv2d's weight gradient with input gy and output gradient x."""
    check_float_arrays("conv_transpose2d_backward", input=x, weight=w, grad_output=gy)
    shape = conv_transpose2d_output_shape(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    if gy.shape != shape:
        raise RuntimeError(f"conv_transpose2d_backward: grad_output {gy.shape} must have the output shape {shape}")
    s, p, d = pair(stride), pair(padding), pair(dilation)
    N, Cin, H, W = x.shape
    Cig, Cog, kh, kw = Cin // groups, w.shape[1], w.shape[2], w.shape[3]
    gx = _outputs.empty_like(x) if need_input_grad else None
    gw = np.empty_like(w) if need_weight_grad else None
    gb = gy.sum(axis=(0, 2, 3)) if need_bias_grad else None
    for g in range(groups):
        ci, co = slice(g * Cig, (g + 1) * Cig), slice(g * Cog, (g + 1) * Cog)
        if gx is not None:
            # conv2d(gy, w) restricted to x's (H, W): positions past it (output_padding >= stride) are dropped
            _forward_into(gy[:, co], w[ci], None, gx[:, ci], s, p, d)
        if gw is not None:
            gw[ci], _ = _weight_grad(gy[:, co], x[:, ci], (kh, kw), s, p, d)
    return gx, gw, gb
