"""k-means: greedy k-means++ seeding, then Lloyd iterations, as a scikit-learn estimator.

The problem: given points x_1..x_n in R^d, find k centres c_1..c_k minimising the inertia

    J = sum_i min_j ||x_i - c_j||^2 .

**Lloyd's algorithm** alternates two steps that each decrease J:

1. *assignment*: label_i = argmin_j ||x_i - c_j||^2. With ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 the
   n x k cross terms are one matrix product X C^T (BLAS), done in chunks of rows so that the
   (chunk, k) block stays small (``chunk_size``);
2. *update*: c_j = mean of the points labelled j. An empty cluster is moved onto the point that is
   farthest from its own centre (taken out of its old cluster), as scikit-learn does.

It stops when the labels no longer change ("strict convergence"), or when the centres moved by
sum_j ||c_j^new - c_j^old||^2 <= tol * mean_f Var(X[:, f]) (scikit-learn's meaning of ``tol``), or
after ``max_iter`` iterations. If it did not converge strictly, one last assignment step makes
``labels_`` consistent with ``cluster_centers_``.

**k-means++ seeding** (Arthur & Vassilvitskii 2007), in its *greedy* form, as scikit-learn's default:
the first centre is a uniformly drawn point; each next one is chosen among ``n_local_trials``
(default 2 + ln k) candidates drawn with probability proportional to D(x)^2 (the squared distance to
the nearest centre so far), keeping the candidate that lowers the potential sum_i D(x_i)^2 the most.
``n_local_trials=1`` is the plain k-means++ of the paper. The random draws are made in the same order
and with the same NumPy calls as scikit-learn's, so the same integer ``random_state`` picks the same
seeds (up to floating-point ties). Each seeding step is one fused pass over X (a Numba kernel,
``_kmeans_kernels.kpp_gains``) where scikit-learn makes several over (trials, n) temporaries.

As in scikit-learn, the data are centred (the mean is subtracted) before fitting, which makes the
||x||^2 - 2 x.c + ||c||^2 expansion more accurate; float32 input stays float32 (BLAS in float32),
anything else becomes float64.
"""
from __future__ import annotations

import numbers
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from threadpoolctl import ThreadpoolController
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning

from classical import _kmeans_kernels as K

__all__ = ["KMeans", "kmeans_plusplus", "nearest_centers", "check_random_state"]

# Size, in matrix entries, of one (chunk, k) block of the assignment step when chunk_size is None:
# 2^20 entries (4 MiB in float32, 8 in float64) per thread: measured fastest here (1000 centres:
# ~1000-row blocks), and the blocks of two threads still fit in the L3 cache.
_BLOCK_ENTRIES = 1 << 20


# Below this much work (multiply-adds) per step, threads cost more than they save: k-means++ steps run
# serially and the assignment step in the calling thread.
_PARALLEL_WORK = 1 << 20


def check_random_state(seed: None | int | np.random.RandomState) -> np.random.RandomState:
    """None -> NumPy's global RandomState, int -> a new seeded one, RandomState -> itself (sklearn's rule)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {seed!r}")


def _as_float_2d(X: object, who: str) -> np.ndarray:
    """Validate ``X`` as a finite (n, d) float array (float32 kept, everything else -> float64).

    Errors follow scikit-learn's types and wording (its estimator checks look for them), and name
    the shape.
    """
    import scipy.sparse as sp
    if sp.issparse(X):
        raise TypeError(f"{who}: sparse input is not supported (dense data is required); use X.toarray()")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D array (n_samples, n_features), got shape {X.shape}. "
                         "Reshape your data with X.reshape(-1, 1) (one feature) or X.reshape(1, -1) (one sample)")
    if X.dtype.kind == "c":
        raise ValueError(f"{who}: Complex data not supported (X of shape {X.shape})")
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    if X.shape[0] == 0:
        raise ValueError(f"{who}: found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.shape[1] == 0:
        raise ValueError(f"{who}: found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if not np.isfinite(X).all():
        raise ValueError(f"{who}: X of shape {X.shape} contains NaN or infinity")
    return np.ascontiguousarray(X)


def _auto_chunk(n_clusters: int) -> int:
    return int(max(256, _BLOCK_ENTRIES // max(n_clusters, 1)))


# ------------------------------------------------------------------------------------------------
# Assignment step
# ------------------------------------------------------------------------------------------------


def nearest_centers(X: np.ndarray, centers: np.ndarray, *, chunk_size: int | None = None,
                    x_sq: np.ndarray | None = None, n_threads: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of every point, by ||x||^2 - 2 x.c + ||c||^2 on chunks of rows.

    X: (n, d), centers: (k, d) of the same dtype. Returns labels (n,) int32 and the squared distances
    to the nearest centre (n,) (float64, clamped at 0). Memory: one (chunk_size, k) block per thread.

    Parallelism is over chunks, one worker thread each, with BLAS limited to one thread (as
    scikit-learn does): a multi-threaded BLAS whose idle threads spin would fight the workers for the
    cores. ``n_threads`` defaults to Numba's thread count (``numba.set_num_threads``).
    """
    n = X.shape[0]
    k = centers.shape[0]
    chunk = chunk_size or _auto_chunk(k)
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    c_sq = np.einsum("ij,ij->i", centers, centers, dtype=np.float64).astype(X.dtype)
    CT = np.ascontiguousarray(centers.T, dtype=X.dtype)
    labels = np.empty(n, np.int32)
    dist = np.empty(n, np.float64)
    buffers = threading.local()  # one reusable (chunk, k) Gram block per worker

    def work(s: int) -> None:
        e = min(n, s + chunk)
        G = getattr(buffers, "G", None)
        if G is None:
            G = buffers.G = np.empty((chunk, k), X.dtype)
        g = G[: e - s]
        np.matmul(X[s:e], CT, out=g)                    # the BLAS part: (m, d) @ (d, k)
        K.argmin_from_gram(g, c_sq, x_sq[s:e], labels[s:e], dist[s:e])

    starts = range(0, n, chunk)
    n_threads = n_threads or (numba.get_num_threads() if n * k * X.shape[1] >= _PARALLEL_WORK else 1)
    if n_threads == 1 or len(starts) == 1:
        for s in starts:
            work(s)
    else:
        with _single_threaded_blas(), ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, starts))
    return labels, dist


_controller: ThreadpoolController | None = None


def _single_threaded_blas():
    """Context manager limiting BLAS to one thread (the controller is built once: it is slow)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


# ------------------------------------------------------------------------------------------------
# k-means++ seeding
# ------------------------------------------------------------------------------------------------


def kmeans_plusplus(X: np.ndarray, n_clusters: int, *, random_state=None,
                    n_local_trials: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeds. X: (n, d) -> centres (n_clusters, d) (rows of X) and their indices (n_clusters,).

    Same signature and random draws as ``sklearn.cluster.kmeans_plusplus`` (without sample weights).
    """
    X = _as_float_2d(X, "kmeans_plusplus")
    n, d = X.shape
    if n < n_clusters:
        raise ValueError(f"n_samples={n} should be >= n_clusters={n_clusters}.")
    rng = check_random_state(random_state)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    parallel = numba.get_num_threads() > 1 and n * d * n_local_trials >= _PARALLEL_WORK

    indices = np.full(n_clusters, -1, dtype=np.int64)
    centers = np.empty((n_clusters, d), X.dtype)
    first = rng.choice(n, p=np.full(n, 1.0 / n))        # same call as sklearn (uniform weights)
    indices[0] = first
    centers[0] = X[first]
    closest_sq = K.sq_dists(X[first][None, :], X)[0]    # D(x)^2 to the nearest centre so far
    potential = closest_sq.sum()
    d_new = np.empty((n_local_trials, n), X.dtype)      # candidates' distances, reused every step

    for c in range(1, n_clusters):
        # draw candidates with probability D(x)^2 / sum D^2 (inverse CDF on the cumulative sum)
        rand_vals = rng.uniform(size=n_local_trials) * potential
        cand_ids = np.searchsorted(np.cumsum(closest_sq), rand_vals)
        np.clip(cand_ids, None, n - 1, out=cand_ids)
        cand = X[cand_ids]
        gains = K.kpp_gains(X, cand, closest_sq, d_new, parallel)
        best = int(np.argmax(gains))                    # largest drop of the potential
        K.kpp_update(d_new[best], closest_sq)
        potential = closest_sq.sum()
        indices[c] = cand_ids[best]
        centers[c] = cand[best]
    return centers, indices


# ------------------------------------------------------------------------------------------------
# Lloyd iterations
# ------------------------------------------------------------------------------------------------


def _update_centers(X: np.ndarray, labels: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Means of the clusters; empty ones relocated to the points farthest from their centre.

    Follows scikit-learn: the far points are the ones with the largest ||x_i - c_old[label_i]||^2, the
    point is removed from its old cluster, and if every point already sits on its centre (more
    clusters than distinct points) nothing is relocated and the empty cluster's centre becomes 0
    (the data mean, since X is centred).
    """
    k = old.shape[0]
    sums, counts = K.cluster_sums(X, labels, k)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        diff = X - old[labels]
        far_dist = (diff ** 2).sum(axis=1)
        if far_dist.max() > 0:
            far = np.argpartition(far_dist, -empty.size)[: -empty.size - 1: -1]
            for j, i in zip(empty, far):
                sums[labels[i]] -= X[i]
                counts[labels[i]] -= 1
                sums[j] = X[i]
                counts[j] = 1
    nonzero = counts > 0
    sums[nonzero] /= counts[nonzero, None]
    return sums.astype(X.dtype)


def _lloyd(X: np.ndarray, x_sq: np.ndarray, centers: np.ndarray, max_iter: int, tol: float,
           chunk_size: int | None) -> tuple[np.ndarray, float, np.ndarray, int]:
    """One k-means run from ``centers``. Returns labels (n,), inertia, centres (k, d), iterations."""
    labels_old = np.full(X.shape[0], -1, np.int32)
    strict = False
    for it in range(max_iter):
        labels, _ = nearest_centers(X, centers, chunk_size=chunk_size, x_sq=x_sq)
        new = _update_centers(X, labels, centers)
        shift = float(((new.astype(np.float64) - centers) ** 2).sum())
        centers = new
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if shift <= tol:
            break
        labels_old = labels
    if not strict:  # make the labels match the final centres
        labels, _ = nearest_centers(X, centers, chunk_size=chunk_size, x_sq=x_sq)
    return labels, K.inertia(X, centers, labels), centers, it + 1


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means clustering (greedy k-means++ seeding + Lloyd), scikit-learn compatible.

    Parameters mean what they mean in ``sklearn.cluster.KMeans``; ``init`` is 'k-means++', 'random'
    or an array (n_clusters, n_features) of initial centres; ``chunk_size`` is the number of rows per
    BLAS block of the assignment step (None: about 2^20 / n_clusters, at least 256).

    Attributes after ``fit(X: (n, d))``: ``cluster_centers_ (k, d)``, ``labels_ (n,) int32``,
    ``inertia_`` (sum of squared distances to the nearest centre), ``n_iter_`` (Lloyd iterations of
    the kept run), ``n_features_in_``.
    """

    def __init__(self, n_clusters: int = 8, *, init="k-means++", n_init: int = 1, max_iter: int = 300,
                 tol: float = 1e-4, random_state=None, chunk_size: int | None = None,
                 n_local_trials: int | None = None) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_local_trials = n_local_trials

    # -- fitting -----------------------------------------------------------------------------------

    def _check_params(self, X: np.ndarray) -> None:
        if not isinstance(self.n_clusters, numbers.Integral) or self.n_clusters < 1:
            raise ValueError(f"n_clusters must be an integer >= 1, got {self.n_clusters!r}")
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")
        if not isinstance(self.n_init, numbers.Integral) or self.n_init < 1:
            raise ValueError(f"n_init must be an integer >= 1, got {self.n_init!r}")
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be None or >= 1, got {self.chunk_size!r}")

    def _init_centers(self, X: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        k = self.n_clusters
        if isinstance(self.init, str) and self.init == "k-means++":
            centers, _ = kmeans_plusplus(X, k, random_state=rng, n_local_trials=self.n_local_trials)
            return centers
        if isinstance(self.init, str) and self.init == "random":
            return X[rng.choice(X.shape[0], size=k, replace=False, p=np.full(X.shape[0], 1.0 / X.shape[0]))]
        raise ValueError(f"init must be 'k-means++', 'random' or an array, got {self.init!r}")

    def fit(self, X, y=None) -> "KMeans":
        """Cluster X: (n, d). The best of ``n_init`` runs (lowest inertia) is kept."""
        X = _as_float_2d(X, "KMeans.fit")
        self._check_params(X)
        rng = check_random_state(self.random_state)
        init_array = None
        if not isinstance(self.init, str):
            init_array = np.asarray(self.init, dtype=X.dtype)
            if init_array.shape != (self.n_clusters, X.shape[1]):
                raise ValueError(f"KMeans.fit: init of shape {init_array.shape} does not match "
                                 f"(n_clusters, n_features) = ({self.n_clusters}, {X.shape[1]})")
        mean = X.mean(axis=0)
        Xc = X - mean                                  # centred copy: a more accurate expansion
        x_sq = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
        # sklearn's tolerance: tol * mean_f Var(X[:, f]); on centred data that mean is sum_i ||x_i||^2 / (n d)
        tol = self.tol * float(x_sq.sum()) / X.size if self.tol else 0.0
        n_init = 1 if init_array is not None else self.n_init
        best = None
        for _ in range(n_init):
            if init_array is not None:
                centers = init_array - mean
            else:
                centers = self._init_centers(Xc, rng)
            run = _lloyd(Xc, x_sq, centers, self.max_iter, tol, self.chunk_size)
            if best is None or run[1] < best[1]:
                best = run
        labels, inertia, centers, n_iter = best
        n_distinct = len(np.unique(labels))
        if n_distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({n_distinct}) found smaller than n_clusters "
                          f"({self.n_clusters}). Possibly due to duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)
        self.cluster_centers_ = (centers + mean).astype(X.dtype)
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    # -- using a fitted model ----------------------------------------------------------------------

    def _checked(self, X, who: str) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError(f"This KMeans instance is not fitted yet; call fit before {who}.")
        X = _as_float_2d(X, f"KMeans.{who}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but KMeans is expecting {self.n_features_in_} features "
                             f"as input (KMeans.{who}: X {X.shape}, centres {self.cluster_centers_.shape})")
        return X

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre, (n,) int32."""
        X = self._checked(X, "predict")
        return nearest_centers(X, self.cluster_centers_.astype(X.dtype), chunk_size=self.chunk_size)[0]

    def transform(self, X) -> np.ndarray:
        """Euclidean distances to every centre, (n, k) (chunked, like the assignment step)."""
        X = self._checked(X, "transform")
        C = self.cluster_centers_.astype(X.dtype)
        c_sq = np.einsum("ij,ij->i", C, C, dtype=np.float64)
        out = np.empty((X.shape[0], C.shape[0]), X.dtype)
        chunk = self.chunk_size or _auto_chunk(C.shape[0])
        for s in range(0, X.shape[0], chunk):
            x = X[s:s + chunk]
            x_sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
            d2 = x_sq[:, None] - 2.0 * (x @ C.T) + c_sq[None, :]
            out[s:s + chunk] = np.sqrt(np.maximum(d2, 0.0))
        return out

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def score(self, X, y=None) -> float:
        """Minus the inertia of X under the fitted centres (sklearn's convention: higher is better)."""
        X = self._checked(X, "score")
        C = self.cluster_centers_.astype(X.dtype)
        labels, _ = nearest_centers(X, C, chunk_size=self.chunk_size)
        return -float(K.inertia(X, C, labels))
