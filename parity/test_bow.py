"""classical.bow against independent computations (scikit-learn, SciPy, plain NumPy loops).

- Hard assignment, pooling and normalisation vs ``sklearn.metrics.pairwise_distances_argmin`` +
  ``np.bincount`` + ``np.linalg.norm``: float64, identical words, histograms to the float64 policy
  (rtol 1e-7, atol 1e-9).
- Soft assignment vs ``scipy.special.softmax`` of ``-beta * cdist(..., 'sqeuclidean')``: we use the
  ||x||^2 - 2 x.w + ||w||^2 expansion, cdist the direct differences; the logits then differ by
  ~beta * 1e-15, hence rtol 1e-7.
- The spatial pyramid vs a hand-built computation written with explicit loops over levels, cells and
  patches (the paper's definition), on small grids whose sides are not multiples of 2^L.
- The dictionary vs ``sklearn.cluster.KMeans`` trained on the same 5 % sample: same centres
  (float64, same seeds: see ``parity/test_kmeans.py``).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.special import softmax
from sklearn.cluster import KMeans as SkKMeans
from sklearn.metrics import pairwise_distances_argmin

from classical.bow import BagOfWords, build_dictionary, sample_nonzero

RTOL, ATOL = 1e-7, 1e-9


def sift_like_images(n_images: int, seed: int, grid: tuple[int, int] = (7, 9), d: int = 16) -> list[np.ndarray]:
    """(n_y, n_x, d) non-negative, L2-normalised 'descriptors', 15 % of them zero (flat patches)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_images):
        g = rng.gamma(0.7, size=(*grid, d))
        g /= np.linalg.norm(g, axis=-1, keepdims=True)
        g[rng.random(grid) < 0.15] = 0.0
        out.append(g)
    return out


@pytest.mark.parametrize("pooling,norm", [("sum", "l2"), ("sum", "l1"), ("max", "l2"), ("sum", None), ("max", "l1")])
def test_hard_bow_against_an_independent_computation(pooling, norm):
    images = sift_like_images(6, seed=1)
    words = build_dictionary(images, k=12, fraction=0.5, seed=0)
    H = BagOfWords(words, pooling=pooling, norm=norm).fit(None).transform(images)
    for img, h in zip(images, H):
        idx = pairwise_distances_argmin(img.reshape(-1, img.shape[-1]), words)
        counts = np.bincount(idx, minlength=len(words)).astype(float)
        ref = counts if pooling == "sum" else (counts > 0).astype(float)
        if norm == "l2":
            ref = ref / np.linalg.norm(ref)
        elif norm == "l1":
            ref = ref / np.linalg.norm(ref, 1)
        np.testing.assert_allclose(h, ref, rtol=RTOL, atol=ATOL)


def test_assign_matches_pairwise_distances_argmin_and_flat_patches_hit_the_null_word():
    images = sift_like_images(4, seed=2)
    words = build_dictionary(images, k=20, fraction=0.5, seed=1)
    bow = BagOfWords(words).fit(None)
    X = np.concatenate([g.reshape(-1, g.shape[-1]) for g in images])
    got = bow.assign(X)
    np.testing.assert_array_equal(got, pairwise_distances_argmin(X, words))
    flat = ~X.any(axis=1)
    assert flat.any()
    np.testing.assert_array_equal(got[flat], len(words) - 1)


@pytest.mark.parametrize("beta,pooling", [(5.0, "sum"), (20.0, "max")])
def test_soft_bow_against_scipy(beta, pooling):
    images = sift_like_images(3, seed=3)
    words = build_dictionary(images, k=10, fraction=0.5, seed=0)
    H = BagOfWords(words, assignment="soft", soft_beta=beta, pooling=pooling, norm="l1").fit(None).transform(images)
    for img, h in zip(images, H):
        A = softmax(-beta * cdist(img.reshape(-1, img.shape[-1]), words, "sqeuclidean"), axis=1)
        ref = A.sum(0) if pooling == "sum" else A.max(0)
        np.testing.assert_allclose(h, ref / ref.sum(), rtol=RTOL, atol=ATOL)


def pyramid_by_hand(grid: np.ndarray, words: np.ndarray, levels: int) -> np.ndarray:
    """The paper's definition, with loops: per level l, per cell (r, c) of the 2^l x 2^l partition of
    the patch grid, count the words of the patches inside; weight 1/2^L (l = 0), 1/2^(L-l+1) (l >= 1);
    concatenate; L1-normalise."""
    n_y, n_x, d = grid.shape
    word_of = pairwise_distances_argmin(grid.reshape(-1, d), words).reshape(n_y, n_x)
    blocks = []
    for l in range(levels + 1):
        weight = 1 / 2 ** levels if l == 0 else 1 / 2 ** (levels - l + 1)
        s = 2 ** l
        for r in range(s):
            for c in range(s):
                hist = np.zeros(len(words))
                for i in range(n_y):
                    for j in range(n_x):
                        # patch (i, j) covers the fraction [i/n_y, (i+1)/n_y) of the height: it is in
                        # cell row r when r/s <= i/n_y < (r+1)/s, i.e. floor(i s / n_y) == r
                        if r * n_y <= i * s < (r + 1) * n_y and c * n_x <= j * s < (c + 1) * n_x:
                            hist[word_of[i, j]] += 1
                blocks.append(weight * hist)
    v = np.concatenate(blocks)
    return v / v.sum()


@pytest.mark.parametrize("grid,levels", [((4, 4), 1), ((7, 9), 2), ((5, 3), 2), ((13, 11), 3)])
def test_pyramid_against_a_hand_built_computation(grid, levels):
    images = sift_like_images(3, seed=4, grid=grid)
    words = build_dictionary(sift_like_images(5, seed=5), k=6, fraction=0.5, seed=0)
    H = BagOfWords(words, pyramid_levels=levels, norm="l1").fit(None).transform(images)
    assert H.shape == (3, len(words) * sum(4 ** l for l in range(levels + 1)))
    for img, h in zip(images, H):
        np.testing.assert_allclose(h, pyramid_by_hand(img, words, levels), rtol=RTOL, atol=ATOL)


def test_dictionary_is_sklearn_kmeans_on_the_sample_plus_the_null_word():
    images = sift_like_images(10, seed=6)
    words = build_dictionary(images, k=15, fraction=0.3, seed=4)
    sample = sample_nonzero(images, fraction=0.3, seed=4, min_count=15)
    ref = SkKMeans(15, n_init=1, random_state=4).fit(sample)
    np.testing.assert_allclose(words[:-1], ref.cluster_centers_, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(words[-1], 0.0)
