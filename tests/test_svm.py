"""classical.svm: edge cases, scikit-learn plumbing, and the fast code against its readable reference.

Expected values come from scikit-learn (same exception types, same predictions), from the NumPy
reference (``smo_reference``, ``kernel_matrix_reference``) or from closed forms.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC as SkSVC

from classical._kernel_cache import KernelCache
from classical._smo import smo_reference, smo_solve
from classical.svm import SVC
from classical.svm_kernels import (KERNEL_CODE, KERNELS, kernel_diag, kernel_matrix, kernel_matrix_reference,
                                   kernel_row)
from minidl.data.toy import make_blobs, make_circles, make_moons


def histograms(n: int, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    H = rng.poisson(1.0, size=(n, d)).astype(np.float64)
    H[H.sum(1) == 0, 0] = 1.0
    return H / np.linalg.norm(H, axis=1, keepdims=True)


# --------------------------------------------------------------------------- bad input
def test_one_class_only_raises_like_sklearn():
    X = np.random.default_rng(0).normal(size=(10, 2))
    y = np.zeros(10)
    with pytest.raises(ValueError, match="number of classes"):
        SkSVC().fit(X, y)
    with pytest.raises(ValueError, match=r"number of classes has to be greater than one; got 1 class.*\(10, 2\)"):
        SVC().fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_input_names_the_shape(bad):
    X, y = make_blobs(30, centers=2, seed=0)
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError):
        SkSVC().fit(Xb, y)
    with pytest.raises(ValueError, match=r"X \(30, 2\) contains (NaN|infinity)"):
        SVC().fit(Xb, y)
    clf = SVC().fit(X, y)
    with pytest.raises(ValueError, match=r"X \(30, 2\) contains"):
        clf.predict(Xb)
    with pytest.raises(ValueError, match=r"X \(30, 2\) contains"):
        clf.decision_function(Xb)


def test_nan_labels_raise():
    X, _ = make_blobs(20, centers=2, seed=0)
    y = np.r_[np.zeros(10), np.ones(9), np.nan]
    with pytest.raises(ValueError, match=r"y \(20,\) contains NaN"):
        SVC().fit(X, y)


def test_wrong_shapes():
    X, y = make_blobs(20, centers=2, seed=0)
    with pytest.raises(ValueError, match=r"2D array.*\(20,\)"):
        SVC().fit(X[:, 0], y)
    with pytest.raises(ValueError, match=r"y \(19,\).*X \(20, 2\)"):
        SVC().fit(X, y[:19])
    with pytest.raises(ValueError, match=r"y \(20, 2\)"):
        SVC().fit(X, np.c_[y, y])
    with pytest.warns(DataConversionWarning, match=r"column-vector y.*\(20, 1\)"):  # as sklearn: ravel
        SVC().fit(X, y[:, None])
    with pytest.raises(ValueError, match=r"empty"):
        SVC().fit(np.zeros((0, 2)), np.zeros(0))
    clf = SVC().fit(X, y)
    with pytest.raises(ValueError):
        SkSVC().fit(X, y).predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"X has 3 features, but SVC is expecting 2 features.*\(3, 3\)"):
        clf.predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2D array"):
        clf.predict(np.zeros(2))
    with pytest.raises(ValueError, match="numeric"):
        SVC().fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])
    with pytest.raises(TypeError, match="sparse"):
        import scipy.sparse as sp
        SVC().fit(sp.csr_matrix(X), y)


def test_precomputed_needs_a_square_matrix_and_train_columns():
    X, y = make_blobs(20, centers=2, seed=0)
    with pytest.raises(ValueError, match=r"square.*\(20, 2\)"):
        SVC(kernel="precomputed").fit(X, y)
    K = X @ X.T
    clf = SVC(kernel="precomputed").fit(K, y)
    with pytest.raises(ValueError, match=r"\(5, 19\).*20 columns"):
        clf.predict(K[:5, :19])


def test_predict_before_fit_raises_not_fitted_error_like_sklearn():
    X = np.zeros((3, 2))
    for est in (SkSVC(), SVC()):
        with pytest.raises(NotFittedError):
            est.predict(X)
        with pytest.raises(NotFittedError):
            est.decision_function(X)


@pytest.mark.parametrize("param, value", [("C", 0.0), ("C", -1.0), ("kernel", "cosine"), ("degree", -1),
                                          ("degree", 2.5), ("gamma", -0.1), ("gamma", "big"), ("tol", 0.0),
                                          ("cache_size", 0), ("max_iter", 0), ("max_iter", -2),
                                          ("decision_function_shape", "ova"), ("multiclass", "ecoc")])
def test_bad_hyperparameters_raise_value_error(param, value):
    X, y = make_blobs(20, centers=2, seed=0)
    with pytest.raises(ValueError):
        SVC(**{param: value}).fit(X, y)


def test_histogram_kernels_reject_negative_features():
    X, y = make_blobs(20, centers=2, seed=0)  # has negative coordinates
    for k in ("intersection", "chi2"):
        with pytest.raises(ValueError, match=rf"kernel='{k}' needs non-negative features.*\(20, 2\)"):
            SVC(kernel=k).fit(X, y)
    clf = SVC(kernel="chi2").fit(np.abs(X), y)
    with pytest.raises(ValueError, match="non-negative"):
        clf.predict(X)


def test_ovr_training_with_ovo_shape_is_refused():
    X, y = make_blobs(30, centers=3, seed=0)
    with pytest.raises(ValueError, match="one-vs-one"):
        SVC(multiclass="ovr", decision_function_shape="ovo").fit(X, y)


# --------------------------------------------------------------------------- odd but valid data
def test_duplicate_points_even_with_conflicting_labels_match_sklearn():
    X, y = make_moons(60, seed=1)
    X = np.r_[X, X[:20], X[:5]]
    y = np.r_[y, y[:20], 1 - y[:5]]            # 5 exact duplicates with the other label
    ours = SVC(C=1.0, tol=1e-8).fit(X, y)
    ref = SkSVC(C=1.0, tol=1e-8).fit(X, y)
    assert np.isfinite(ours.dual_coef_).all() and np.isfinite(ours.intercept_).all()
    # duplicates make K singular and alpha non-unique, but w (hence f) is unique; libsvm's float32
    # kernel cache limits the agreement to ~1e-6 (see parity/test_svm.py, point 2)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), rtol=0, atol=1e-4)
    assert (ours.predict(X) == ref.predict(X)).all()


@pytest.mark.parametrize("C", [1e-6, 1e6])
def test_extreme_C_matches_sklearn(C):
    X, y = make_blobs(80, centers=2, std=0.8, seed=3)
    Xt, _ = make_blobs(80, centers=2, std=0.8, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = SVC(C=C, kernel="linear").fit(X, y)
        ref = SkSVC(C=C, kernel="linear").fit(X, y)
    assert (ours.predict(Xt) == ref.predict(Xt)).mean() >= 0.99
    if C < 1:  # every alpha at the bound C: all points are support vectors, |dual_coef| = C
        assert len(ours.support_) == len(y)
        np.testing.assert_allclose(np.abs(ours.dual_coef_), C, rtol=1e-12)


def test_hard_margin_on_separable_data_has_the_closed_form_margin():
    """Two points +-1 on a line: w = (1, 0), b = 0 (the closed form), with a huge C."""
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    y = np.array([0, 1])
    clf = SVC(kernel="linear", C=1e6, tol=1e-12).fit(X, y)
    w = clf.dual_coef_ @ clf.support_vectors_
    np.testing.assert_allclose(w, [[1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, [0.0], atol=1e-12)
    np.testing.assert_allclose(clf.decision_function(X), [-1.0, 1.0], atol=1e-12)


def test_string_labels_and_unsorted_classes():
    X, y = make_blobs(60, centers=3, seed=2)
    names = np.array(["zebra", "ant", "moose"])[y]
    ours, ref = SVC().fit(X, names), SkSVC().fit(X, names)
    np.testing.assert_array_equal(ours.classes_, ["ant", "moose", "zebra"])
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_max_iter_warns_convergence_like_sklearn():
    X, y = make_circles(100, seed=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        SkSVC(max_iter=3).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        clf = SVC(max_iter=3).fit(X, y)
    assert clf.n_iter_.tolist() == [3]


# --------------------------------------------------------------------------- shapes and options
def test_decision_function_shapes():
    X, y = make_blobs(60, centers=4, seed=0)
    Xb, yb = make_moons(40, seed=0)
    assert SVC().fit(Xb, yb).decision_function(Xb).shape == (40,)
    assert SVC(multiclass="ovr").fit(Xb, yb).decision_function(Xb).shape == (40,)
    assert SVC(decision_function_shape="ovo").fit(X, y).decision_function(X).shape == (60, 6)
    assert SVC().fit(X, y).decision_function(X).shape == (60, 4)
    clf = SVC(multiclass="ovr").fit(X, y)
    assert clf.decision_function(X).shape == (60, 4) and clf.dual_coef_.shape == (4, len(clf.support_))
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[clf.decision_function(X).argmax(1)])


def test_binary_ovr_is_the_same_problem_as_ovo():
    X, y = make_moons(50, seed=3)
    a, b = SVC().fit(X, y), SVC(multiclass="ovr").fit(X, y)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))


def test_callable_and_precomputed_kernels_equal_the_builtin_linear():
    X, y = make_blobs(50, centers=3, seed=5)
    a = SVC(kernel="linear", tol=1e-10).fit(X, y)
    b = SVC(kernel=lambda A, B: A @ B.T, tol=1e-10).fit(X, y)
    c = SVC(kernel="precomputed", tol=1e-10).fit(X @ X.T, y)
    # the same Gram matrix up to BLAS rounding (1e-16): same path, answers equal to ~1e-12
    np.testing.assert_allclose(b.decision_function(X), a.decision_function(X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(c.decision_function(X @ X.T), a.decision_function(X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_lru_cache_path_equals_the_full_gram_path(kernel):
    """cache_size too small for the full matrix: rows on demand through a 2-row LRU cache."""
    X = histograms(70, seed=1)
    y = np.arange(70) % 3
    full = SVC(kernel=kernel, tol=1e-10, decision_function_shape="ovo").fit(X, y)
    tiny = SVC(kernel=kernel, tol=1e-10, cache_size=1e-5, decision_function_shape="ovo").fit(X, y)
    # the rows come from a different code path (Numba row vs BLAS matrix): equal to ~1e-16 per entry,
    # so both runs stop at tol=1e-10-optimal points; measured difference ~1e-12, asserted 1e-8
    np.testing.assert_allclose(tiny.decision_function(X), full.decision_function(X), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(tiny.predict(X), full.predict(X))


# --------------------------------------------------------------------------- scikit-learn plumbing
def test_get_set_params_and_clone():
    clf = SVC(C=3.0, kernel="chi2", multiclass="ovr")
    params = clf.get_params()
    assert params["C"] == 3.0 and params["kernel"] == "chi2" and params["multiclass"] == "ovr"
    assert set(params) == {"C", "kernel", "degree", "gamma", "coef0", "tol", "cache_size", "max_iter",
                           "decision_function_shape", "multiclass", "random_state"}
    clf.set_params(C=0.5, gamma=0.1)
    assert clf.C == 0.5 and clf.gamma == 0.1
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and c2 is not clf


@pytest.mark.parametrize("params", [dict(), dict(multiclass="ovr"), dict(kernel="precomputed"),
                                    dict(kernel="chi2"), dict(kernel="linear")])
def test_passes_sklearns_estimator_checks(params):
    """scikit-learn's own API conformance suite (clone, pickling, read-only input, tags, messages...).

    Not poly: homogeneous poly (coef0=0) misses check_classifiers_train's accuracy bar for sklearn's SVC
    too, and with coef0=1 on the checks' uncentred N(100, 1) data K ~ 1e8 is numerically rank one, so
    SMO crawls to the 10^7-iteration cap (libsvm stops early only because its float32 K is noise there).
    """
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SVC(**params), on_fail=None)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results if r["status"] == "failed"]
    assert not failed, "\n".join(failed)


def test_pipeline_and_score():
    X, y = make_blobs(120, centers=3, std=1.2, seed=7)
    X = X * [100.0, 0.01]
    ours = Pipeline([("scale", StandardScaler()), ("svm", SVC(C=2.0))]).fit(X[:80], y[:80])
    ref = Pipeline([("scale", StandardScaler()), ("svm", SkSVC(C=2.0))]).fit(X[:80], y[:80])
    np.testing.assert_array_equal(ours.predict(X[80:]), ref.predict(X[80:]))
    assert ours.score(X[80:], y[80:]) == ref.score(X[80:], y[80:])


def test_grid_search_cv_picks_the_same_model_as_sklearn():
    X, y = make_circles(120, seed=2)
    grid = {"C": [0.1, 1.0, 10.0], "kernel": ["linear", "rbf"]}
    ours = GridSearchCV(SVC(), grid, cv=3).fit(X, y)
    ref = GridSearchCV(SkSVC(), grid, cv=3).fit(X, y)
    assert ours.best_params_ == ref.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], atol=0.02)



def test_grid_search_over_multiclass_scores_each_strategy_like_its_sklearn_counterpart():
    """``multiclass`` is a real hyperparameter: on each fold, the 'ovo' candidate scores exactly as sklearn's
    (one-vs-one) SVC and the 'ovr' candidate as OneVsRestClassifier(SVC); the grid then picks the better,
    which is 'ovr' on one data set and 'ovo' on the other (overlapping blobs, std 2)."""
    from sklearn.multiclass import OneVsRestClassifier
    picked = []
    for seed in (0, 1):
        X, y = make_blobs(90, centers=3, std=2.0, seed=seed)
        gs = GridSearchCV(SVC(), {"multiclass": ["ovo", "ovr"], "C": [1.0]}, cv=3).fit(X, y)
        refs = {"ovo": cross_val_score(SkSVC(C=1.0), X, y, cv=3),
                "ovr": cross_val_score(OneVsRestClassifier(SkSVC(C=1.0)), X, y, cv=3)}
        for i, params in enumerate(gs.cv_results_["params"]):
            folds = [gs.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
            np.testing.assert_array_equal(folds, refs[params["multiclass"]], err_msg=f"seed {seed}: {params}")
        best = max(refs, key=lambda m: refs[m].mean())
        assert refs["ovo"].mean() != refs["ovr"].mean() and gs.best_params_["multiclass"] == best
        picked.append(best)
    assert picked == ["ovr", "ovo"]


def test_precomputed_kernel_in_cross_validation_is_sliced_on_both_axes():
    """The pairwise tag: cross_val_score cuts K[train][:, train] and K[test][:, train]."""
    X, y = make_moons(90, seed=4)
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1))
    ours = cross_val_score(SVC(kernel="precomputed"), K, y, cv=3)
    ref = cross_val_score(SkSVC(kernel="precomputed"), K, y, cv=3)
    np.testing.assert_allclose(ours, ref, atol=1 / 30)  # at most one of 30 validation points differs


# --------------------------------------------------------------------------- fast code vs reference
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_rows_and_diagonal_match_the_reference(kernel):
    X = histograms(25, seed=3)
    ref = kernel_matrix_reference(X, X, kernel, gamma=0.8, coef0=0.3, degree=3)
    sq = np.einsum("ij,ij->i", X, X)
    code = KERNEL_CODE[kernel]
    rows = np.empty_like(ref)
    for i in range(len(X)):
        kernel_row(code, X, i, sq, 0.8, 0.3, 3, rows[i])
    # float64, different summation orders: a few ulps of O(1) values
    np.testing.assert_allclose(rows, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(kernel_diag(code, X, sq, 0.8, 0.3, 3), np.diag(ref), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(kernel_matrix(X, X, kernel, 0.8, 0.3, 3), ref, rtol=1e-12, atol=1e-13)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 40), C=st.sampled_from([0.05, 1.0, 20.0]),
       kernel=st.sampled_from(["linear", "rbf", "poly"]))
def test_numba_smo_follows_the_numpy_reference(seed, n, C, kernel):
    """Same algorithm, same tie-breaking: the two runs take the same steps (alphas equal to rounding)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    y[0], y[1] = 1.0, -1.0
    K = kernel_matrix(X, X, kernel, gamma=0.5, coef0=1.0, degree=2)
    a_ref, b_ref, it_ref = smo_reference(K, y, C, tol=1e-6)
    a, b, it = smo_solve(np.arange(n), y, C, 1e-6, 10 ** 7, np.diag(K).copy(), *KernelCache.from_matrix(K).args())
    assert it == it_ref
    np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-12 * max(C, 1))
    assert b == pytest.approx(b_ref, abs=1e-10)
    # and it is a solution: feasibility and the KKT gap (closed-form checks, independent of both runs)
    assert abs(y @ a) <= 1e-10 * n * C and (a >= 0).all() and (a <= C).all()
    m = y - K @ (y * a)
    up = ((y > 0) & (a < C)) | ((y < 0) & (a > 0))
    low = ((y > 0) & (a > 0)) | ((y < 0) & (a < C))
    assert m[up].max() - m[low].min() < 1e-6 + 1e-12


@pytest.mark.parametrize("kernel", ["rbf", "chi2"])
def test_kernel_cache_modes(kernel):
    """Direct mode computes each row at most once (the rest at once when asked); LRU with 2 slots recomputes.

    Whatever the mode, the cached rows are the kernel's (reference formula) and the solution is the same.
    """
    X = histograms(40, seed=9)
    y = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    ref = kernel_matrix_reference(X, X, kernel, gamma=1.0)

    def solve(cache_mb: float) -> tuple[np.ndarray, int, KernelCache]:
        cache = KernelCache(X, kernel, 1.0, 0.0, 3, cache_mb)
        a, _, it = smo_solve(np.arange(40), y, 1.0, 1e-10, 10 ** 7, cache.diag(), *cache.args())
        return a, it, cache

    a_direct, _, direct = solve(1.0)                      # 40 x 40 x 8 bytes fit in 1 MB
    a_lru, it, lru = solve(2 * 40 * 8 / 2 ** 20)          # exactly 2 slots
    assert direct.rows.shape == (40, 40) and lru.rows.shape == (2, 40)
    assert direct.stats[1] <= 40 and direct.stats[2] == 0  # each row at most once, no fill yet
    assert 40 < lru.stats[1] <= 2 * it                     # rows evicted and recomputed
    cached = np.flatnonzero(direct.slot_of >= 0)
    np.testing.assert_allclose(direct.rows[cached], ref[cached], rtol=1e-12, atol=1e-13)
    direct.maybe_fill()                                    # > 4 rows (10 %) were needed: fill the rest
    assert direct.stats[2] == 1 and (direct.slot_of == np.arange(40)).all()
    np.testing.assert_allclose(direct.rows, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(lru.rows, ref[lru.row_in], rtol=1e-12, atol=1e-13)
    # the two modes compute the same rows the same way: the same path, the same solution
    np.testing.assert_array_equal(a_lru, a_direct)


# --------------------------------------------------------------------------- the chapter runs
def test_circles_svm_chapter_quick(tmp_path):
    from examples.circles_svm import main

    m = main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "boundaries.png").is_file()
    assert (tmp_path / "accuracy_vs_c.png").is_file()
    assert m["data"].startswith("generated")
    assert m["test_accuracy_rbf"] >= 0.9 and m["test_accuracy_linear"] <= 0.75  # rings need a kernel
