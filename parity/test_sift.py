"""Dense SIFT against independent references.

- the Numba kernels vs the plain-NumPy reference: EXACT equality in float64 (same operations in the
  same order by construction), on hypothesis-drawn images: random, integer-valued, flat, step
  edges, ramps; sizes not multiple of 8 and smaller than a patch; non-default step/patch size;
- Sobel gradients vs ``scipy.ndimage.correlate1d(mode="nearest")`` and vs ``cv2.Sobel`` with
  BORDER_REPLICATE (our h_x h_y^T is OpenCV's 3x3 Sobel / 4);
- magnitude vs ``np.hypot``; orientation bins vs the closed form round(atan2(-Ix, Iy) / 45deg) mod 8
  and vs the course's own argmax of normalised dot products with (cos 2 pi k/8, sin 2 pi k/8);
- the Gaussian mask vs ``scipy.signal.windows.gaussian``; the padding vs the course's auto_padding
  algorithm re-implemented here; post-processing vs hand closed forms.

Tolerances: exact where the arithmetic is the same; otherwise float64 sums of a handful of terms
differ only by rounding order, so rtol 1e-12 / atol 1e-10 (grey levels <= 255) is stated per test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from classical import _sift_kernels as K
from classical.sift import (
    DenseSIFT,
    cell_histograms,
    dense_sift,
    dense_sift_many,
    gaussian_mask,
    gradient_magnitude_orientation,
    postprocess,
    sobel_gradients,
)
from classical.sift_reference import pad_image

KINDS = ("uniform", "integer", "flat", "step", "ramp", "sparse")


def make_image(kind: str, h: int, w: int, seed: int) -> np.ndarray:
    """A test image in [0, 255] of one of several kinds."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "uniform":
        return rng.uniform(0, 255, (h, w))
    if kind == "integer":
        return rng.integers(0, 256, (h, w)).astype(np.float64)
    if kind == "flat":
        return np.full((h, w), float(rng.integers(0, 256)))
    if kind == "step":  # a straight edge at a random angle and offset
        theta = rng.uniform(0, 2 * np.pi)
        u = (x - w / 2) * np.cos(theta) + (y - h / 2) * np.sin(theta) - rng.uniform(-5, 5)
        return np.where(u > 0, rng.uniform(150, 255), rng.uniform(0, 100))
    if kind == "ramp":  # exact ramp: gradients tie at 22.5 deg multiples only by accident
        return np.clip(rng.uniform(-3, 3) * x + rng.uniform(-3, 3) * y + 128, 0, 255)
    if kind == "sparse":  # mostly flat with a few impulses: many zero gradients (bin -1)
        img = np.full((h, w), 50.0)
        idx = rng.integers(0, h * w, max(1, h * w // 50))
        img.ravel()[idx] = 255.0
        return img
    raise ValueError(kind)


images = st.builds(make_image, st.sampled_from(KINDS), st.integers(1, 45), st.integers(1, 45),
                   st.integers(0, 2**31 - 1))


# ---------------------------------------------------------------------------------------------
# Numba == NumPy, exactly
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(image=images)
def test_dense_sift_numba_equals_numpy_exactly(image: np.ndarray) -> None:
    fast, pos_fast = dense_sift(image)
    ref, pos_ref = dense_sift(image, implementation="numpy")
    assert fast.shape == (math.ceil(image.shape[0] / 8), math.ceil(image.shape[1] / 8), 128)
    assert_array_equal(fast, ref)  # exact: same float64 operations in the same order
    assert_array_equal(pos_fast, pos_ref)


@settings(max_examples=15, deadline=None)
@given(image=images, step=st.sampled_from([3, 4, 8, 12, 20]), patch_size=st.sampled_from([4, 8, 12, 16, 24]),
       sigma=st.sampled_from([None, 2.5, 8.0]), threshold=st.sampled_from([0.0, 0.5, 3.0]))
def test_dense_sift_other_parameters_numba_equals_numpy(image: np.ndarray, step: int, patch_size: int,
                                                        sigma: float | None, threshold: float) -> None:
    kw = dict(step=step, patch_size=patch_size, sigma=sigma, threshold=threshold, clamp=0.3)
    fast, _ = dense_sift(image, **kw)
    ref, _ = dense_sift(image, implementation="numpy", **kw)
    assert_array_equal(fast, ref)


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(images, min_size=1, max_size=7), chunk=st.sampled_from([1, 500, 10**7]))
def test_dense_sift_many_equals_reference_exactly(batch: list[np.ndarray], chunk: int) -> None:
    many = dense_sift_many(batch, chunk_pixels=chunk)
    assert len(many) == len(batch)
    for img, d in zip(batch, many):
        assert_array_equal(d, dense_sift(img, implementation="numpy")[0])
    sk = DenseSIFT().fit_transform(batch)
    for img, d in zip(batch, sk):
        assert_array_equal(d, dense_sift(img, implementation="numpy")[0].reshape(-1, 128))


@settings(max_examples=25, deadline=None)
@given(image=images)
def test_gradient_kernels_equal_reference_exactly(image: np.ndarray) -> None:
    ix, iy = sobel_gradients(image)
    kx, ky = K.sobel_kernel(image)
    assert_array_equal(kx, ix)
    assert_array_equal(ky, iy)
    mag, ori = gradient_magnitude_orientation(ix, iy)
    kmag, kori = K.magnitude_orientation_kernel(image)
    assert_array_equal(kmag, mag)
    assert_array_equal(kori.astype(np.int64), ori)


# ---------------------------------------------------------------------------------------------
# Sobel vs SciPy and OpenCV
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(image=images)
def test_sobel_matches_scipy_correlate1d_nearest(image: np.ndarray) -> None:
    from scipy.ndimage import correlate1d

    hx = np.array([-1.0, 0.0, 1.0]) / 2
    hy = np.array([1.0, 2.0, 1.0]) / 2
    exp_ix = correlate1d(correlate1d(image, hx, axis=1, mode="nearest"), hy, axis=0, mode="nearest")
    exp_iy = correlate1d(correlate1d(image, hy, axis=1, mode="nearest"), hx, axis=0, mode="nearest")
    ix, iy = sobel_gradients(image)
    # 9-term sums of the same products in another order: rounding only (values <= 255 * 2).
    assert_allclose(ix, exp_ix, rtol=1e-12, atol=1e-10)
    assert_allclose(iy, exp_iy, rtol=1e-12, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(image=images)
def test_sobel_matches_opencv_sobel_replicate(image: np.ndarray) -> None:
    cv2 = pytest.importorskip("cv2")
    if min(image.shape) < 2:  # OpenCV's filter engine needs >= 2 pixels along a filtered axis
        return
    exp_ix = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 4.0
    exp_iy = cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 4.0
    ix, iy = sobel_gradients(image)
    assert_allclose(ix, exp_ix, rtol=1e-12, atol=1e-10)
    assert_allclose(iy, exp_iy, rtol=1e-12, atol=1e-10)


def test_sobel_closed_forms() -> None:
    """A ramp I = a x + b y + c has Ix = 2a, Iy = 2b inside (h_y sums to 2), half at replicated borders."""
    y, x = np.mgrid[0:9, 0:11].astype(np.float64)
    ix, iy = sobel_gradients(3.0 * x - 2.0 * y + 100.0)
    assert_allclose(ix[:, 1:-1], 6.0, rtol=0, atol=1e-12)
    assert_allclose(iy[1:-1, :], -4.0, rtol=0, atol=1e-12)
    assert_allclose(ix[:, [0, -1]], 3.0, rtol=0, atol=1e-12)  # replicate: one-sided difference / 2
    assert_allclose(iy[[0, -1], :], -2.0, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Magnitude and orientation
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(image=images)
def test_magnitude_and_orientation_closed_forms(image: np.ndarray) -> None:
    ix, iy = sobel_gradients(image)
    mag, ori = gradient_magnitude_orientation(ix, iy)
    assert_allclose(mag, np.hypot(ix, iy), rtol=1e-15 * 4, atol=0)  # sqrt(x^2+y^2) vs hypot: <= 2 ulp
    zero = mag == 0
    assert_array_equal(ori[zero], -1)
    theta = np.arctan2(-ix, iy)  # angle of v = (Iy, -Ix)
    expected = np.mod(np.round(theta / (np.pi / 4)), 8).astype(np.int64)
    # away from the bin edges (22.5 + 45 k degrees) the nearest direction is unambiguous
    frac = np.abs(np.mod(theta / (np.pi / 4), 1.0) - 0.5)
    safe = ~zero & (frac > 1e-9)
    assert_array_equal(ori[safe], expected[safe])
    assert set(np.unique(ori)) <= set(range(-1, 8))


def test_orientation_matches_course_argmax_of_normalised_dots() -> None:
    """The course's compute_grad_ori: argmax_k <v/|v|, (cos 2 pi k/8, sin 2 pi k/8)>, v = (Iy, -Ix)."""
    rng = np.random.default_rng(0)
    ix = rng.normal(size=20000) * rng.choice([1e-3, 1.0, 100.0], 20000)
    iy = rng.normal(size=20000) * rng.choice([1e-3, 1.0, 100.0], 20000)
    _, ori = gradient_magnitude_orientation(ix, iy)
    v = np.stack([iy, -ix], axis=1)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    k = np.arange(8)
    dirs = np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], axis=1)
    dots = v @ dirs.T
    top2 = np.sort(dots, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-12  # no near-tie between the two best directions
    assert clear.mean() > 0.99
    assert_array_equal(ori[clear], np.argmax(dots, axis=1)[clear])


@pytest.mark.parametrize("ix,iy,expected", [
    (0.0, 1.0, 0),    # gradient pointing down (+y)
    (-1.0, 1.0, 1),
    (-1.0, 0.0, 2),   # pointing left
    (-1.0, -1.0, 3),
    (0.0, -1.0, 4),   # up
    (1.0, -1.0, 5),
    (1.0, 0.0, 6),    # right
    (1.0, 1.0, 7),
    (0.0, 0.0, -1),   # no gradient: no vote
])
def test_orientation_bin_conventions(ix: float, iy: float, expected: int) -> None:
    _, ori = gradient_magnitude_orientation(np.array([[ix]]), np.array([[iy]]))
    assert ori[0, 0] == expected
    if expected >= 0:
        assert K._orientation_bin(ix, iy) == expected


def test_bright_bottom_half_votes_in_bin_0() -> None:
    """An image brighter below: Iy > 0, gradient pointing down -> bin 0 (documented convention)."""
    img = np.zeros((16, 16))
    img[8:] = 200.0
    _, ori = gradient_magnitude_orientation(*sobel_gradients(img))
    assert set(np.unique(ori[7:9])) == {0}
    assert set(np.unique(ori[:6])) == {-1}


# ---------------------------------------------------------------------------------------------
# Mask, padding, histograms, post-processing
# ---------------------------------------------------------------------------------------------
def test_gaussian_mask_matches_scipy_window() -> None:
    from scipy.signal.windows import gaussian

    g = gaussian(17, std=8.0)[1:]  # centred on index 8 of 17 -> offsets -7..8, the course's arange(-7, 9)
    expected = np.outer(g, g) / np.outer(g, g).sum()
    mask = gaussian_mask(16, 8.0)
    assert_allclose(mask, expected, rtol=1e-12, atol=0)
    assert_allclose(mask.sum(), 1.0, rtol=1e-14)
    assert np.unravel_index(np.argmax(mask), mask.shape) == (7, 7)


def _course_auto_padding(im: np.ndarray, k: int = 16, s: int = 8) -> np.ndarray:
    """The course's auto_padding algorithm (TME 1-2 tools), re-implemented independently."""
    w, h = im.shape
    x = np.arange(0, w, s)
    y = np.arange(0, h, s)
    last_r = im[x[-1]:x[-1] + k, y[-1]:y[-1] + k]
    if last_r.shape == (k, k):
        return im
    dif_w = k - last_r.shape[0]
    dif_h = k - last_r.shape[1]
    n_im = np.zeros((w + dif_w, h + dif_h))
    n_im[dif_w // 2:dif_w // 2 + w, dif_h // 2:dif_h // 2 + h] = im
    return n_im


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (8, 8), (16, 16), (17, 9), (200, 267), (256, 256), (411, 300)])
def test_padding_matches_course_auto_padding(shape: tuple[int, int]) -> None:
    im = np.random.default_rng(0).uniform(1, 255, shape)
    assert_array_equal(pad_image(im), _course_auto_padding(im))
    desc, pos = dense_sift(im)
    assert desc.shape[:2] == (len(np.arange(0, shape[0], 8)), len(np.arange(0, shape[1], 8)))
    padded = _course_auto_padding(im)
    top = (padded.shape[0] - shape[0]) // 2
    left = (padded.shape[1] - shape[1]) // 2
    assert_array_equal(pos[:, 0, 0], np.arange(0, shape[0], 8) - top)
    assert_array_equal(pos[0, :, 1], np.arange(0, shape[1], 8) - left)


def _course_histograms(mag: np.ndarray, ori: np.ndarray) -> np.ndarray:
    """Loop-per-cell histogram, as students write it for the course."""
    out = []
    for cr in range(4):
        for cc in range(4):
            h = np.zeros(8)
            for r in range(cr * 4, cr * 4 + 4):
                for c in range(cc * 4, cc * 4 + 4):
                    if ori[r, c] >= 0:
                        h[ori[r, c]] += mag[r, c]
            out.append(h)
    return np.concatenate(out)


def test_cell_histograms_match_course_loops() -> None:
    rng = np.random.default_rng(1)
    mask = gaussian_mask()
    for _ in range(20):
        mag = rng.uniform(0, 50, (16, 16))
        ori = rng.integers(-1, 8, (16, 16))
        assert_allclose(cell_histograms(mag, ori, mask), _course_histograms(mag * mask, ori), rtol=1e-12, atol=0)


def test_cell_histograms_closed_form() -> None:
    """Constant magnitude 1 and one orientation k, no mask: every cell has 16 in bin k and 0 elsewhere."""
    for k in range(8):
        h = cell_histograms(np.ones((16, 16)), np.full((16, 16), k))
        expected = np.zeros((16, 8))
        expected[:, k] = 16.0
        assert_array_equal(h, expected.ravel())
    assert_array_equal(cell_histograms(np.ones((16, 16)), np.full((16, 16), -1)), np.zeros(128))


def test_postprocess_closed_forms() -> None:
    e = np.zeros(128)
    e[5] = 3.0  # one bin: /3 -> 1, clamp -> 0.2, /0.2 -> 1
    assert_allclose(postprocess(e), np.eye(128)[5], rtol=0, atol=1e-15)
    two = np.zeros(128)
    two[:2] = [3.0, 4.0]  # /5 -> (0.6, 0.8) -> clamp (0.2, 0.2) -> (1/sqrt2, 1/sqrt2)
    expected = np.zeros(128)
    expected[:2] = 1 / np.sqrt(2)
    assert_allclose(postprocess(two), expected, rtol=1e-15, atol=0)
    flat = np.full(128, 0.1)  # norm 0.1 sqrt(128) = 1.13 >= 0.5; 1/sqrt(128) = 0.088 < 0.2: no clamp
    assert_allclose(postprocess(flat), np.full(128, 1 / np.sqrt(128)), rtol=1e-15, atol=0)
    mixed = np.zeros(128)
    mixed[:5] = [1.0, 1.0, 1.0, 1.0, 10.0]  # 10/sqrt(104) = 0.98 -> 0.2; 1/sqrt(104) = 0.098 stays
    a = 1 / np.sqrt(104)
    n2 = np.sqrt(4 * a * a + 0.04)
    expected = np.zeros(128)
    expected[:5] = [a / n2] * 4 + [0.2 / n2]
    assert_allclose(postprocess(mixed), expected, rtol=1e-14, atol=0)


def test_postprocess_threshold_is_strict_and_absolute() -> None:
    h = np.zeros(128)
    h[0] = 0.5  # norm exactly 0.5: kept (the course nulls norm < 0.5)
    assert_array_equal(postprocess(h), np.eye(128)[0])
    h[0] = np.nextafter(0.5, 0.0)
    assert_array_equal(postprocess(h), np.zeros(128))
    small = np.full(128, 0.04)  # norm 0.45 < 0.5
    assert_array_equal(postprocess(small), np.zeros(128))
    assert_allclose(postprocess(small, threshold=0.4), np.full(128, 1 / np.sqrt(128)), rtol=1e-15)


def test_postprocess_random_matches_numpy_formula() -> None:
    rng = np.random.default_rng(2)
    for _ in range(200):
        h = rng.exponential(size=128) * rng.choice([0.001, 0.05, 1.0])
        if rng.random() < 0.3:
            h[rng.integers(0, 128, 3)] *= 50  # some dominant bins to exercise the clamp
        n = np.linalg.norm(h)
        if n < 0.5:
            expected = np.zeros(128)
        else:
            c = np.clip(h / n, None, 0.2)
            expected = c / np.linalg.norm(c)
        assert_allclose(postprocess(h), expected, rtol=1e-13, atol=1e-16)


def test_descriptors_are_zero_or_unit_and_nonnegative() -> None:
    img = make_image("uniform", 64, 72, 3)
    img[20:50, 10:40] = 80.0  # a flat region
    d = dense_sift(img)[0].reshape(-1, 128)
    norms = np.linalg.norm(d, axis=1)
    assert (d >= 0).all()
    assert_allclose(norms[norms > 0], 1.0, rtol=1e-14)
    assert (norms == 0).any() and (norms > 0).any()


# ---------------------------------------------------------------------------------------------
# OpenCV's SIFT: sanity, where the two algorithms meet
# ---------------------------------------------------------------------------------------------
def test_opencv_descriptors_match_ours_up_to_the_bin_permutation() -> None:
    """Same grid, same 16 x 16 support (KeyPoint size 16/6, angle 0): the descriptors correlate.

    The algorithms differ (OpenCV blurs by sigma 1.52, interpolates trilinearly, rounds to
    integers), so values differ; but the layouts must agree. OpenCV's cells are row-major (y first)
    like ours and its bin b holds gradient angles 45 b measured counter-clockwise with y up, i.e. a
    gradient at phi (x right, y down) goes to bin -phi / 45; ours go to bin (phi - 90) / 45. So our
    bin k is OpenCV's bin (6 - k) mod 8. With that permutation the mean cosine similarity over the
    interior patches of a smooth random texture is high (0.88 measured); without it, or against
    OpenCV descriptors of other patches, it is low (0.37 and 0.32 measured).
    """
    cv2 = pytest.importorskip("cv2")
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(np.random.default_rng(0).normal(size=(128, 128)), 2.0)
    img = np.clip(128 + 40 * noise / noise.std(), 0, 255).round()
    desc, pos = dense_sift(img)
    ours = desc[1:-2, 1:-2].reshape(-1, 128)  # patches well inside the image
    kps = [cv2.KeyPoint(float(x) + 7.5, float(y) + 7.5, 16 / 6, 0) for y, x in pos[1:-2, 1:-2].reshape(-1, 2)]
    _, theirs = cv2.SIFT_create().compute(img.astype(np.uint8), kps)
    assert theirs.shape == ours.shape
    perm = (6 - np.arange(8)) % 8
    mapped = np.zeros((len(ours), 16, 8))
    mapped[:, :, perm] = ours.reshape(-1, 16, 8)
    mapped = mapped.reshape(-1, 128)

    def mean_cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))

    assert np.linalg.norm(ours, axis=1).min() > 0
    assert mean_cos(mapped, theirs) > 0.8
    assert mean_cos(ours, theirs) < 0.5
    assert mean_cos(mapped, np.roll(theirs, 7, axis=0)) < 0.5
