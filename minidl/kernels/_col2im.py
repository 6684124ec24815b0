"""col2im in Numba: the last step of the input gradient of a strided convolution (see ``conv.py``).

With stride > 1 the input gradient is not a plain convolution of ``gy``; ``conv.py`` then forms
``dcols = W^T gy`` (one BLAS matmul per chunk of images) and folds it back onto the image here:
every column of ``dcols`` is added to the input pixels its receptive field covers.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, boundscheck=False)
def col2im_chunk(dcols: np.ndarray, n0: int, gx: np.ndarray, kh: int, kw: int, sh: int, sw: int, ph: int,
                 pw: int, dh: int, dw: int, Ho: int, Wo: int) -> None:  # pragma: no cover - compiled
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
