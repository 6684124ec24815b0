"""Dense SIFT, the readable plain-NumPy reference (course RDFIA, TME 1-2).

Every step of the course's descriptor, one small function each, written for reading. The fast
Numba version (``classical._sift_kernels``) computes *exactly* the same float64 numbers; the parity
suite checks it bit for bit against this file. The conventions (which the course leaves open or
fixes only in its code) are documented once, in ``classical.sift``'s module docstring; the short
version:

- axes: ``y`` is the row index (axis 0, downwards), ``x`` the column index (axis 1);
- image values in [0, 255] (float64);
- orientation bin ``k`` in 0..7 is the direction of ``v = (Iy, -Ix)`` nearest to angle ``k * 45deg``
  (the course's ``compute_grad_ori``); a zero gradient gets bin -1 (it votes nowhere);
- descriptor index = ``(cell_row * 4 + cell_col) * 8 + bin``.

Why some lines look unusual: to make the Numba kernel reproduce this file *exactly*, every sum is
done in a fixed, documented order. Histogram bins are accumulated in row-major pixel order
(``np.bincount`` adds its weights sequentially) and the squared norm is a sequential sum
(``np.cumsum(...)[-1]``) rather than ``np.sum``/``np.linalg.norm``, whose pairwise/SIMD/BLAS order
is an implementation detail.
"""
from __future__ import annotations

import math

import numpy as np

N_BINS = 8  # orientation bins (the course's 8 directions, 45 degrees apart)
N_CELLS = 4  # cells per patch side: 4 x 4 cells x 8 bins = 128 dimensions
SQRT_HALF = math.sqrt(0.5)  # cos(45deg) = sin(45deg), rounded once to float64


# --------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------
def sobel_gradients_ref(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Separable Sobel gradients, as correlation with replicate ("edge") padding.

    With ``h_x = [-1, 0, 1] / 2`` (derivative) and ``h_y = [1, 2, 1] / 2`` (smoothing)::

        Ix = I (x) (h_y^T h_x):  Ix[y, x] = sum_{i,j in -1..1} h_y[i] h_x[j] I[y+i, x+j]
        Iy = I (x) (h_x^T h_y):  Iy[y, x] = sum_{i,j in -1..1} h_x[i] h_y[j] I[y+i, x+j]

    where (x) is correlation (no kernel flip) and ``I`` outside the image repeats its border.
    Separably: ``Ix`` = horizontal derivative of each row, then vertical smoothing of that; ``Iy``
    = horizontal smoothing, then vertical derivative. A unit ramp ``I[y, x] = x`` gives ``Ix = 2``
    (h_y sums to 2), as in the course.

    image: (H, W) float64.  Returns (Ix, Iy): (H, W) float64 each.
    """
    p = np.pad(image, 1, mode="edge")  # (H+2, W+2)
    # Ix: derivative along x of every padded row, then [1, 2, 1]/2 along y.
    dx = (p[:, 2:] - p[:, :-2]) * 0.5  # (H+2, W)
    ix = (dx[:-2] + 2.0 * dx[1:-1] + dx[2:]) * 0.5  # (H, W)
    # Iy: [1, 2, 1]/2 along x of every padded row, then derivative along y.
    sx = (p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]) * 0.5  # (H+2, W)
    iy = (sx[2:] - sx[:-2]) * 0.5  # (H, W)
    return ix, iy


def orientation_dots(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Dot products of ``v = (Iy, -Ix)`` with the 8 unit directions ``(cos k45, sin k45)``.

    Written with ``c = sqrt(1/2)`` so the arithmetic is the same in NumPy and Numba::

        k:   0    1          2    3          4    5            6    7
        dot: a    c*(a+b)    b    c*(b-a)   -a   -(c*(a+b))   -b    c*(a-b)     (a = Iy, b = -Ix)

    ix, iy: (...) arrays.  Returns (8, ...) float64.
    """
    a = iy
    b = -ix
    return np.stack([a, SQRT_HALF * (a + b), b, SQRT_HALF * (b - a),
                     -a, -(SQRT_HALF * (a + b)), -b, SQRT_HALF * (a - b)])


def gradient_magnitude_orientation_ref(ix: np.ndarray, iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient magnitude ``sqrt(Ix^2 + Iy^2)`` and orientation bin in 0..7 (-1 where it is 0).

    The bin is the course's ``argmax_k <v / |v|, (cos 2 pi k / 8, sin 2 pi k / 8)>`` with
    ``v = (Iy, -Ix)``: the nearest of 8 directions, i.e. ``round(theta / 45deg) mod 8`` with
    ``theta = atan2(-Ix, Iy)``. Bin k covers theta in [45k - 22.5, 45k + 22.5] degrees; exact ties
    (not reachable with finite rational inputs except by rounding) go to the lower k (argmax).
    Normalising v does not change an argmax, so we skip it. In terms of the gradient angle
    ``phi = atan2(Iy, Ix)`` (x right, y down), ``phi = theta + 90deg``: bin 0 = gradient pointing
    down (+y), bin 2 = gradient pointing left (-x), bin 4 = up, bin 6 = right.

    ix, iy: (H, W) float64.  Returns magnitude (H, W) float64, orientation (H, W) int64.
    """
    magnitude = np.sqrt(ix * ix + iy * iy)
    orientation = np.argmax(orientation_dots(ix, iy), axis=0).astype(np.int64)
    orientation[magnitude == 0.0] = -1
    return magnitude, orientation


# --------------------------------------------------------------------------------------------
# Mask, padding, grid
# --------------------------------------------------------------------------------------------
def gaussian_mask(patch_size: int = 16, sigma: float = 8.0) -> np.ndarray:
    """The course's Gaussian weighting mask, normalised to sum to 1.

    ``mask[r, c] = exp(-((r - r0)^2 + (c - r0)^2) / (2 sigma^2)) / Z`` with ``r0 = patch_size//2 - 1``
    (the course builds it on ``ax = arange(-size//2 + 1, size//2 + 1)``, i.e. -7..8 for 16 px, so
    its peak is on pixel (7, 7), half a pixel up-left of the patch centre (7.5, 7.5); we keep that).

    Returns (patch_size, patch_size) float64, summing to 1.
    """
    ax = np.arange(-(patch_size // 2) + 1.0, patch_size // 2 + 1.0)  # patch_size is even (4 cells)
    kernel = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    return kernel / kernel.sum()


def padding_for_grid(shape: tuple[int, int], step: int = 8, patch_size: int = 16) -> tuple[int, int, int, int]:
    """Zero padding so that the last patch of the dense grid fits (the course's ``auto_padding``).

    Along each axis of length L, patches start every ``step`` pixels at ``0, step, ..., (n-1) step``
    with ``n = ceil(L / step)`` (the course's ``arange(0, L, step)``). The last patch ends at
    ``(n-1) step + patch_size``; the missing ``pad = max(0, (n-1) step + patch_size - L)`` pixels are
    added as zeros, ``pad // 2`` before the image and the rest after it (the course centres the
    image in the padded canvas). Returns ``(pad_top, pad_bottom, pad_left, pad_right)``.
    """
    out = []
    for length in shape:
        n = -(-length // step)
        pad = max(0, (n - 1) * step + patch_size - length)
        out.extend([pad // 2, pad - pad // 2])
    return out[0], out[1], out[2], out[3]


def grid_size(shape: tuple[int, int], step: int = 8) -> tuple[int, int]:
    """Number of patches (n_y, n_x) = (ceil(H / step), ceil(W / step))."""
    return -(-shape[0] // step), -(-shape[1] // step)


def pad_image(image: np.ndarray, step: int = 8, patch_size: int = 16) -> np.ndarray:
    """The zero-padded canvas: (H, W) -> (H + pad_y, W + pad_x), image centred (see padding_for_grid)."""
    top, bottom, left, right = padding_for_grid(image.shape, step, patch_size)
    return np.pad(image, ((top, bottom), (left, right)), mode="constant", constant_values=0.0)


# --------------------------------------------------------------------------------------------
# One patch
# --------------------------------------------------------------------------------------------
def cell_histograms_ref(magnitude: np.ndarray, orientation: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The raw 128-d descriptor of one patch: 4 x 4 cells, an 8-bin orientation histogram each.

    Every pixel votes ``magnitude * mask`` into the bin ``orientation`` of its cell; pixels with
    orientation -1 (zero gradient) do not vote. Output index ``(cell_row * 4 + cell_col) * 8 + bin``.
    Votes of one bin are summed in row-major pixel order (``np.bincount`` is sequential).

    magnitude: (P, P) float64, orientation: (P, P) int, mask: (P, P) or None (all ones); P = 4 * cell.
    Returns (4 * 4 * 8,) = (128,) float64.
    """
    p = magnitude.shape[0]
    cell = p // N_CELLS
    weights = magnitude * mask if mask is not None else magnitude.astype(np.float64, copy=True)
    rows, cols = np.indices((p, p))
    cell_index = (rows // cell) * N_CELLS + cols // cell  # (P, P) in 0..15
    votes = orientation >= 0
    index = cell_index[votes] * N_BINS + orientation[votes]
    return np.bincount(index, weights=weights[votes], minlength=N_CELLS * N_CELLS * N_BINS)


def _sequential_norm(h: np.ndarray) -> float:
    """sqrt(h_0^2 + h_1^2 + ...), summed left to right (so Numba can reproduce it exactly)."""
    return float(np.sqrt(np.cumsum(h * h)[-1]))


def postprocess_ref(descriptor: np.ndarray, threshold: float = 0.5, clamp: float = 0.2) -> np.ndarray:
    """The course's post-processing of a raw descriptor.

    ``||h|| < threshold`` -> the zero vector (a flat patch); otherwise ``h / ||h||``, clamp every
    entry at ``clamp`` (0.2: no single gradient direction dominates), then ``h / ||h||`` again.
    A zero histogram stays the zero vector even with ``threshold=0``.

    descriptor: (D,) float64.  Returns a new (D,) float64 array.
    """
    h = np.asarray(descriptor, dtype=np.float64)
    norm = _sequential_norm(h)
    if norm < threshold or norm == 0.0:
        return np.zeros_like(h)
    h = np.minimum(h / norm, clamp)
    return h / _sequential_norm(h)


def sift_patch_ref(magnitude: np.ndarray, orientation: np.ndarray, mask: np.ndarray | None = None,
                   threshold: float = 0.5, clamp: float = 0.2) -> np.ndarray:
    """One patch's final descriptor: ``postprocess(cell_histograms(...))``. Returns (128,)."""
    return postprocess_ref(cell_histograms_ref(magnitude, orientation, mask), threshold, clamp)


# --------------------------------------------------------------------------------------------
# The whole image
# --------------------------------------------------------------------------------------------
def dense_sift_ref(image: np.ndarray, step: int = 8, patch_size: int = 16, sigma: float | None = None,
                   threshold: float = 0.5, clamp: float = 0.2) -> np.ndarray:
    """Dense SIFT of a whole image, patch by patch (slow, readable).

    1. zero-pad so the last patch fits (image centred), 2. Sobel gradients of the padded image,
    magnitudes and bins, 3. for every patch at (i step, j step) of the padded image, its 128-d
    descriptor from the Gaussian-weighted magnitudes.

    image: (H, W) float64.  Returns (ceil(H/step), ceil(W/step), 128) float64.
    """
    mask = gaussian_mask(patch_size, patch_size / 2.0 if sigma is None else sigma)
    padded = pad_image(image, step, patch_size)
    magnitude, orientation = gradient_magnitude_orientation_ref(*sobel_gradients_ref(padded))
    n_y, n_x = grid_size(image.shape, step)
    dim = N_CELLS * N_CELLS * N_BINS
    out = np.zeros((n_y, n_x, dim))
    for i in range(n_y):
        for j in range(n_x):
            y, x = i * step, j * step
            window = (slice(y, y + patch_size), slice(x, x + patch_size))
            out[i, j] = sift_patch_ref(magnitude[window], orientation[window], mask, threshold, clamp)
    return out
