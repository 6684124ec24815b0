"""The SVM's kernel cache: rows of the training kernel matrix, computed when SMO first asks for them.

SMO touches the kernel matrix one row at a time (``K_i`` and ``K_j`` per step), and often needs only a
fraction of the rows (the support vectors'), so rows are computed lazily, like libsvm. Unlike libsvm,
the cache is **shared by all the binary problems** of a multi-class fit when it can hold every row:
a row holds the kernel of one training point against *every* training point, and each problem reads
the entries of its own points. One-vs-one pairs thus reuse each other's rows.

Two regimes, decided by ``cache_size`` (MB):

- **every row fits** (``n^2 * 8 bytes <= cache_size``): one cache for the whole fit; row ``g`` lives in
  slot ``g`` and is computed at most once. Rows computed one by one cost a matrix-vector product each,
  bound by memory bandwidth; a matrix-matrix product does the same work several times faster. So once
  ``batch_after`` rows have been needed (a sign that most will be), the next binary problem starts by
  filling all the missing rows at once (:meth:`KernelCache.maybe_fill`: one BLAS GEMM for the
  dot-product kernels, parallel loops for the histogram kernels).
- **LRU**: ``slots < n`` rows; on a miss the least recently used slot is recomputed. At least two slots,
  enough for one SMO step (``K_i`` is the most recent row when ``K_j`` is fetched, so it survives).
  Here full-length rows would waste work (a one-vs-one pair needs 2/K of each row), so ``SVC`` makes
  one cache per binary problem, over that problem's points only, as libsvm does.

State (all arrays, so Numba functions can update it in place):
``rows: (slots, n)``, ``slot_of: (n,)`` (-1 = not cached), ``row_in: (slots,)``, ``stamp: (slots,)``
last use, ``stats: (3,)`` = [clock, rows computed, 1 if the batch fill happened].
A precomputed matrix is a cache with every row present: ``rows = K``, ``slot_of = arange(n)``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .svm_kernels import KERNEL_CODE, kernel_diag, kernel_matrix, kernel_row

_MB = 2 ** 20


class KernelCache:
    """The cache's arrays and kernel parameters, built in Python and handed to the Numba solver."""

    def __init__(self, X: np.ndarray, kernel: str, gamma: float, coef0: float, degree: int,
                 cache_size_mb: float, batch_fraction: float = 0.1) -> None:
        n = X.shape[0]
        self.kernel = kernel
        code = KERNEL_CODE[kernel]
        self.X = np.require(X, np.float64, ["C", "W"])  # one Numba type: C-contiguous and writeable
        self.sq = np.einsum("ij,ij->i", self.X, self.X)
        self.code, self.gamma, self.coef0, self.degree = code, float(gamma), float(coef0), int(degree)
        fits = n * n * 8 <= cache_size_mb * _MB
        slots = n if fits else int(max(2, min(n, cache_size_mb * _MB // (8 * n))))
        self.rows = np.empty((slots, n))  # pages are touched only when a row is written
        self.slot_of = -np.ones(n, np.int64)
        self.row_in = -np.ones(slots, np.int64)
        self.stamp = np.zeros(slots, np.int64)
        self.stats = np.zeros(3, np.int64)
        self.batch_after = max(1, int(batch_fraction * n)) if fits else None  # never, in LRU mode

    @classmethod
    def from_matrix(cls, K: np.ndarray) -> "KernelCache":
        """Every row present: a precomputed (or callable-made) kernel matrix ``K: (n, n)``."""
        self = cls.__new__(cls)
        n = K.shape[0]
        self.X, self.sq = np.zeros((1, 1)), np.zeros(1)
        self.kernel, self.code, self.gamma, self.coef0, self.degree = "precomputed", 0, 0.0, 0.0, 0
        self.rows = np.require(K, np.float64, ["C", "W"])
        self.slot_of = np.arange(n, dtype=np.int64)
        self.row_in = np.arange(n, dtype=np.int64)
        self.stamp = np.zeros(n, np.int64)
        self.stats = np.zeros(3, np.int64)
        self.batch_after = None
        return self

    def diag(self) -> np.ndarray:
        """``(n,)`` the kernel of each point with itself (computed without the rest of the matrix)."""
        if self.X.shape[0] != self.rows.shape[1]:  # from_matrix
            return np.diag(self.rows).copy()
        return kernel_diag(self.code, self.X, self.sq, self.gamma, self.coef0, self.degree)

    @property
    def holds_every_row(self) -> bool:
        return self.rows.shape[0] == self.rows.shape[1]

    def maybe_fill(self) -> None:
        """Direct mode, once ``batch_after`` rows were needed: compute every missing row in one go.

        Called between binary problems, in Python: the matrix product is numpy's. (BLAS called from
        inside Numba is scipy's copy, with a second thread pool; the two pools fight over the cores.)
        """
        if self.batch_after is None or self.stats[1] < self.batch_after:
            return
        which = np.flatnonzero(self.slot_of < 0)
        if which.size:
            self.rows[which] = kernel_matrix(self.X[which], self.X, self.kernel, self.gamma, self.coef0, self.degree)
            self.slot_of[which] = which
            self.stats[1] += which.size
        self.stats[2] = 1

    def args(self) -> tuple:
        """The positional arguments that ``get_row`` (and the solver) take after the row index."""
        return (self.code, self.X, self.sq, self.gamma, self.coef0, self.degree, self.rows, self.slot_of,
                self.row_in, self.stamp, self.stats)


@njit(cache=True)
def get_row(g, code, X, sq, gamma, coef0, degree, rows, slot_of, row_in, stamp, stats):
    """Row ``g`` of the training kernel matrix, ``(n,)``, from the cache (computed on a miss)."""
    s = slot_of[g]
    if s < 0:
        if rows.shape[0] == slot_of.shape[0]:  # direct mode: row g in slot g
            kernel_row(code, X, g, sq, gamma, coef0, degree, rows[g])
            slot_of[g] = g
            stats[1] += 1
            s = g
        else:  # LRU: evict the least recently used slot
            s = 0
            for t in range(1, stamp.shape[0]):
                if stamp[t] < stamp[s]:
                    s = t
            if row_in[s] >= 0:
                slot_of[row_in[s]] = -1
            row_in[s] = g
            slot_of[g] = s
            kernel_row(code, X, g, sq, gamma, coef0, degree, rows[s])
            stats[1] += 1
    stats[0] += 1
    stamp[s] = stats[0]
    return rows[s]
