"""Numba kernels for dense SIFT: gradients, histograms, post-processing, the whole dense grid.

Plain loops over ndarrays; no Python objects. They compute *exactly* the float64 numbers of the
NumPy reference ``classical.sift_reference`` (same operations in the same order; LLVM does not
reassociate or fuse float operations without fastmath, which we never enable). The parity suite
checks that bit for bit. With ``NUMBA_DISABLE_JIT=1`` they run as (slow) plain Python.

Cost per image of H x W pixels: one pass for the gradients (~25 flops per pixel), then every
pixel votes in (patch_size / step)^2 = 4 patches (one multiply-add each), then the 128-d
post-processing of every patch (3 passes): ~0.6 ms per 256 x 256 image on one core. Two drivers:

- ``dense_sift_kernel`` (one image): blocks of pixel rows, then rows of patches, over the threads;
  two fork/joins per image, fine on idle cores, slow when other processes compete for them;
- ``dense_sift_batch`` (many images): each thread takes every n-th image and runs it serially,
  one fork/join per batch. This is what ``DenseSIFT`` and ``dense_sift_many`` use.

Performance note: the gradient pass goes row by row in three simple loops (gradients into scratch
rows, magnitudes, bins as branch-free selects) that LLVM vectorises; written as one fused loop with
branches it ran 3x slower outside a ``prange`` body (where Numba cannot mark arrays ``noalias``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SQRT_HALF = math.sqrt(0.5)
ROW_BLOCK = 16  # pixel rows per parallel task in the single-image gradient pass


@njit(cache=True, inline="always")
def _orientation_bin(ix: float, iy: float) -> int:
    """argmax_k of the dot products of v = (Iy, -Ix) with the 8 directions (first max wins).

    Same formulas as ``sift_reference.orientation_dots``; written as selects (no branches) so the
    loop that calls it vectorises. A zero magnitude is handled by the caller.
    """
    a = iy
    b = -ix
    best = a
    k = 0
    d = SQRT_HALF * (a + b)
    c = d > best
    best, k = (d, 1) if c else (best, k)
    d = b
    c = d > best
    best, k = (d, 2) if c else (best, k)
    d = SQRT_HALF * (b - a)
    c = d > best
    best, k = (d, 3) if c else (best, k)
    d = -a
    c = d > best
    best, k = (d, 4) if c else (best, k)
    d = -(SQRT_HALF * (a + b))
    c = d > best
    best, k = (d, 5) if c else (best, k)
    d = -b
    c = d > best
    best, k = (d, 6) if c else (best, k)
    d = SQRT_HALF * (a - b)
    c = d > best
    best, k = (d, 7) if c else (best, k)
    return k


@njit(cache=True, inline="always")
def _sobel_at(image: np.ndarray, y: int, ym: int, yp: int, x: int, xm: int, xp: int) -> tuple[float, float]:
    """(Ix, Iy) at pixel (y, x); ym/yp/xm/xp are the neighbour indices, clamped (replicate padding)."""
    # Ix: derivative along x of rows ym, y, yp, then [1, 2, 1] / 2 along y.
    d_m = (image[ym, xp] - image[ym, xm]) * 0.5
    d_0 = (image[y, xp] - image[y, xm]) * 0.5
    d_p = (image[yp, xp] - image[yp, xm]) * 0.5
    ix = (d_m + 2.0 * d_0 + d_p) * 0.5
    # Iy: [1, 2, 1] / 2 along x of rows ym and yp, then derivative along y.
    s_m = (image[ym, xm] + 2.0 * image[ym, x] + image[ym, xp]) * 0.5
    s_p = (image[yp, xm] + 2.0 * image[yp, x] + image[yp, xp]) * 0.5
    iy = (s_p - s_m) * 0.5
    return ix, iy


@njit(cache=True)
def _mag_ori_rows(image: np.ndarray, mag: np.ndarray, ori: np.ndarray, y_start: int, y_stop: int,
                  gx: np.ndarray, gy: np.ndarray) -> None:
    """Fill mag[y], ori[y] for y in [y_start, y_stop): sqrt(Ix^2 + Iy^2) and bin (-1 where 0).

    gx, gy: (W,) scratch rows. Row by row in simple passes (gradients, then magnitudes, then bins):
    each pass is a plain loop over contiguous rows that LLVM vectorises (one fused loop did not:
    3x slower).
    """
    h, w = image.shape
    for y in range(y_start, y_stop):
        ym = max(y - 1, 0)
        yp = min(y + 1, h - 1)
        for x in range(w):
            gx[x], gy[x] = _sobel_at(image, y, ym, yp, x, max(x - 1, 0), min(x + 1, w - 1))
        for x in range(w):
            mag[y, x] = np.sqrt(gx[x] * gx[x] + gy[x] * gy[x])
        for x in range(w):
            k = _orientation_bin(gx[x], gy[x])
            ori[y, x] = k if mag[y, x] != 0.0 else -1


@njit(cache=True, parallel=True)
def sobel_kernel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ix, Iy of an (H, W) float64 image (for tests and figures; the SIFT path fuses it)."""
    h, w = image.shape
    ix = np.empty((h, w))
    iy = np.empty((h, w))
    for y in prange(h):
        ym = max(y - 1, 0)
        yp = min(y + 1, h - 1)
        for x in range(w):
            ix[y, x], iy[y, x] = _sobel_at(image, y, ym, yp, x, max(x - 1, 0), min(x + 1, w - 1))
    return ix, iy


@njit(cache=True, parallel=True)
def magnitude_orientation_kernel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient magnitude (H, W) float64 and orientation bin (H, W) int8 of an (H, W) float64 image."""
    h, w = image.shape
    mag = np.empty((h, w))
    ori = np.empty((h, w), dtype=np.int8)
    n_blocks = (h + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(n_blocks):
        _mag_ori_rows(image, mag, ori, b * ROW_BLOCK, min((b + 1) * ROW_BLOCK, h), np.empty(w), np.empty(w))
    return mag, ori


@njit(cache=True)
def cell_histograms_into(mag: np.ndarray, ori: np.ndarray, y0: int, x0: int, patch_size: int,
                         mask: np.ndarray, out: np.ndarray) -> None:
    """Add the votes of the patch at (y0, x0) of ``mag``/``ori`` into ``out`` (128,), zeroed by the caller.

    Pixel (y0 + r, x0 + c) votes ``mag * mask[r, c]`` into bin ``ori`` of cell (r // cell, c // cell),
    in row-major pixel order (the reference's ``np.bincount`` order). The column loop is split by
    cell so no division is needed per pixel.
    """
    cell = patch_size // 4
    for r in range(patch_size):
        row_base = (r // cell) * 32  # 4 cells x 8 bins per row of cells
        for cc in range(4):
            base = row_base + cc * 8
            for c in range(cc * cell, (cc + 1) * cell):
                o = ori[y0 + r, x0 + c]
                if o >= 0:
                    out[base + o] += mag[y0 + r, x0 + c] * mask[r, c]


@njit(cache=True)
def postprocess_inplace(h: np.ndarray, threshold: float, clamp: float) -> None:
    """||h|| < threshold (or 0) -> 0; else h / ||h||, min(h, clamp), h / ||h|| (sequential sums)."""
    s = 0.0
    for k in range(h.shape[0]):
        s += h[k] * h[k]
    norm = np.sqrt(s)
    if norm < threshold or norm == 0.0:
        h[:] = 0.0
        return
    s = 0.0
    for k in range(h.shape[0]):
        v = min(h[k] / norm, clamp)
        h[k] = v
        s += v * v
    norm = np.sqrt(s)
    for k in range(h.shape[0]):
        h[k] = h[k] / norm


@njit(cache=True)
def _patch_rows(mag: np.ndarray, ori: np.ndarray, i_start: int, i_stop: int, step: int, patch_size: int,
                mask: np.ndarray, threshold: float, clamp: float, out: np.ndarray) -> None:
    """Descriptors of patch rows [i_start, i_stop) into out (n_y, n_x, 128), zeroed by the caller."""
    for i in range(i_start, i_stop):
        for j in range(out.shape[1]):
            h = out[i, j]
            cell_histograms_into(mag, ori, i * step, j * step, patch_size, mask, h)
            postprocess_inplace(h, threshold, clamp)


@njit(cache=True, parallel=True)
def dense_sift_kernel(padded: np.ndarray, n_y: int, n_x: int, step: int, patch_size: int,
                      mask: np.ndarray, threshold: float, clamp: float) -> np.ndarray:
    """Dense SIFT of one already zero-padded image.

    padded: (Hp, Wp) float64 with (n_y - 1) step + patch_size <= Hp (same for x);
    mask: (patch_size, patch_size).  Returns (n_y, n_x, 128) float64.
    """
    h, w = padded.shape
    mag = np.empty((h, w))
    ori = np.empty((h, w), dtype=np.int8)
    n_blocks = (h + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(n_blocks):
        _mag_ori_rows(padded, mag, ori, b * ROW_BLOCK, min((b + 1) * ROW_BLOCK, h), np.empty(w), np.empty(w))
    out = np.zeros((n_y, n_x, 128))
    for i in prange(n_y):
        _patch_rows(mag, ori, i, i + 1, step, patch_size, mask, threshold, clamp, out)
    return out


@njit(cache=True, parallel=True)
def dense_sift_batch(flat: np.ndarray, shapes: np.ndarray, in_offsets: np.ndarray, grids: np.ndarray,
                     out_offsets: np.ndarray, step: int, patch_size: int, mask: np.ndarray,
                     threshold: float, clamp: float, n_workers: int, out: np.ndarray) -> None:
    """Dense SIFT of N zero-padded images packed in one flat buffer; parallel over images.

    flat: the padded images, raveled and concatenated: image k is
    ``flat[in_offsets[k] : in_offsets[k] + Hp * Wp].reshape(shapes[k])``; grids: (N, 2) its (n_y, n_x).
    out: (total_patches, 128) zeros; image k writes rows ``out_offsets[k] : out_offsets[k] + n_y * n_x``.

    Each of the ``n_workers`` tasks takes every n_workers-th image (round-robin balances the sizes)
    and runs it serially with its own scratch buffers: a single fork/join for the whole batch, so a
    thread that the OS delays (other processes on the same cores) does not stall every image.
    """
    n = shapes.shape[0]
    max_pixels = 0
    max_width = 0
    for k in range(n):
        max_pixels = max(max_pixels, shapes[k, 0] * shapes[k, 1])
        max_width = max(max_width, shapes[k, 1])
    for wkr in prange(n_workers):
        mag_buf = np.empty(max_pixels)
        ori_buf = np.empty(max_pixels, dtype=np.int8)
        gx = np.empty(max_width)
        gy = np.empty(max_width)
        for k in range(wkr, n, n_workers):
            hp, wp = shapes[k, 0], shapes[k, 1]
            n_y, n_x = grids[k, 0], grids[k, 1]
            image = flat[in_offsets[k]:in_offsets[k] + hp * wp].reshape((hp, wp))
            mag = mag_buf[:hp * wp].reshape((hp, wp))
            ori = ori_buf[:hp * wp].reshape((hp, wp))
            _mag_ori_rows(image, mag, ori, 0, hp, gx, gy)
            desc = out[out_offsets[k]:out_offsets[k] + n_y * n_x].reshape((n_y, n_x, 128))
            _patch_rows(mag, ori, 0, n_y, step, patch_size, mask, threshold, clamp, desc)
