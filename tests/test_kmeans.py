"""classical.kmeans: edge cases, each Numba kernel against its NumPy reference, estimator plumbing.

Expected values come from closed forms (a single point, duplicated points, a relocation worked out by
hand) or from the readable ``*_ref`` definitions in ``classical._kmeans_kernels``; the comparison
with scikit-learn is in ``parity/test_kmeans.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from classical import _kmeans_kernels as K
from classical.kmeans import KMeans, kmeans_plusplus, nearest_centers

RTOL, ATOL = 1e-7, 1e-9  # float64 policy (DESIGN.md section 4)


def blobs(n: int = 300, k: int = 4, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))


# ------------------------------------------------------------------ edge cases


def test_more_clusters_than_points_is_a_value_error():
    with pytest.raises(ValueError, match=r"n_samples=3 should be >= n_clusters=5"):
        KMeans(5).fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"n_samples=3 should be >= n_clusters=5"):
        kmeans_plusplus(np.ones((3, 2)), 5)


def test_one_point_one_cluster():
    x = np.array([[1.5, -2.0, 3.0]])
    km = KMeans(1, random_state=0).fit(x)
    np.testing.assert_array_equal(km.cluster_centers_, x)
    np.testing.assert_array_equal(km.labels_, [0])
    assert km.inertia_ == 0.0
    assert km.n_iter_ == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_is_a_value_error_naming_the_shape(bad):
    X = blobs(5, 2, 2)
    X[2, 1] = bad
    with pytest.raises(ValueError, match=r"\(5, 2\).*NaN or infinity"):
        KMeans(2).fit(X)
    km = KMeans(2).fit(blobs(5, 2, 2))
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        km.predict(X)


def test_wrong_shapes_are_value_errors():
    with pytest.raises(ValueError, match=r"2-D.*\(6,\)"):
        KMeans(2).fit(np.zeros(6))
    km = KMeans(2, random_state=0).fit(blobs(20, 2, 3))
    with pytest.raises(ValueError, match=r"X has 5 features, but KMeans is expecting 3.*\(4, 5\).*\(2, 3\)"):
        km.predict(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"init of shape \(3, 3\)"):
        KMeans(2, init=np.zeros((3, 3))).fit(blobs(20, 2, 3))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        KMeans(2).predict(np.zeros((3, 2)))


def test_duplicated_points_give_exact_centres_and_zero_inertia():
    pts = np.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 7.0]])
    X = np.repeat(pts, 10, axis=0)
    km = KMeans(3, random_state=1).fit(X)
    got = km.cluster_centers_[np.lexsort(km.cluster_centers_.T[::-1])]
    # exact up to the rounding of centring the data (x - mean + mean), as in scikit-learn
    np.testing.assert_allclose(got, pts[np.lexsort(pts.T[::-1])], rtol=RTOL, atol=ATOL)
    assert km.inertia_ < 1e-20


def test_more_clusters_than_distinct_points_warns_and_keeps_zero_inertia():
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0]]), 5, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(2\).*n_clusters \(3\)"):
        km = KMeans(3, random_state=0).fit(X)
    assert km.inertia_ < 1e-20
    assert len(np.unique(km.labels_)) == 2


def test_empty_cluster_is_moved_to_the_farthest_point():
    # 5 points near the origin and one at (4, 0); the second initial centre is far from everything.
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [-0.1, 0.0], [0.0, -0.1], [4.0, 0.0]])
    init = np.array([[0.0, 0.0], [100.0, 100.0]])
    km = KMeans(2, init=init, max_iter=1).fit(X)
    # step 1: every point goes to centre 0, centre 1 is empty and takes the point farthest from its
    # own centre (the origin): (4, 0), which leaves cluster 0 with the 5 points near the origin.
    expected = np.array([X[:5].mean(axis=0), [4.0, 0.0]])
    np.testing.assert_allclose(km.cluster_centers_, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(km.labels_, [0, 0, 0, 0, 0, 1])
    assert np.isclose(km.inertia_, ((X[:5] - expected[0]) ** 2).sum(), rtol=RTOL, atol=ATOL)


def test_float32_stays_float32_and_float64_stays_float64():
    for dt in (np.float32, np.float64):
        km = KMeans(3, random_state=0).fit(blobs(60).astype(dt))
        assert km.cluster_centers_.dtype == dt
        assert km.transform(blobs(5).astype(dt)).dtype == dt
    assert KMeans(2, random_state=0).fit(np.arange(12).reshape(6, 2)).cluster_centers_.dtype == np.float64


def test_same_seed_same_result_and_chunking_changes_nothing():
    X = blobs(400, 5, 4, seed=3)
    a = KMeans(5, random_state=7).fit(X)
    for chunk in (1, 7, 1000):
        b = KMeans(5, random_state=7, chunk_size=chunk).fit(X)
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=RTOL, atol=ATOL)


def test_predict_transform_score_are_consistent_with_the_fit():
    X = blobs(200, 3, 2, seed=5)
    km = KMeans(3, random_state=0).fit(X)
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    direct = np.sqrt(((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1))  # by definition
    np.testing.assert_allclose(km.transform(X), direct, rtol=1e-7, atol=1e-7)
    assert np.isclose(-km.score(X), (direct.min(1) ** 2).sum(), rtol=RTOL)
    np.testing.assert_array_equal(km.fit_predict(X), km.labels_)


def test_sklearn_plumbing():
    km = KMeans(4, n_init=2, random_state=3, chunk_size=128)
    params = km.get_params()
    assert params["n_clusters"] == 4 and params["chunk_size"] == 128
    c = clone(km)
    assert c.get_params() == params
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    pipe = make_pipeline(StandardScaler(), KMeans(3, random_state=0)).fit(blobs(50))
    assert pipe.predict(blobs(7)).shape == (7,)


def test_n_init_keeps_the_lowest_inertia():
    X = blobs(300, 6, 2, seed=11)
    rs = np.random.RandomState(0)
    runs = [KMeans(6, random_state=rs).fit(X).inertia_ for _ in range(4)]  # the same 4 draws, one by one
    assert len(set(runs)) > 1                                               # (the seeds do differ)
    best = KMeans(6, n_init=4, random_state=0).fit(X)
    assert best.inertia_ == min(runs)


# ------------------------------------------------------------------ kernels vs their references


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 40), seed=st.integers(0, 10_000),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_argmin_from_gram_matches_reference(m, k, seed, dtype):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(m, k)).astype(dtype)
    if k > 3:
        G[:, 3] = G[:, 1]                 # exact ties: the first index must win, like np.argmin
    c_sq = rng.uniform(0, 2, size=k).astype(dtype)
    if k > 3:
        c_sq[3] = c_sq[1]
    x_sq = rng.uniform(0, 5, size=m)
    labels, dist = np.empty(m, np.int32), np.empty(m)
    K.argmin_from_gram(G, c_sq, x_sq, labels, dist)
    ref_l, ref_d = K.argmin_from_gram_ref(G, c_sq, x_sq)
    np.testing.assert_array_equal(labels, ref_l)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-6 if dtype == np.float32 else RTOL, atol=ATOL)


def test_nearest_centers_threads_and_chunks_agree_with_direct_distances():
    rng = np.random.default_rng(0)
    X, C = rng.normal(size=(1000, 8)), rng.normal(size=(37, 8))
    d2 = ((X[:, None] - C[None]) ** 2).sum(-1)
    for chunk, threads in ((None, None), (13, 2), (1000, 1), (64, 3)):
        labels, dist = nearest_centers(X, C, chunk_size=chunk, n_threads=threads)
        np.testing.assert_array_equal(labels, d2.argmin(1))
        np.testing.assert_allclose(dist, d2.min(1), rtol=1e-7, atol=1e-9)


def test_cluster_sums_and_inertia_match_reference():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    labels = rng.integers(0, 9, 200).astype(np.int32)
    labels[labels == 4] = 5                          # cluster 4 empty
    sums, counts = K.cluster_sums(X, labels, 9)
    ref_s, ref_c = K.cluster_sums_ref(X, labels, 9)
    np.testing.assert_allclose(sums, ref_s, rtol=RTOL, atol=1e-6)
    np.testing.assert_array_equal(counts, ref_c)
    C = rng.normal(size=(9, 5)).astype(np.float32)
    assert np.isclose(K.inertia(X, C, labels), K.inertia_ref(X, C, labels), rtol=1e-10)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(5, 300), T=st.integers(1, 6), seed=st.integers(0, 10_000),
       dtype=st.sampled_from([np.float32, np.float64]), parallel=st.booleans())
def test_kpp_gains_and_update_match_the_definition(n, T, seed, dtype, parallel):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 6)) + 4 * rng.integers(0, 3, size=(n, 1))).astype(dtype)
    centers = X[rng.choice(n, min(3, n), replace=False)]
    closest = K.sq_dists_ref(centers, X).min(0)
    cand = X[rng.integers(0, n, T)]
    d_new = np.empty((T, n), dtype)
    gains = K.kpp_gains(X, cand, closest, d_new, parallel)
    # float32: 6 squared differences of values ~10 summed in float32, ~1e-6 relative
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gains, K.kpp_gains_ref(X, cand, closest), **tol)
    best = int(np.argmax(gains))
    updated, ref = closest.copy(), closest.copy()
    K.kpp_update(d_new[best], updated)
    K.kpp_update_ref(X, cand[best], ref)
    np.testing.assert_allclose(updated, ref, **tol)
    np.testing.assert_allclose(K.sq_dists(cand, centers), K.sq_dists_ref(cand, centers), rtol=1e-9, atol=1e-9)


def test_kmeans_plusplus_plain_and_greedy_pick_data_points():
    X = blobs(200, 5, 2, seed=2)
    for trials in (1, None):
        centres, idx = kmeans_plusplus(X, 5, random_state=0, n_local_trials=trials)
        np.testing.assert_array_equal(centres, X[idx])
        assert len(set(idx.tolist())) == 5


def test_works_without_numba_jit():
    """NUMBA_DISABLE_JIT=1 turns the kernels into plain Python; the result must not change."""
    code = ("import numpy as np; from classical.kmeans import KMeans;"
            "rng = np.random.default_rng(0); X = rng.normal(size=(60, 3)) + 5 * rng.integers(0, 3, (60, 1));"
            "km = KMeans(3, random_state=0).fit(X); print(repr(km.inertia_), km.n_iter_, km.labels_.tolist())")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) + 5 * rng.integers(0, 3, (60, 1))
    km = KMeans(3, random_state=0).fit(X)
    inertia, n_iter, labels = out.stdout.split(" ", 2)
    assert np.isclose(float(inertia), km.inertia_, rtol=1e-12)
    assert int(n_iter) == km.n_iter_
    assert eval(labels) == km.labels_.tolist()
