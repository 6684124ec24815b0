"""Dense SIFT, the course's way (RDFIA TME 1-2): public API.

    >>> from classical.sift import dense_sift, DenseSIFT
    >>> desc, pos = dense_sift(image)             # image: (H, W) grey levels in [0, 255]
    >>> desc.shape, pos.shape                     # (ceil(H/8), ceil(W/8), 128), (..., 2)
    >>> X = DenseSIFT().fit_transform(images)     # list of (n_patches, 128), scikit-learn style

The algorithm (DESIGN.md section 6), step by step, each step a public function below:

1. ``sobel_gradients``: separable Sobel, ``h_x = [-1, 0, 1]/2``, ``h_y = [1, 2, 1]/2``, applied as
   correlation with replicate padding: ``Ix = I (x) h_y^T h_x``, ``Iy = I (x) h_x^T h_y``.
2. ``gradient_magnitude_orientation``: ``sqrt(Ix^2 + Iy^2)`` and an orientation bin in 0..7.
3. ``gaussian_mask``: sigma = 8 px over the 16 x 16 patch, normalised to sum to 1.
4. ``cell_histograms`` / ``sift_patch``: 4 x 4 cells of 4 x 4 px, each an 8-bin histogram of the
   masked magnitudes: 128 dimensions.
5. ``postprocess``: norm < 0.5 -> zero vector; else L2-normalise, clamp at 0.2, L2-normalise.
6. ``dense_sift``: a 16 x 16 patch every 8 px of the image, zero-padded so the last patch fits.

The fast path (``dense_sift``, ``DenseSIFT``) is a Numba kernel (``classical._sift_kernels``); the
pieces above are the readable NumPy reference (``classical.sift_reference``). Both give the same
float64 numbers bit for bit (``parity/test_sift.py``).

Choices the course leaves open, and what we do
----------------------------------------------
**Image values.** Grey levels in [0, 255] as float64 (``classical.images.read_gray``; colour is
0.2 R + 0.7 G + 0.1 B). The threshold below is *absolute*, so the range matters: an image in
[0, 1] would make almost every patch "flat". ``dense_sift`` warns when an image's largest absolute
value is in (0, 1].

**Mask scale vs the 0.5 threshold.** The course's mask sums to 1 (each weight ~1/256) and is applied
as is; the threshold is applied to the *raw* histogram norm, i.e. computed from Sobel magnitudes of
[0, 255] images times that mask. We do not rescale the mask. What the threshold then means: a patch
with one orientation and constant magnitude m everywhere has raw norm ~ m / 4 (16 cells of ~m/16
each); with orientations spread evenly over the 8 bins, ~ m / 11.3. So 0.5 nulls a
single-orientation patch whose mean Sobel magnitude is below ~2 (a ramp of 1 grey level per pixel:
h_y sums to 2) and a noise-like patch below ~5.7: clear sky, still water, plain walls, saturated
areas. Measured on the real 15-Scene training images (1,500 images, 1,578,879 patches): 12.6 % of
the patches are null; per image the median is 9.4 % (36 % of the images have fewer than 5 %, 114
images more than a third, at most 69 %); per class from 1.8 % (forest) and 2.1 % (store) to 23 %
(coast) and 33 % (highway): the flat regions are sky, road and sea. That is the course's intent: the
zero vector marks flat regions, and the dictionary gives them their own "null word". (Rescaling the
mask to mean 1 would multiply every norm by 256 and null almost nothing; pass ``threshold`` to
change the cut instead.)

**Orientation bins.** The course's ``compute_grad_ori``: bin k in 0..7 is the direction, among
angles k * 45 degrees, nearest to the vector ``v = (Iy, -Ix)``, i.e. ``round(atan2(-Ix, Iy) / 45deg)
mod 8``: bins are *centred* on multiples of 45 degrees, edges at 22.5 + 45 k. In gradient terms
(x to the right, y downwards) bin 0 is a gradient pointing down (+y), bin 2 left, bin 4 up,
bin 6 right. A pixel whose gradient is exactly zero gets bin -1 and votes nowhere (its weight would
be 0 anyway). Exact ties between two bins go to the lower bin (first argmax). No interpolation
between bins or cells (the course's SIFT has none; Lowe's has trilinear interpolation).

**Padding and grid.** Along an axis of length L, patches start at ``0, 8, ..., 8 (n-1)`` with
``n = ceil(L / 8)`` (the course's ``arange(0, L, 8)``); the image is zero-padded by
``pad = 8 (n-1) + 16 - L`` pixels (8 to 15 for 16/8), ``pad // 2`` before and the rest after: the
course's ``auto_padding`` centres the image in the padded canvas. The gradients are computed on the
padded canvas (as in the course), so border patches see the step from the image to the zero
padding. Any image size works, including images smaller than one patch (one patch, mostly padding).
``positions[i, j] = (8 i - pad_top, 8 j - pad_left)`` is the top-left pixel (y, x) of patch (i, j)
in the *original* image's coordinates (negative for the first row/column, which start in the
padding); its centre is at ``positions + 8`` (continuous coordinates, pixel k covering [k, k+1)).

**Mask centre.** The course's mask is built on ``arange(-7, 9)``: its peak is on pixel (7, 7), half
a pixel up-left of the patch centre (7.5, 7.5). We keep it (faithful to the course).

**Descriptor layout.** Index ``(cell_row * 4 + cell_col) * 8 + bin``, cells in row-major order.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from classical import _sift_kernels as _k
from classical.sift_reference import (
    cell_histograms_ref,
    dense_sift_ref,
    gaussian_mask,
    gradient_magnitude_orientation_ref,
    grid_size,
    pad_image,
    padding_for_grid,
    postprocess_ref,
    sift_patch_ref,
    sobel_gradients_ref,
)

__all__ = [
    "DenseSIFT",
    "cell_histograms",
    "check_image",
    "dense_sift",
    "dense_sift_many",
    "gaussian_mask",
    "gradient_magnitude_orientation",
    "grid_positions",
    "padding_for_grid",
    "postprocess",
    "sift_patch",
    "sobel_gradients",
]

DESCRIPTOR_SIZE = 128


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def check_image(image: Any, name: str = "dense_sift") -> np.ndarray:
    """Validate a grayscale image and return it as a C-contiguous float64 (H, W) array.

    Raises ValueError (scikit-learn's type for bad values/shapes), naming the shape, for: not 2-D
    (a colour (H, W, 3) image must go through ``classical.images.to_gray`` first), an empty image,
    a non-numeric or complex dtype, NaN or infinite values.
    """
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a real-valued image, got dtype {a.dtype} with shape {a.shape}")
    if a.ndim != 2:
        hint = " (a colour image? convert it with classical.images.to_gray)" if a.ndim == 3 else ""
        raise ValueError(f"{name}: expected a 2-D grayscale image (H, W), got shape {a.shape}{hint}")
    if a.size == 0:
        raise ValueError(f"{name}: empty image of shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        n_bad = int(np.count_nonzero(~np.isfinite(a)))
        raise ValueError(f"{name}: image of shape {a.shape} contains {n_bad} NaN or infinite value(s)")
    return a


def _check_params(step: int, patch_size: int, sigma: float | None, threshold: float, clamp: float) -> float:
    """Validate the SIFT parameters; returns the mask sigma (default patch_size / 2)."""
    if int(step) != step or step < 1:
        raise ValueError(f"step must be a positive integer, got {step!r}")
    if int(patch_size) != patch_size or patch_size < 4 or patch_size % 4:
        raise ValueError(f"patch_size must be a positive multiple of 4 (4 x 4 cells), got {patch_size!r}")
    sigma = patch_size / 2.0 if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    if not clamp > 0:
        raise ValueError(f"clamp must be > 0, got {clamp!r}")
    return sigma


def _in_unit_range(image: np.ndarray) -> bool:
    """True for a non-black image whose values all lie in [-1, 1] (probably scaled to [0, 1])."""
    peak = float(np.abs(image).max())
    return 0.0 < peak <= 1.0


_UNIT_RANGE_HINT = ("the 0.5 threshold assumes grey levels in [0, 255], so most patches will be null. "
                    "Multiply by 255?")


# --------------------------------------------------------------------------------------------
# The pieces (readable NumPy; see sift_reference for the math)
# --------------------------------------------------------------------------------------------
def sobel_gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Separable Sobel gradients (correlation, replicate padding). image: (H, W) -> Ix, Iy: (H, W)."""
    return sobel_gradients_ref(check_image(image, "sobel_gradients"))


def gradient_magnitude_orientation(ix: np.ndarray, iy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude sqrt(Ix^2 + Iy^2), (H, W) float64, and orientation bin in 0..7 (-1 if zero), (H, W) int64."""
    ix = np.asarray(ix, dtype=np.float64)
    iy = np.asarray(iy, dtype=np.float64)
    if ix.shape != iy.shape:
        raise ValueError(f"gradient_magnitude_orientation: Ix {ix.shape} and Iy {iy.shape} differ in shape")
    return gradient_magnitude_orientation_ref(ix, iy)


def cell_histograms(magnitude: np.ndarray, orientation: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Raw 128-d histogram of one (P, P) patch (4 x 4 cells x 8 bins), before post-processing."""
    magnitude = np.asarray(magnitude, dtype=np.float64)
    orientation = np.asarray(orientation)
    p = magnitude.shape[0] if magnitude.ndim == 2 else -1
    if magnitude.ndim != 2 or magnitude.shape != (p, p) or p % 4 or orientation.shape != magnitude.shape \
            or (mask is not None and np.shape(mask) != magnitude.shape):
        raise ValueError(f"cell_histograms: expected square (P, P) magnitude, orientation and mask with P a "
                         f"multiple of 4, got {magnitude.shape}, {orientation.shape}, "
                         f"{None if mask is None else np.shape(mask)}")
    return cell_histograms_ref(magnitude, orientation.astype(np.int64), mask)


def postprocess(descriptor: np.ndarray, threshold: float = 0.5, clamp: float = 0.2) -> np.ndarray:
    """norm < threshold -> zeros; else L2-normalise, clamp at ``clamp``, L2-normalise. (D,) -> (D,)."""
    d = np.asarray(descriptor, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"postprocess: expected one descriptor (D,), got shape {d.shape}")
    return postprocess_ref(d, threshold, clamp)


def sift_patch(magnitude: np.ndarray, orientation: np.ndarray, mask: np.ndarray | None = None,
               threshold: float = 0.5, clamp: float = 0.2) -> np.ndarray:
    """Final 128-d descriptor of one patch: ``postprocess(cell_histograms(magnitude, orientation, mask))``.

    magnitude: (P, P) float, orientation: (P, P) int in -1..7, mask: (P, P) (``gaussian_mask()``) or
    None for no weighting. Returns (128,) float64.
    """
    return postprocess(cell_histograms(magnitude, orientation, mask), threshold, clamp)


def grid_positions(shape: tuple[int, int], step: int = 8, patch_size: int = 16) -> np.ndarray:
    """Top-left (y, x) of every patch of the dense grid, in the original image's coordinates.

    ``positions[i, j] = (i * step - pad_top, j * step - pad_left)`` (see ``padding_for_grid``).
    Returns (ceil(H/step), ceil(W/step), 2) int64.
    """
    top, _, left, _ = padding_for_grid(shape, step, patch_size)
    n_y, n_x = grid_size(shape, step)
    pos = np.empty((n_y, n_x, 2), dtype=np.int64)
    pos[..., 0] = (np.arange(n_y) * step - top)[:, None]
    pos[..., 1] = (np.arange(n_x) * step - left)[None, :]
    return pos


# --------------------------------------------------------------------------------------------
# The whole image
# --------------------------------------------------------------------------------------------
def dense_sift(image: np.ndarray, *, step: int = 8, patch_size: int = 16, sigma: float | None = None,
               threshold: float = 0.5, clamp: float = 0.2,
               implementation: str = "numba") -> tuple[np.ndarray, np.ndarray]:
    """Dense SIFT descriptors of a grayscale image.

    image: (H, W), grey levels in [0, 255] (any real dtype; converted to float64).
    step: grid spacing in px; patch_size: patch side (multiple of 4; cells are patch_size / 4);
    sigma: the Gaussian mask's std in px (default patch_size / 2 = 8); threshold: raw-norm threshold
    under which a patch is flat (zero descriptor); clamp: the post-normalisation clamp.
    implementation: "numba" (fast, parallel) or "numpy" (the readable reference; same numbers).

    Returns ``(descriptors, positions)``: (n_y, n_x, 128) float64 with n_y = ceil(H/step),
    n_x = ceil(W/step), and (n_y, n_x, 2) int64 top-left (y, x) of each patch in the original
    image's coordinates (see the module docstring).
    """
    img = check_image(image, "dense_sift")
    sigma = _check_params(step, patch_size, sigma, threshold, clamp)
    if _in_unit_range(img):
        warnings.warn(f"dense_sift: image of shape {img.shape} has values in [-1, 1]; {_UNIT_RANGE_HINT}",
                      UserWarning, stacklevel=2)
    positions = grid_positions(img.shape, step, patch_size)
    if implementation == "numpy":
        return dense_sift_ref(img, step, patch_size, sigma, threshold, clamp), positions
    if implementation != "numba":
        raise ValueError(f"implementation must be 'numba' or 'numpy', got {implementation!r}")
    n_y, n_x = positions.shape[:2]
    desc = _k.dense_sift_kernel(pad_image(img, step, patch_size), n_y, n_x, int(step), int(patch_size),
                                gaussian_mask(patch_size, sigma), float(threshold), float(clamp))
    return desc, positions


def dense_sift_many(images: Sequence[np.ndarray], *, step: int = 8, patch_size: int = 16,
                    sigma: float | None = None, threshold: float = 0.5, clamp: float = 0.2,
                    progress: bool | None = None, chunk_pixels: int = 4_000_000) -> list[np.ndarray]:
    """``dense_sift`` of many images (same numbers), parallel over images rather than within each.

    The images are validated, zero-padded and packed ``chunk_pixels`` at a time into one flat
    buffer; one ``dense_sift_batch`` call per chunk spreads the images over the Numba threads.
    Returns a list of (ceil(H_i/step), ceil(W_i/step), 128) float64 arrays (views into one buffer
    per chunk). progress: tqdm bar (None: shown for more than 100 images). Errors name the index of
    the bad image.
    """
    from numba import get_num_threads
    from tqdm.auto import tqdm

    sigma = _check_params(step, patch_size, sigma, threshold, clamp)
    mask = gaussian_mask(patch_size, sigma)
    n = len(images)
    bar = tqdm(total=n, desc="dense SIFT", unit="img", disable=not (progress if progress is not None else n > 100))
    out: list[np.ndarray] = []
    n_unit = 0
    start = 0
    while start < n:
        padded: list[np.ndarray] = []
        grid_list: list[tuple[int, int]] = []
        pixels = 0
        while start + len(padded) < n and pixels < chunk_pixels:
            k = start + len(padded)
            img = check_image(images[k], f"dense_sift (image {k})")
            n_unit += _in_unit_range(img)
            padded.append(pad_image(img, step, patch_size))
            grid_list.append(grid_size(img.shape, step))
            pixels += padded[-1].size
        shapes = np.array([p.shape for p in padded], dtype=np.int64)  # (N, 2) padded sizes
        grids = np.array(grid_list, dtype=np.int64)  # (N, 2) = (ceil(H/step), ceil(W/step))
        counts = grids[:, 0] * grids[:, 1]
        in_offsets = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])[:-1]]).astype(np.int64)
        out_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        desc = np.zeros((int(counts.sum()), DESCRIPTOR_SIZE))
        _k.dense_sift_batch(np.concatenate([p.ravel() for p in padded]), shapes, in_offsets, grids, out_offsets,
                            int(step), int(patch_size), mask, float(threshold), float(clamp),
                            min(get_num_threads(), len(padded)), desc)
        for k in range(len(padded)):
            out.append(desc[out_offsets[k]:out_offsets[k] + counts[k]].reshape(*grids[k], DESCRIPTOR_SIZE))
        start += len(padded)
        bar.update(len(padded))
    bar.close()
    if n_unit:
        warnings.warn(f"dense_sift: {n_unit} of {n} images have values in [-1, 1]; {_UNIT_RANGE_HINT}",
                      UserWarning, stacklevel=2)
    return out


class DenseSIFT(TransformerMixin, BaseEstimator):
    """Dense SIFT as a scikit-learn transformer: images in, one (n_patches, 128) array per image out.

    Stateless: ``fit`` only validates the parameters. ``transform`` takes a sequence of (H, W)
    images (or an (N, H, W) array) and returns a list (images may differ in size) of
    (ceil(H/step) * ceil(W/step), 128) arrays, patches in row-major grid order; ``grid_positions``
    gives the matching (n_patches, 2) top-left positions. ``dtype="float32"`` halves the memory of
    large runs (computed in float64, then cast).

    Parameters: see ``dense_sift``. ``progress``: tqdm bar; None shows it for more than 100 images.
    """

    def __init__(self, step: int = 8, patch_size: int = 16, sigma: float | None = None, threshold: float = 0.5,
                 clamp: float = 0.2, dtype: str = "float64", progress: bool | None = None) -> None:
        self.step = step
        self.patch_size = patch_size
        self.sigma = sigma
        self.threshold = threshold
        self.clamp = clamp
        self.dtype = dtype
        self.progress = progress

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def _validate(self) -> None:
        _check_params(self.step, self.patch_size, self.sigma, self.threshold, self.clamp)
        if self.dtype not in ("float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def fit(self, X: Iterable[np.ndarray] | None = None, y: Any = None) -> "DenseSIFT":
        """No-op (validates the parameters). Returns self."""
        self._validate()
        self.n_features_out_ = DESCRIPTOR_SIZE
        return self

    def transform(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        """X: sequence of (H_i, W_i) images -> list of (n_patches_i, 128) descriptor arrays."""
        self._validate()
        if isinstance(X, np.ndarray) and X.ndim == 2:
            raise ValueError(f"DenseSIFT.transform: expected a sequence of images, got one 2-D array of shape "
                             f"{X.shape}; wrap it in a list")
        descs = dense_sift_many(X, step=self.step, patch_size=self.patch_size, sigma=self.sigma,
                                threshold=self.threshold, clamp=self.clamp, progress=self.progress)
        return [d.reshape(-1, DESCRIPTOR_SIZE).astype(self.dtype, copy=False) for d in descs]

    def grid_positions(self, shape: tuple[int, int]) -> np.ndarray:
        """(n_patches, 2) top-left (y, x) positions matching the rows of ``transform``'s output."""
        return grid_positions(tuple(shape), self.step, self.patch_size).reshape(-1, 2)
