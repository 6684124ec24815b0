"""classical.kmeans.KMeans against sklearn.cluster.KMeans (float64 unless stated).

Tolerances and why:

- **Same initial centres -> the same Lloyd trajectory.** Labels must be *identical* and ``n_iter_``
  equal: both libraries compute the same assignments from the same expansion on mean-centred data,
  and ties are broken the same way (first centre). Centres and inertia agree to the float64 policy
  (rtol 1e-7, atol 1e-9); what differs is only the order of the float additions in the cluster means
  (ours accumulate in float64 sequentially, sklearn per thread chunk), ~1e-15 relative.
- **k-means++ with the same integer seed -> the same seeds.** Our greedy k-means++ makes the same NumPy
  random calls as sklearn's, in the same order, so the chosen indices are identical. (A draw landing
  within ~1e-16 of a boundary of the cumulative D^2 sum could in principle differ, since the squared
  distances are rounded differently; it does not happen on these data.) Hence whole ``fit``s agree.
- **float32** trajectories are not bitwise comparable (the expansion's rounding differs and a few
  near-tied points can switch centre, after which the runs drift apart), so float32 k-means++ is
  checked *statistically*: over 30 seeds, our inertia distribution must match sklearn's.
- **Chunked assignment** vs ``sklearn.metrics.pairwise_distances_argmin`` (which computes the
  distances differently): identical labels on data with no near-ties, every chunk size.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.metrics import pairwise_distances_argmin, pairwise_distances_argmin_min

from classical.kmeans import KMeans, kmeans_plusplus, nearest_centers

RTOL, ATOL = 1e-7, 1e-9


def blobs(n: int, k: int, d: int, seed: int, spread: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d)) + 3.0  # offset: centring matters


def assert_same_fit(ours: KMeans, ref: SkKMeans, what: str) -> None:
    np.testing.assert_array_equal(ours.labels_, ref.labels_, err_msg=f"{what}: labels")
    assert ours.n_iter_ == ref.n_iter_, f"{what}: n_iter {ours.n_iter_} vs {ref.n_iter_}"
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=RTOL, atol=ATOL,
                               err_msg=f"{what}: centres")
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=RTOL, atol=ATOL, err_msg=f"{what}: inertia")


@pytest.mark.parametrize("n,k,d,tol,max_iter", [
    (500, 5, 2, 1e-4, 300),      # converges (strictly or by tol)
    (2000, 20, 16, 0.0, 300),    # tol = 0: strict convergence only
    (2000, 20, 16, 1e-2, 300),   # a loose tol stops early: the final E-step must be rerun
    (1000, 10, 8, 1e-4, 3),      # max_iter reached before convergence
])
def test_same_init_same_lloyd_trajectory(n, k, d, tol, max_iter):
    X = blobs(n, k, d, seed=n + k)
    init = X[np.random.default_rng(0).choice(n, k, replace=False)]
    ours = KMeans(k, init=init, tol=tol, max_iter=max_iter).fit(X)
    ref = SkKMeans(k, init=init, n_init=1, tol=tol, max_iter=max_iter).fit(X)
    assert_same_fit(ours, ref, f"n={n} k={k} tol={tol} max_iter={max_iter}")


def test_empty_clusters_are_relocated_like_sklearn():
    X = blobs(400, 4, 3, seed=1)
    rng = np.random.default_rng(2)
    init = np.vstack([X[rng.choice(400, 3, replace=False)], np.full((3, 3), 500.0)])  # 3 centres far away
    ours = KMeans(6, init=init).fit(X)
    ref = SkKMeans(6, init=init, n_init=1).fit(X)
    assert_same_fit(ours, ref, "three empty clusters at the first step")
    one = KMeans(6, init=init, max_iter=1).fit(X)               # right after the relocation
    ref_one = SkKMeans(6, init=init, n_init=1, max_iter=1).fit(X)
    np.testing.assert_allclose(one.cluster_centers_, ref_one.cluster_centers_, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_local_trials", [None, 1])
def test_kmeans_plusplus_picks_the_same_seeds(seed, n_local_trials):
    X = blobs(1500, 12, 8, seed=10 + seed)
    centres, idx = kmeans_plusplus(X, 40, random_state=seed, n_local_trials=n_local_trials)
    ref_centres, ref_idx = sk_kmeans_plusplus(X, 40, random_state=seed, n_local_trials=n_local_trials)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(centres, ref_centres)


@pytest.mark.parametrize("n_init", [1, 3])
def test_whole_fit_with_the_same_seed(n_init):
    X = blobs(3000, 15, 10, seed=4)
    for seed in (0, 1, 2):
        ours = KMeans(25, n_init=n_init, random_state=seed).fit(X)
        ref = SkKMeans(25, n_init=n_init, random_state=seed).fit(X)
        assert_same_fit(ours, ref, f"seed {seed}, n_init {n_init}")


def test_kmeans_plusplus_float32_statistically():
    """float32: the seeding's quality (the potential sum_i D(x_i)^2 of the seeds) over 25 seeds each.

    Two-sample Kolmogorov-Smirnov on the potentials, p > 0.01 required (the data and seeds are fixed,
    so the test is deterministic), and medians within 5 %. The potential is computed by
    ``sklearn.metrics.pairwise_distances_argmin_min``. The test can fail: a plain uniform random
    init is detected (last assertion).
    """
    X = blobs(1500, 25, 8, seed=7, spread=3.0).astype(np.float32)

    def potential(centres: np.ndarray) -> float:
        return float((pairwise_distances_argmin_min(X, centres)[1].astype(np.float64) ** 2).sum())

    ours = [potential(kmeans_plusplus(X, 25, random_state=s)[0]) for s in range(25)]
    ref = [potential(sk_kmeans_plusplus(X, 25, random_state=100 + s)[0]) for s in range(25)]
    assert stats.ks_2samp(ours, ref).pvalue > 0.01
    assert abs(np.median(ours) / np.median(ref) - 1) < 0.05
    rng = np.random.default_rng(0)
    rand = [potential(X[rng.choice(len(X), 25, replace=False)]) for _ in range(25)]
    assert stats.ks_2samp(rand, ref).pvalue < 0.01          # the test can tell a worse init apart


@pytest.mark.parametrize("chunk", [None, 1, 17, 500, 5000])
def test_chunked_assignment_matches_pairwise_distances_argmin(chunk):
    rng = np.random.default_rng(3)
    X, C = rng.normal(size=(3000, 20)), rng.normal(size=(300, 20))
    labels, dist = nearest_centers(X, C, chunk_size=chunk)
    np.testing.assert_array_equal(labels, pairwise_distances_argmin(X, C))
    direct = ((X - C[labels]) ** 2).sum(1)
    # the expansion ||x||^2 - 2 x.c + ||c||^2 loses ~eps * (||x||^2 + ||c||^2) absolute: here ~1e-14
    np.testing.assert_allclose(dist, direct, rtol=1e-7, atol=1e-12)


def test_chunked_assignment_float32_against_sklearn():
    """float32 (how SIFTs are stored): the expansion in float32 can flip near-ties, so we require
    >= 99.9 % identical labels, and where they differ, the two centres must be tied to float32
    precision (|d_ours - d_sklearn| <= 1e-5 relative)."""
    rng = np.random.default_rng(4)
    X, C = rng.random((5000, 128), np.float32), rng.random((400, 128), np.float32)
    labels, _ = nearest_centers(X, C)
    ref = pairwise_distances_argmin(X, C)
    assert (labels == ref).mean() >= 0.999
    bad = np.flatnonzero(labels != ref)
    X64, C64 = X.astype(np.float64), C.astype(np.float64)
    d_ours = ((X64[bad] - C64[labels[bad]]) ** 2).sum(1)
    d_ref = ((X64[bad] - C64[ref[bad]]) ** 2).sum(1)
    np.testing.assert_allclose(d_ours, d_ref, rtol=1e-5)


def test_predict_transform_score_against_sklearn():
    X = blobs(800, 6, 5, seed=9)
    new = blobs(200, 6, 5, seed=10)
    ours = KMeans(6, random_state=0).fit(X)
    ref = SkKMeans(6, random_state=0, n_init=1).fit(X)
    np.testing.assert_array_equal(ours.predict(new), ref.predict(new))
    # both use the expansion for the distances: rounding ~1e-15 * ||x||^2 / d; atol covers d near 0
    np.testing.assert_allclose(ours.transform(new), ref.transform(new), rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(ours.score(new), ref.score(new), rtol=RTOL)


def test_passes_scikit_learns_estimator_checks():
    """scikit-learn's own API checks (cloning, pickling, error messages, n_features_in_, dtypes...)."""
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarnings of the tiny data sets the checks use
        check_estimator(KMeans(3, random_state=0))
