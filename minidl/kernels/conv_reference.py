"""Readable plain-NumPy convolutions: the specification that ``conv.py``'s fast kernels are tested against.

Convolution as a matrix product (im2col).  For one image, unfold every receptive field into a column:

    cols[(c, i, j), (ho, wo)] = x_pad[c, ho*s + i*d, wo*s + j*d]        cols: (C*kh*kw, Ho*Wo)

then the (cross-correlation) convolution is one matrix product with the weight seen as a matrix
``W: (O, C*kh*kw)``:

    y[o, (ho, wo)] = b[o] + sum_k W[o, k] cols[k, (ho, wo)]             y = W @ cols + b

Backward, with ``gy = dL/dy``:

    dL/dW    = sum_n gy_n @ cols_n^T                    (O, K)
    dL/db    = sum over n, ho, wo of gy                  (O,)
    dL/dcols = W^T @ gy_n                                (K, Ho*Wo), folded back by col2im:
    dL/dx[c, h, w] = sum of dL/dcols[(c, i, j), (ho, wo)] over every (i, j, ho, wo) that read x[c, h, w].

col2im is the adjoint (transpose) of im2col, so it *adds* overlapping contributions.

A transposed convolution is the input-gradient of a convolution: ``conv_transpose2d(x, w)`` equals
``dL/dx`` of ``conv2d(., w)`` for ``gy = x``.  With ``groups``, channels split into independent slices
and every formula above applies slice by slice.
"""
from __future__ import annotations

import numpy as np

from .shapes import IntPair, check_float_arrays, conv2d_output_shape, conv_transpose2d_output_shape, pair


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: IntPair, padding: IntPair, dilation: IntPair,
           out_hw: tuple[int, int] | None = None) -> np.ndarray:
    """x: (N, C, H, W) -> cols: (N, C*kh*kw, Ho*Wo), rows ordered (c, i, j) like a torch weight's last 3 axes.

    ``out_hw`` defaults to the convolution's output size; the input is zero-padded (and, if the
    requested output needs more, padded further on the bottom/right).
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    if out_hw is None:
        out_hw = ((H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    Ho, Wo = out_hw
    # pad enough that every window of the requested output lies inside the padded array
    need_h = (Ho - 1) * sh + dh * (kh - 1) + 1
    need_w = (Wo - 1) * sw + dw * (kw - 1) + 1
    xp = np.zeros((N, C, max(need_h, H + 2 * ph), max(need_w, W + 2 * pw)), dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    cols = np.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # tap (i, j) of every window: a strided slice of the padded input
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw]
    return cols.reshape(N, C * kh * kw, Ho * Wo)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel: tuple[int, int], stride: IntPair,
           padding: IntPair, dilation: IntPair, out_hw: tuple[int, int]) -> np.ndarray:
    """Adjoint of :func:`im2col`: cols (N, C*kh*kw, Ho*Wo) -> (N, C, H, W), summing overlapping taps."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x_shape
    Ho, Wo = out_hw
    need_h = (Ho - 1) * sh + dh * (kh - 1) + 1
    need_w = (Wo - 1) * sw + dw * (kw - 1) + 1
    xp = np.zeros((N, C, max(need_h, H + 2 * ph), max(need_w, W + 2 * pw)), dtype=cols.dtype)
    c6 = cols.reshape(N, C, kh, kw, Ho, Wo)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw] += c6[:, :, i, j]
    return xp[:, :, ph:ph + H, pw:pw + W].copy()


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: IntPair, padding: IntPair,
                   dilation: IntPair, groups: int = 1) -> np.ndarray:
    """y = conv2d(x, w, b): x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) -> y (N, O, Ho, Wo)."""
    check_float_arrays("conv2d", input=x, weight=w, bias=b)
    N, O, Ho, Wo = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups,
                                       None if b is None else b.shape)
    Cg, kh, kw = w.shape[1:]
    Og = O // groups
    y = np.empty((N, O, Ho * Wo), dtype=x.dtype)
    for g in range(groups):
        cols = im2col(x[:, g * Cg:(g + 1) * Cg], (kh, kw), stride, padding, dilation)  # (N, K, P)
        Wg = w[g * Og:(g + 1) * Og].reshape(Og, -1)                                   # (Og, K)
        y[:, g * Og:(g + 1) * Og] = np.einsum("ok,nkp->nop", Wg, cols)
    if b is not None:
        y += b[None, :, None]
    return y.reshape(N, O, Ho, Wo)


def conv2d_backward(x: np.ndarray, w: np.ndarray, gy: np.ndarray, stride: IntPair, padding: IntPair,
                    dilation: IntPair, groups: int = 1, need_input_grad: bool = True,
                    need_weight_grad: bool = True, need_bias_grad: bool = True
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(dL/dx, dL/dw, dL/db) of ``y = conv2d(x, w, b)`` given gy = dL/dy (N, O, Ho, Wo)."""
    check_float_arrays("conv2d_backward", input=x, weight=w, grad_output=gy)
    N, O, Ho, Wo = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups)
    if gy.shape != (N, O, Ho, Wo):
        raise RuntimeError(f"conv2d_backward: grad_output {gy.shape} must have the output shape {(N, O, Ho, Wo)}")
    Cg, kh, kw = w.shape[1:]
    Og = O // groups
    gy3 = gy.reshape(N, O, Ho * Wo)
    gx = np.empty_like(x) if need_input_grad else None
    gw = np.empty_like(w) if need_weight_grad else None
    for g in range(groups):
        xg = x[:, g * Cg:(g + 1) * Cg]
        gyg = gy3[:, g * Og:(g + 1) * Og]                                 # (N, Og, P)
        Wg = w[g * Og:(g + 1) * Og].reshape(Og, -1)                       # (Og, K)
        if gw is not None:
            cols = im2col(xg, (kh, kw), stride, padding, dilation)       # (N, K, P)
            gw[g * Og:(g + 1) * Og] = np.einsum("nop,nkp->ok", gyg, cols).reshape(Og, Cg, kh, kw)
        if gx is not None:
            dcols = np.einsum("ok,nop->nkp", Wg, gyg)                     # (N, K, P)
            gx[:, g * Cg:(g + 1) * Cg] = col2im(dcols, xg.shape, (kh, kw), stride, padding, dilation, (Ho, Wo))
    gb = gy.sum(axis=(0, 2, 3)) if need_bias_grad else None
    return gx, gw, gb


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: IntPair,
                             padding: IntPair, output_padding: IntPair, dilation: IntPair, groups: int = 1
                             ) -> np.ndarray:
    """y = conv_transpose2d(x, w, b): x (N, Cin, H, W), w (Cin, Cout/groups, kh, kw) -> (N, Cout, Ho, Wo).

    It is the input-gradient of ``conv2d(., w)`` (a conv from Cout to Cin channels) applied to ``x``:
    ``y = col2im(W^T @ x)`` per group, with ``W = w_g`` seen as a (Cin_g, Cout_g*kh*kw) matrix.
    """
    check_float_arrays("conv_transpose2d", input=x, weight=w, bias=b)
    N, Cout, Ho, Wo = conv_transpose2d_output_shape(x.shape, w.shape, stride, padding, output_padding,
                                                    dilation, groups, None if b is None else b.shape)
    Cin, Cog, kh, kw = w.shape
    Cig = Cin // groups
    H, W = x.shape[2:]
    x3 = x.reshape(N, Cin, H * W)
    y = np.empty((N, Cout, Ho, Wo), dtype=x.dtype)
    for g in range(groups):
        Wg = w[g * Cig:(g + 1) * Cig].reshape(Cig, -1)                                  # (Cig, Cog*kh*kw)
        dcols = np.einsum("ok,nop->nkp", Wg, x3[:, g * Cig:(g + 1) * Cig])              # (N, K, H*W)
        y[:, g * Cog:(g + 1) * Cog] = col2im(dcols, (N, Cog, Ho, Wo), (kh, kw), stride, padding, dilation, (H, W))
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_transpose2d_backward(x: np.ndarray, w: np.ndarray, gy: np.ndarray, stride: IntPair, padding: IntPair,
                              output_padding: IntPair, dilation: IntPair, groups: int = 1,
                              need_input_grad: bool = True, need_weight_grad: bool = True,
                              need_bias_grad: bool = True
                              ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(dL/dx, dL/dw, dL/db) of ``y = conv_transpose2d(x, w, b)``.

    Since ``y = A^T x`` with ``A`` the conv2d operator of weight ``w``, ``dL/dx = A gy = conv2d(gy, w)``
    and ``dL/dw`` is conv2d's weight gradient with the roles of input and output swapped:
    ``dL/dw[ci, co, i, j] = sum_n,p x[n, ci, p] cols(gy)[n, (co, i, j), p]``.
    """
    check_float_arrays("conv_transpose2d_backward", input=x, weight=w, grad_output=gy)
    out_shape = conv_transpose2d_output_shape(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    if gy.shape != out_shape:
        raise RuntimeError(f"conv_transpose2d_backward: grad_output {gy.shape} must have the output shape {out_shape}")
    N, Cin, H, W = x.shape
    Cog, kh, kw = w.shape[1:]
    Cig = Cin // groups
    gx = None
    if need_input_grad:
        # with output_padding >= stride (allowed when smaller than dilation) the conv covers extra
        # positions past the input's edge; they belong to no input pixel, so crop them
        gx = conv2d_forward(gy, w, None, stride, padding, dilation, groups)[:, :, :H, :W].copy()
    gw = None
    if need_weight_grad:
        gw = np.empty_like(w)
        x3 = x.reshape(N, Cin, H * W)
        for g in range(groups):
            cols = im2col(gy[:, g * Cog:(g + 1) * Cog], (kh, kw), stride, padding, dilation, (H, W))  # (N, K, H*W)
            gw[g * Cig:(g + 1) * Cig] = np.einsum("nop,nkp->ok", x3[:, g * Cig:(g + 1) * Cig],
                                                  cols).reshape(Cig, Cog, kh, kw)
    gb = gy.sum(axis=(0, 2, 3)) if need_bias_grad else None
    return gx, gw, gb
