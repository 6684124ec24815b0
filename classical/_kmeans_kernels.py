"""The inner loops of k-means, as Numba kernels over plain ndarrays, each next to its NumPy reference.

Every ``*_ref`` function is the readable definition; the Numba kernel of the same name without the
suffix computes the same thing faster (fused loops, no temporaries, parallel over points). The tests
(``tests/test_kmeans.py``) check each kernel against its reference. With ``NUMBA_DISABLE_JIT=1`` the
kernels run as plain Python: slow, but debuggable.

Notation: ``X: (n, d)`` points, ``C: (k, d)`` centres, ``labels: (n,)`` index of each point's centre.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------------------------------
# Assignment step: argmin_j ||x_i - c_j||^2 from the Gram block G = X C^T (computed by BLAS).
#   ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, and ||x||^2 does not depend on j, so
#   label_i = argmin_j (||c_j||^2 - 2 G[i, j]);  dist_i = ||x_i||^2 + min_j (...), clamped at 0
#   (the expansion can round a true 0 to a tiny negative number).
# --------------------------------------------------------------------------------------------------


def argmin_from_gram_ref(G: np.ndarray, c_sq: np.ndarray, x_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G: (m, k), c_sq: (k,) (same dtype as G), x_sq: (m,) float64 -> labels (m,) int32, squared
    distances (m,) float64. Ties: lowest j."""
    score = c_sq[None, :] - 2.0 * G
    labels = np.argmin(score, axis=1).astype(np.int32)
    dist = np.maximum(x_sq + score[np.arange(len(labels)), labels], 0.0)
    return labels, dist


@njit(cache=True, nogil=True, fastmath=True)
def argmin_from_gram(G: np.ndarray, c_sq: np.ndarray, x_sq: np.ndarray,
                     labels: np.ndarray, dist: np.ndarray) -> None:
    """Fused version of :func:`argmin_from_gram_ref`, writing into ``labels`` and ``dist``.

    Per row, three short passes over a k-long buffer that stays in L1: the scores
    ||c_j||^2 - 2 G[i, j] (``g + g`` is exact, so no float64 literal drags float32 data to float64),
    their minimum (a reduction LLVM vectorises; min is exact, so its order does not matter), then the
    first j that reaches it, which is np.argmin's tie rule. Two to three times faster than one pass
    carrying (value, index) pairs. Serial and ``nogil``: the caller runs one chunk per worker thread.
    """
    m, k = G.shape
    score = np.empty(k, G.dtype)
    for i in range(m):
        for j in range(k):
            g = G[i, j]
            score[j] = c_sq[j] - (g + g)
        best = score[0]
        for j in range(1, k):
            best = min(best, score[j])
        best_j = 0
        for j in range(k):
            if score[j] == best:
                best_j = j
                break
        labels[i] = best_j
        d = x_sq[i] + best
        dist[i] = d if d > 0.0 else 0.0


# --------------------------------------------------------------------------------------------------
# Update step: the new centre is the mean of its points, c_j = (1/|S_j|) sum_{i in S_j} x_i.
# Sums are accumulated in float64 whatever the data type (100,000 float32 additions lose digits).
# --------------------------------------------------------------------------------------------------


def cluster_sums_ref(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """X: (n, d), labels: (n,) -> per-cluster sums (k, d) float64 and counts (k,) int64."""
    sums = np.zeros((k, X.shape[1]), np.float64)
    np.add.at(sums, labels, X.astype(np.float64))
    return sums, np.bincount(labels, minlength=k).astype(np.int64)


@njit(cache=True)
def cluster_sums(X: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Same as :func:`cluster_sums_ref` in one pass over X (serial: O(n d), memory-bound)."""
    n, d = X.shape
    sums = np.zeros((k, d), np.float64)
    counts = np.zeros(k, np.int64)
    for i in range(n):
        j = labels[i]
        counts[j] += 1
        for f in range(d):
            sums[j, f] += X[i, f]
    return sums, counts


# --------------------------------------------------------------------------------------------------
# Inertia: sum_i ||x_i - c_{label_i}||^2, computed directly (not from the expansion) in float64.
# --------------------------------------------------------------------------------------------------


def inertia_ref(X: np.ndarray, C: np.ndarray, labels: np.ndarray) -> float:
    diff = X.astype(np.float64) - C.astype(np.float64)[labels]
    return float(np.einsum("ij,ij->", diff, diff))


@njit(cache=True)
def inertia(X: np.ndarray, C: np.ndarray, labels: np.ndarray) -> float:
    n, d = X.shape
    total = 0.0
    for i in range(n):
        j = labels[i]
        s = 0.0
        for f in range(d):
            t = np.float64(X[i, f]) - np.float64(C[j, f])
            s += t * t
        total += s
    return total


# --------------------------------------------------------------------------------------------------
# Greedy k-means++ (one seeding step). Each point i knows D_i^2 = closest_sq[i], its squared distance
# to the nearest centre chosen so far. For T candidate points t the step needs the potential each
# would leave,
#     phi_t = sum_i min(D_i^2, ||x_i - cand_t||^2) = phi - gain_t,
#     gain_t = sum_i max(0, D_i^2 - ||x_i - cand_t||^2),
# and keeps the candidate with the largest gain (smallest phi_t). scikit-learn computes the (T, n)
# distances with BLAS, then the minimum, then the sums: several passes over (T, n) temporaries. Here
# one pass over X does it all, computing the distances by direct differences (no cancellation), and
# keeps each candidate's new distances so that the update needs no second pass.
#
# (We tried skipping the pairs that the triangle inequality rules out, ||x - cand|| >=
# ||a - cand|| - ||x - a|| with a the point's centre: in 128 dimensions distances concentrate, 70-90 %
# of the pairs must still be computed, and the run time did not change. Not worth its complexity.)
# --------------------------------------------------------------------------------------------------


def sq_dists_ref(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A: (p, d), B: (q, d) -> (p, q) squared distances, by direct differences (no cancellation)."""
    diff = A.astype(np.float64)[:, None, :] - B.astype(np.float64)[None, :, :]
    return np.einsum("pqd,pqd->pq", diff, diff)


@njit(cache=True, fastmath=True)
def sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    p, d = A.shape
    q = B.shape[0]
    out = np.empty((p, q), np.float64)
    for r in range(p * q):
        a = r // q
        b = r - a * q
        s = 0.0
        for f in range(d):
            t = np.float64(A[a, f]) - np.float64(B[b, f])
            s += t * t
        out[a, b] = s
    return out


def kpp_gains_ref(X: np.ndarray, cand: np.ndarray, closest_sq: np.ndarray) -> np.ndarray:
    """X: (n, d), cand: (T, d), closest_sq: (n,) -> gain_t (T,) (the definition)."""
    d_sq = sq_dists_ref(cand, X)                       # (T, n)
    return np.maximum(closest_sq[None, :] - d_sq, 0.0).sum(axis=1)


@njit(cache=True, fastmath=True, nogil=True)
def kpp_gains_block(X: np.ndarray, cand: np.ndarray, closest_sq: np.ndarray, start: int, stop: int,
                    d_new: np.ndarray, gains: np.ndarray) -> None:
    """Add to ``gains: (T,)`` the gain_t of :func:`kpp_gains_ref` over the points start..stop-1.

    d_new: (T, n) output, ||x_i - cand_t||^2 where that is below closest_sq[i], +inf elsewhere, so
    that the update after the choice (:func:`kpp_update`) needs no second pass over X.
    Distances are accumulated in X's dtype (float32 data: twice the SIMD width), gains in float64.
    """
    d = X.shape[1]
    T = cand.shape[0]
    for i in range(start, stop):
        ci = closest_sq[i]
        for t in range(T):
            s = X[i, 0] - X[i, 0]  # a zero of X's dtype
            for f in range(d):
                u = X[i, f] - cand[t, f]
                s += u * u
            if s < ci:
                d_new[t, i] = s
                gains[t] += ci - s
            else:
                d_new[t, i] = np.inf


@njit(cache=True, parallel=True)
def kpp_gains_parallel(X: np.ndarray, cand: np.ndarray, closest_sq: np.ndarray, d_new: np.ndarray,
                       n_blocks: int) -> np.ndarray:
    """:func:`kpp_gains_block` over all the points, ``n_blocks`` blocks spread over the threads."""
    n = X.shape[0]
    partial = np.zeros((n_blocks, cand.shape[0]), np.float64)
    step = (n + n_blocks - 1) // n_blocks
    for b in prange(n_blocks):
        kpp_gains_block(X, cand, closest_sq, b * step, min(n, (b + 1) * step), d_new, partial[b])
    return partial.sum(axis=0)


def kpp_gains(X: np.ndarray, cand: np.ndarray, closest_sq: np.ndarray, d_new: np.ndarray,
              parallel: bool) -> np.ndarray:
    """gain_t (T,) for every candidate (see :func:`kpp_gains_block`); threads only when asked:
    a parallel region costs more than it saves on small data (and much more on a busy machine)."""
    if parallel:
        return kpp_gains_parallel(X, cand, closest_sq, d_new, 64)
    gains = np.zeros(cand.shape[0], np.float64)
    kpp_gains_block(X, cand, closest_sq, 0, X.shape[0], d_new, gains)
    return gains


def kpp_update_ref(X: np.ndarray, c: np.ndarray, closest_sq: np.ndarray) -> None:
    """D(x)^2 <- min(D(x)^2, ||x - c||^2) once ``c`` is a centre. In place."""
    np.minimum(closest_sq, sq_dists_ref(c[None, :], X)[0], out=closest_sq)


@njit(cache=True)
def kpp_update(d_new: np.ndarray, closest_sq: np.ndarray) -> None:
    """:func:`kpp_update_ref` from the chosen candidate's row ``d_new: (n,)`` of :func:`kpp_gains`."""
    for i in range(closest_sq.shape[0]):
        if d_new[i] < closest_sq[i]:
            closest_sq[i] = d_new[i]
