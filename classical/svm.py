"""``SVC``: a support-vector classifier written from scratch (SMO solver, kernel cache), scikit-learn style.

    >>> from classical.svm import SVC
    >>> clf = SVC(C=10.0, kernel="rbf", gamma="scale").fit(X_train, y_train)
    >>> clf.predict(X_test), clf.decision_function(X_test)

The binary solver is in ``classical/_smo.py`` (the math is written there), the kernels in
``classical/svm_kernels.py``. This file turns binary problems into a multi-class classifier.

Multi-class: two real training strategies (``multiclass=``)
----------------------------------------------------------
- ``'ovo'`` (default, libsvm's and scikit-learn's): one binary SVM per pair of classes ``(p, q)``,
  ``p < q``, trained on the points of those two classes only (class ``p`` is +1). ``predict`` is a
  vote; a tie goes to the class that comes first in ``classes_`` (libsvm's rule).
- ``'ovr'``: one binary SVM per class ``c``, trained on *all* points, class ``c`` against the rest;
  ``predict`` is the argmax of the K decision values. This is real one-vs-rest training, like
  ``sklearn.multiclass.OneVsRestClassifier(sklearn.svm.SVC())``, not scikit-learn's
  ``decision_function_shape='ovr'`` (which only reshapes the one-vs-one decision values).

With two classes both strategies are the same single binary problem.

``decision_function`` returns, for two classes, ``(n,)`` values (positive means ``classes_[1]``); for
K > 2 classes with ``'ovo'`` training, ``(n, K(K-1)/2)`` pair values if ``decision_function_shape='ovo'``
or scikit-learn's ``(n, K)`` vote-plus-confidence transform if ``'ovr'`` (default); with ``'ovr'``
training, the ``(n, K)`` per-class values (``decision_function_shape='ovo'`` is then an error).

Fitted attributes follow scikit-learn: ``support_`` (indices, grouped by class), ``support_vectors_``,
``n_support_``, ``dual_coef_`` (``y_t alpha_t``; libsvm's ``(K-1, n_SV)`` layout for one-vs-one,
``(K, n_SV)`` rows per class for one-vs-rest, sign flipped for two classes as scikit-learn does),
``intercept_``, ``classes_``, ``n_iter_``, ``n_features_in_``.

Kernel cache (``cache_size``, MB)
--------------------------------
Kernel rows are computed when SMO first needs them (``classical/_kernel_cache.py``). If all ``n`` rows
fit in ``cache_size`` MB, one cache serves every binary problem of the fit: a row holds one point
against every training point, so the one-vs-one pairs reuse each other's rows; each row is computed at
most once, and once 10 % were needed the missing ones are filled with one BLAS matrix product. Otherwise
each binary problem gets an LRU cache of ``cache_size`` MB over its own points, as in libsvm.
``kernel='precomputed'`` and callable kernels use the full matrix.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError

from ._kernel_cache import KernelCache
from ._smo import default_max_iter, smo_solve
from .svm_kernels import (HISTOGRAM_KERNELS, KERNELS, check_histograms, kernel_matrix,
                          resolve_gamma)


class SVC(ClassifierMixin, BaseEstimator):
    """C-support-vector classifier trained by SMO (see the module docstring).

    Parameters (scikit-learn's names and defaults, plus ``multiclass``):
        C: box constraint, > 0.
        kernel: 'linear' | 'rbf' | 'poly' | 'sigmoid' | 'intersection' | 'chi2' | 'precomputed' | callable
            ``f(A: (n, d), B: (m, d)) -> (n, m)``.
        degree: poly degree (int >= 0).  coef0: poly/sigmoid offset.
        gamma: 'scale' | 'auto' | float >= 0, scikit-learn's meaning (for 'chi2', 'scale' is
            1 / mean chi2 distance; see ``classical.svm_kernels.resolve_gamma``).
        tol: stop when the maximal KKT violation ``max_{I_up} m - min_{I_low} m`` is below ``tol``.
        cache_size: kernel cache in MB.  max_iter: SMO iterations per binary problem, -1 = no limit
            (libsvm's safeguard ``max(1e7, 100 n)`` still applies).
        decision_function_shape: 'ovr' | 'ovo' (how the one-vs-one decision values are returned).
        multiclass: 'ovo' | 'ovr', the training strategy.
        random_state: accepted for signature compatibility with scikit-learn; unused (the solver is
            deterministic and there is no probability calibration).
    """

    def __init__(self, C: float = 1.0, kernel: str | Callable = "rbf", degree: int = 3,
                 gamma: str | float = "scale", coef0: float = 0.0, tol: float = 1e-3,
                 cache_size: float = 200, max_iter: int = -1, decision_function_shape: str = "ovr",
                 multiclass: str = "ovo", random_state: Any = None) -> None:
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.tol = tol
        self.cache_size = cache_size
        self.max_iter = max_iter
        self.decision_function_shape = decision_function_shape
        self.multiclass = multiclass
        self.random_state = random_state

    # ---- scikit-learn plumbing ---------------------------------------------------------------
    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"  # CV then slices K on both axes
        tags.input_tags.positive_only = self.kernel in HISTOGRAM_KERNELS
        return tags

    def _more_tags(self) -> dict:  # the same, for scikit-learn < 1.6
        return {"pairwise": self.kernel == "precomputed", "requires_positive_X": self.kernel in HISTOGRAM_KERNELS}

    def _check_params(self) -> None:
        def bad(name: str, want: str) -> ValueError:
            return ValueError(f"SVC: {name} must be {want}, got {getattr(self, name)!r}")
        if not isinstance(self.C, Real) or not self.C > 0:
            raise bad("C", "a float > 0")
        if not (callable(self.kernel) or self.kernel in KERNELS or self.kernel == "precomputed"):
            raise bad("kernel", f"one of {KERNELS + ('precomputed',)} or a callable")
        if not isinstance(self.degree, Integral) or self.degree < 0:
            raise bad("degree", "an int >= 0")
        if not isinstance(self.coef0, Real):
            raise bad("coef0", "a float")
        if not isinstance(self.tol, Real) or not self.tol > 0:
            raise bad("tol", "a float > 0")
        if not isinstance(self.cache_size, Real) or not self.cache_size > 0:
            raise bad("cache_size", "a float > 0 (MB)")
        if not isinstance(self.max_iter, Integral) or self.max_iter == 0 or self.max_iter < -1:
            raise bad("max_iter", "-1 or an int > 0")
        if self.decision_function_shape not in ("ovr", "ovo"):
            raise bad("decision_function_shape", "'ovr' or 'ovo'")
        if self.multiclass not in ("ovo", "ovr"):
            raise bad("multiclass", "'ovo' or 'ovr'")

    @staticmethod
    def _check_X(X: Any, where: str) -> np.ndarray:
        """Dense float64 ``(n, d)`` with finite values, or a ValueError that names the shape."""
        import scipy.sparse as sp
        if sp.issparse(X):
            raise TypeError(f"SVC.{where}: sparse input is not supported; pass X.toarray()")
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"SVC.{where}: expected a 2D array X (n_samples, n_features), got shape "
                             f"{X.shape}. Reshape your data with X.reshape(-1, 1) (one feature) or "
                             f"X.reshape(1, -1) (one sample)")
        if X.dtype.kind == "c":
            raise ValueError(f"SVC.{where}: Complex data not supported (X {X.shape}, dtype {X.dtype})")
        if X.dtype.kind not in "biuf":
            try:  # e.g. an object array of numbers
                X = X.astype(np.float64)
            except (TypeError, ValueError) as e:  # keep numpy's exception type, name the shape
                raise type(e)(f"SVC.{where}: X {X.shape} must be numeric, got dtype {X.dtype}: {e}") from e
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            raise ValueError(f"SVC.{where}: X {X.shape} is empty: 0 sample(s) while a minimum of 1 is required.")
        if X.shape[1] == 0:
            raise ValueError(f"SVC.{where}: X {X.shape} is empty: 0 feature(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
        if not np.isfinite(X).all():
            what = "NaN" if np.isnan(X).any() else "infinity"
            raise ValueError(f"SVC.{where}: X {X.shape} contains {what}")
        return X

    # ---- training ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> "SVC":
        """Train on ``X: (n, d)`` (or an ``(n, n)`` kernel matrix if kernel='precomputed'), ``y: (n,)``."""
        self._check_params()
        if y is None:
            raise ValueError("SVC requires y to be passed, but the target y is None")
        X = self._check_X(X, "fit")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(f"A column-vector y was passed when a 1d array was expected (SVC.fit: y {y.shape}); "
                          "using y.ravel()", DataConversionWarning, stacklevel=2)
            y = y.ravel()
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"SVC.fit: y {y.shape} must be 1D with one label per row of X {X.shape}")
        if y.dtype.kind == "f":
            if np.isnan(y).any():
                raise ValueError(f"SVC.fit: y {y.shape} contains NaN")
            if np.any(y != np.round(y)):
                raise ValueError(f"Unknown label type: continuous. SVC.fit: y {y.shape} holds non-integer "
                                 "floats; a classifier needs class labels")
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"The number of classes has to be greater than one; got {k} class "
                             f"(SVC.fit on X {X.shape})")
        if self.multiclass == "ovr" and self.decision_function_shape == "ovo" and k > 2:
            raise ValueError("SVC: decision_function_shape='ovo' needs one-vs-one training; "
                             "multiclass='ovr' gives (n, n_classes) decision values")
        n = X.shape[0]
        self.n_features_in_ = X.shape[1]
        self.shape_fit_ = X.shape

        # the kernel: rows on demand, through one cache shared by every binary problem when all
        # rows fit in cache_size, else through one LRU cache per problem (see the module docstring)
        self._gamma = 0.0
        shared: KernelCache | None = None
        if self.kernel == "precomputed":
            if X.shape[0] != X.shape[1]:
                raise ValueError(f"SVC.fit: kernel='precomputed' needs a square (n, n) matrix, got {X.shape}")
            shared = KernelCache.from_matrix(X)
        elif callable(self.kernel):
            G = np.ascontiguousarray(self.kernel(X, X), dtype=np.float64)
            if G.shape != (n, n):
                raise ValueError(f"SVC.fit: the kernel callable returned {G.shape} for X {X.shape}; "
                                 f"expected ({n}, {n})")
            shared = KernelCache.from_matrix(G)
        else:
            check_histograms(X, self.kernel)
            self._gamma = resolve_gamma(self.gamma, X, self.kernel)
            if n * n * 8 <= self.cache_size * 2 ** 20:
                shared = self._cache(X)
        diag = shared.diag() if shared is not None else None

        problems = binary_problems(y_enc, k, self.multiclass)
        alphas, biases, n_iter = [], [], []
        for idx, ys in problems:
            if shared is not None:
                shared.maybe_fill()
                a, b, it = self._solve(shared, diag, idx, ys)
            else:
                own = self._cache(X[idx])
                a, b, it = self._solve(own, own.diag(), np.arange(len(idx)), ys)
            alphas.append(a)
            biases.append(b)
            n_iter.append(it)
        self.n_iter_ = np.asarray(n_iter, np.int32)

        # support vectors: alpha > 0 in at least one problem, grouped by class, in training order
        by_class = [np.flatnonzero(y_enc == c) for c in range(k)]
        is_sv = np.zeros(n, bool)
        for (idx, _), a in zip(problems, alphas):
            is_sv[idx[a > 0]] = True
        self.support_ = np.concatenate([c_idx[is_sv[c_idx]] for c_idx in by_class]).astype(np.int32)
        self.n_support_ = np.array([is_sv[c_idx].sum() for c_idx in by_class], np.int32)
        pos = np.full(n, -1)
        pos[self.support_] = np.arange(len(self.support_))
        self.support_vectors_ = (np.empty((0, 0)) if self.kernel == "precomputed"
                                 else X[self.support_].copy())
        # W[s, r] = y_t alpha_t of support vector s in problem r; the decision is K(x, SV) @ W + b
        W = np.zeros((len(self.support_), len(problems)))
        for r, ((idx, ys), a) in enumerate(zip(problems, alphas)):
            nz = a > 0
            W[pos[idx[nz]], r] = ys[nz] * a[nz]
        self._W, self._b = W, np.asarray(biases)
        self._ovr = k > 2 and self.multiclass == "ovr"
        self._set_public_coefs(y_enc, k)
        return self

    def _cache(self, X: np.ndarray) -> KernelCache:
        return KernelCache(X, self.kernel, self._gamma, float(self.coef0), int(self.degree), float(self.cache_size))

    def _solve(self, cache: KernelCache, diag: np.ndarray, idx: np.ndarray,
               ys: np.ndarray) -> tuple[np.ndarray, float, int]:
        """One binary problem on the training points ``idx`` with labels ``ys``: ``(alpha, b, n_iter)``."""
        cap = default_max_iter(len(idx)) if self.max_iter == -1 else int(self.max_iter)
        a, b, it = smo_solve(idx.astype(np.int64), ys, float(self.C), float(self.tol), cap, diag, *cache.args())
        if it >= cap:
            warnings.warn(f"Solver terminated early (max_iter={cap}). Consider pre-processing your data "
                          "with StandardScaler or MinMaxScaler.", ConvergenceWarning, stacklevel=3)
        return a, float(b), int(it)

    def _set_public_coefs(self, y_enc: np.ndarray, k: int) -> None:
        """``dual_coef_`` and ``intercept_`` in scikit-learn's layout and signs."""
        W, b = self._W, self._b
        if self._ovr:
            self.dual_coef_ = W.T.copy()
            self.intercept_ = b.copy()
            return
        if k == 2:  # scikit-learn flips the binary model so that positive means classes_[1]
            self.dual_coef_ = -W.T.copy()
            self.intercept_ = -b.copy()
            return
        # libsvm layout: in pair (p, q), p's support vectors store their coefficient in row q-1
        # and q's in row p; every support vector has K-1 slots, one per other class.
        sv_class = y_enc[self.support_]
        dual = np.zeros((k - 1, len(self.support_)))
        r = 0
        for p in range(k):
            for q in range(p + 1, k):
                in_p, in_q = sv_class == p, sv_class == q
                dual[q - 1, in_p] = W[in_p, r]
                dual[p, in_q] = W[in_q, r]
                r += 1
        self.dual_coef_ = dual
        self.intercept_ = b.copy()

    # ---- prediction --------------------------------------------------------------------------
    def _raw(self, X: Any, where: str) -> np.ndarray:
        """Decision values of every binary problem, ``(n, n_problems)``, positive = its +1 class."""
        if not hasattr(self, "_W"):
            raise NotFittedError("This SVC instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator.")
        X = self._check_X(X, where)
        if self.kernel == "precomputed":
            if X.shape[1] != self.shape_fit_[0]:
                raise ValueError(f"X has {X.shape[1]} features, but SVC is expecting {self.shape_fit_[0]} features "
                                 f"as input: with kernel='precomputed', X {X.shape} must be K(test, train) "
                                 f"with {self.shape_fit_[0]} columns")
            Ks = X[:, self.support_]
        else:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but SVC is expecting {self.n_features_in_} "
                                 f"features as input (X {X.shape})")
            if callable(self.kernel):
                Ks = np.asarray(self.kernel(X, self.support_vectors_), dtype=np.float64)
            else:
                check_histograms(X, self.kernel)
                Ks = kernel_matrix(X, self.support_vectors_, self.kernel, self._gamma, self.coef0, self.degree)
        return Ks @ self._W + self._b

    def decision_function(self, X: Any) -> np.ndarray:
        """``(n,)`` for two classes, else ``(n, K)`` or ``(n, K(K-1)/2)`` (see the module docstring)."""
        raw = self._raw(X, "decision_function")
        k = len(self.classes_)
        if k == 2:
            return -raw[:, 0]
        if self._ovr or self.decision_function_shape == "ovo":
            return raw
        return ovo_to_ovr(raw, k)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels ``(n,)``: the sign for two classes, the vote for one-vs-one, the argmax for one-vs-rest."""
        raw = self._raw(X, "predict")
        k = len(self.classes_)
        if self._ovr:
            return self.classes_[np.argmax(raw, axis=1)]
        return self.classes_[np.argmax(ovo_votes(raw, k), axis=1)]


def binary_problems(y_enc: np.ndarray, k: int, multiclass: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The binary problems as ``(training indices, labels +-1)``; ``y_enc: (n,)`` in 0..k-1.

    One-vs-one (and any 2-class fit): pair (p, q), p < q, class p first and labelled +1, as libsvm.
    One-vs-rest: class c (+1) against all the others (-1), on every point.
    """
    by_class = [np.flatnonzero(y_enc == c) for c in range(k)]
    if k == 2 or multiclass == "ovo":
        return [(np.concatenate([by_class[p], by_class[q]]),
                 np.r_[np.ones(len(by_class[p])), -np.ones(len(by_class[q]))])
                for p in range(k) for q in range(p + 1, k)]
    return [(np.arange(len(y_enc)), np.where(y_enc == c, 1.0, -1.0)) for c in range(k)]


def ovo_votes(raw: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` vote counts from pair values ``raw: (n, k(k-1)/2)``; pair (p, q): > 0 votes p, else q."""
    votes = np.zeros((raw.shape[0], k), np.int64)
    r = 0
    for p in range(k):
        for q in range(p + 1, k):
            win_p = raw[:, r] > 0
            votes[:, p] += win_p
            votes[:, q] += ~win_p
            r += 1
    return votes


def ovo_to_ovr(raw: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn's ``decision_function_shape='ovr'`` for one-vs-one values ``raw: (n, k(k-1)/2)``.

    Each class gets its number of votes plus its summed pair confidence squashed into (-1/3, 1/3),
    ``s / (3 (|s| + 1))``, which breaks ties between equal vote counts without ever changing the order
    set by the votes. (Votes here count ``raw < 0`` as a win for q, scikit-learn's convention.)
    """
    votes = np.zeros((raw.shape[0], k))
    conf = np.zeros((raw.shape[0], k))
    r = 0
    for p in range(k):
        for q in range(p + 1, k):
            votes[:, p] += raw[:, r] >= 0
            votes[:, q] += raw[:, r] < 0
            conf[:, p] += raw[:, r]
            conf[:, q] -= raw[:, r]
            r += 1
    return votes + conf / (3.0 * (np.abs(conf) + 1.0))
