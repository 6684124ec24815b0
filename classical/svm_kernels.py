"""Kernels for the SVM: the formulas, a readable NumPy reference, and the fast versions the solver uses.

Every kernel is a function k(x, z) of two feature vectors ``x, z: (d,)``; on sets of vectors
``X: (n, d)`` and ``Z: (m, d)`` it gives the Gram matrix ``K: (n, m)``, ``K[i, j] = k(X[i], Z[j])``.

========================  ==============================================  ========================
name                      k(x, z)                                         notes
========================  ==============================================  ========================
``'linear'``              x . z
``'rbf'``                 exp(-gamma ||x - z||^2)                         k(x, x) = 1
``'poly'``                (gamma x . z + coef0) ^ degree                  integer degree
``'sigmoid'``             tanh(gamma x . z + coef0)                       not positive semi-definite
``'intersection'``        sum_k min(x_k, z_k)                             histograms: x, z >= 0
``'chi2'``                exp(-gamma sum_k (x_k - z_k)^2 / (x_k + z_k))   histograms: x, z >= 0
========================  ==============================================  ========================

The first four are libsvm's (and scikit-learn's ``SVC``) with the same parameters. The last two are
the classical kernels for bag-of-words histograms (Swain & Ballard 1991; Zhang et al. 2007):

- **intersection** has no parameter; it is positive definite on non-negative vectors only.
- **chi2** is the *exponentiated* chi-squared kernel, the same variant as
  ``sklearn.metrics.pairwise.chi2_kernel``: the chi-squared distance
  ``D(x, z) = sum_k (x_k - z_k)^2 / (x_k + z_k)`` (a term with ``x_k = z_k = 0`` counts 0, the limit
  0/0 := 0) goes through ``exp(-gamma D)``, so ``gamma`` is an inverse distance scale exactly as in
  the rbf kernel. (This ``D`` has no factor 1/2; some papers define chi-squared with one.)

``gamma`` has scikit-learn's meaning for every kernel that uses it (:func:`resolve_gamma`):
``'scale'`` is ``1 / (n_features * X.var())`` (1.0 when ``X.var()`` is 0), ``'auto'`` is
``1 / n_features``, and a float is used as is; with one exception: for ``'chi2'``, ``'scale'`` is
``1 / mean chi2 distance`` between training points (Zhang et al. 2007), because the chi-squared
distance does not scale like a squared distance (see :func:`resolve_gamma`).

Speed: the four dot-product kernels are one BLAS matrix product plus an element-wise map. The two
histogram kernels have no matrix-product form, so they are Numba loops (rows in parallel), tested
against :func:`kernel_matrix_reference`.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

KERNELS: tuple[str, ...] = ("linear", "rbf", "poly", "sigmoid", "intersection", "chi2")
# integer codes, used inside the Numba solver
KERNEL_CODE: dict[str, int] = {name: i for i, name in enumerate(KERNELS)}
HISTOGRAM_KERNELS: tuple[str, ...] = ("intersection", "chi2")


def resolve_gamma(gamma: str | float, X: np.ndarray, kernel: str = "rbf") -> float:
    """``gamma`` as a number. ``X: (n, d)`` is the training data.

    scikit-learn's meaning, except ``'scale'`` for ``kernel='chi2'``: there it is ``1 / mean D(x, z)``
    over pairs of training points (at most 500 evenly spaced rows), the heuristic of Zhang et al. 2007.
    Why: a word present in only one of two histograms adds its whole value to D (not its square), so D
    grows like the L1 norm, about sqrt(#words) for L2-normalised histograms. scikit-learn's
    ``1 / (n_features * X.var())`` (about 1 there) then makes every off-diagonal kernel value ~exp(-20)
    and the SVM predicts at chance.
    """
    if isinstance(gamma, str):
        if gamma == "scale" and kernel == "chi2":
            rows = X[np.unique(np.linspace(0, X.shape[0] - 1, min(X.shape[0], 500)).astype(np.int64))]
            m = rows.shape[0]
            mean_d = chi2_distance_matrix(rows, rows).sum() / max(m * (m - 1), 1)
            return 1.0 / mean_d if mean_d > 0 else 1.0
        if gamma == "scale":
            var = float(X.var())
            return 1.0 / (X.shape[1] * var) if var != 0.0 else 1.0
        if gamma == "auto":
            return 1.0 / X.shape[1]
        raise ValueError(f"gamma must be 'scale', 'auto' or a non-negative float, got {gamma!r}")
    g = float(gamma)
    if not np.isfinite(g) or g < 0:
        raise ValueError(f"gamma must be 'scale', 'auto' or a non-negative float, got {gamma!r}")
    return g


# ---------------------------------------------------------------------------------------------
# Readable reference: the formulas, with broadcasting. Memory (n, m, d) per chunk; for tests.
# ---------------------------------------------------------------------------------------------
def kernel_matrix_reference(X: np.ndarray, Z: np.ndarray, kernel: str, gamma: float = 1.0,
                            coef0: float = 0.0, degree: int = 3) -> np.ndarray:
    """``K: (n, m)`` straight from the table in the module docstring. ``X: (n, d)``, ``Z: (m, d)``."""
    X = np.asarray(X, np.float64)
    Z = np.asarray(Z, np.float64)
    if kernel == "linear":
        return X @ Z.T
    if kernel == "rbf":
        sq = ((X[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
        return np.exp(-gamma * sq)
    if kernel == "poly":
        return (gamma * (X @ Z.T) + coef0) ** degree
    if kernel == "sigmoid":
        return np.tanh(gamma * (X @ Z.T) + coef0)
    if kernel == "intersection":
        return np.minimum(X[:, None, :], Z[None, :, :]).sum(-1)
    if kernel == "chi2":
        num = (X[:, None, :] - Z[None, :, :]) ** 2
        den = X[:, None, :] + Z[None, :, :]
        terms = np.divide(num, den, out=np.zeros_like(num), where=den != 0)  # 0/0 := 0
        return np.exp(-gamma * terms.sum(-1))
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


# ---------------------------------------------------------------------------------------------
# Fast versions
# ---------------------------------------------------------------------------------------------
# The histogram loops are sums over k: letting LLVM reassociate them (and nothing else: no
# finite-math or reciprocal shortcuts) vectorises the loop; the result changes only by rounding.
_REASSOC = {"reassoc", "contract"}


@njit(cache=True, parallel=True, fastmath=_REASSOC)
def _intersection_matrix(X: np.ndarray, Z: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = sum_k min(X[i, k], Z[j, k]).  X: (n, d), Z: (m, d), out: (n, m)."""
    n, d = X.shape
    m = Z.shape[0]
    for i in prange(n):
        for j in range(m):
            s = 0.0
            for k in range(d):
                a = X[i, k]
                b = Z[j, k]
                s += a if a < b else b
            out[i, j] = s


@njit(cache=True, parallel=True, fastmath=_REASSOC)
def _chi2_distance_matrix(X: np.ndarray, Z: np.ndarray, out: np.ndarray) -> None:
    """out[i, j] = sum_k (X[i,k] - Z[j,k])^2 / (X[i,k] + Z[j,k]), with 0/0 := 0."""
    n, d = X.shape
    m = Z.shape[0]
    for i in prange(n):
        for j in range(m):
            s = 0.0
            for k in range(d):
                a = X[i, k]
                b = Z[j, k]
                den = a + b
                diff = a - b
                # den == 0 only when a == b == 0 (inputs are >= 0): the numerator is 0 too.
                s += diff * diff / (den if den > 0.0 else 1.0)
            out[i, j] = s


def chi2_distance_matrix(X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """``D: (n, m)``, ``D[i, j] = sum_k (X[i,k] - Z[j,k])^2 / (X[i,k] + Z[j,k])`` (0/0 := 0); inputs >= 0."""
    out = np.empty((X.shape[0], Z.shape[0]))
    _chi2_distance_matrix(np.ascontiguousarray(X, np.float64), np.ascontiguousarray(Z, np.float64), out)
    return out


def _dot_kernel(dots: np.ndarray, sq_x: np.ndarray | None, sq_z: np.ndarray | None, kernel: str,
                gamma: float, coef0: float, degree: int) -> np.ndarray:
    """Map the dot products ``dots = X @ Z.T`` to the kernel, in place where possible."""
    if kernel == "linear":
        return dots
    if kernel == "rbf":
        # ||x - z||^2 = ||x||^2 + ||z||^2 - 2 x.z ; clamp the rounding error that can make it < 0
        dots *= -2.0
        dots += sq_x[:, None]
        dots += sq_z[None, :]
        np.maximum(dots, 0.0, out=dots)
        dots *= -gamma
        return np.exp(dots, out=dots)
    dots *= gamma
    dots += coef0
    if kernel == "poly":
        return dots ** degree
    return np.tanh(dots, out=dots)


def check_histograms(X: np.ndarray, kernel: str, what: str = "X") -> None:
    """The histogram kernels are defined (and positive definite) on non-negative inputs only."""
    if kernel in HISTOGRAM_KERNELS and X.size and X.min() < 0:
        raise ValueError(f"Negative values in data: kernel={kernel!r} needs non-negative features "
                         f"(histograms), but {what} {X.shape} has a minimum of {X.min():.4g}")


def kernel_matrix(X: np.ndarray, Z: np.ndarray, kernel: str, gamma: float = 1.0,
                  coef0: float = 0.0, degree: int = 3) -> np.ndarray:
    """Fast ``K: (n, m)``; ``X: (n, d)`` and ``Z: (m, d)`` float64. Agrees with the reference to rounding."""
    X = np.ascontiguousarray(X, np.float64)
    Z = np.ascontiguousarray(Z, np.float64)
    if kernel in ("linear", "rbf", "poly", "sigmoid"):
        sq_x = np.einsum("ij,ij->i", X, X) if kernel == "rbf" else None
        sq_z = np.einsum("ij,ij->i", Z, Z) if kernel == "rbf" else None
        return _dot_kernel(X @ Z.T, sq_x, sq_z, kernel, gamma, coef0, degree)
    out = np.empty((X.shape[0], Z.shape[0]))
    if kernel == "intersection":
        _intersection_matrix(X, Z, out)
    elif kernel == "chi2":
        _chi2_distance_matrix(X, Z, out)  # exp(-gamma D), in place
        out *= -gamma
        np.exp(out, out=out)
    else:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    return out


# ---------------------------------------------------------------------------------------------
# One row and the diagonal, for the solver's kernel cache (kernel given by its integer code)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def dot_to_kernel(code: int, dots: np.ndarray, sq_i: float, sq: np.ndarray, gamma: float, coef0: float,
                  degree: int, out: np.ndarray) -> None:
    """Dot-product kernels from the dot products ``dots[j] = x_i . x_j``: out[j] = k(x_i, x_j).

    ``sq_i = ||x_i||^2`` and ``sq: (n,)`` the squared norms (used by rbf only).
    """
    for j in range(dots.shape[0]):
        t = dots[j]
        if code == 0:
            out[j] = t
        elif code == 1:
            r = sq_i + sq[j] - 2.0 * t
            out[j] = np.exp(-gamma * (r if r > 0.0 else 0.0))
        elif code == 2:
            out[j] = (gamma * t + coef0) ** degree
        else:
            out[j] = np.tanh(gamma * t + coef0)


@njit(cache=True, fastmath=_REASSOC)
def kernel_row(code: int, X: np.ndarray, i: int, sq: np.ndarray, gamma: float, coef0: float,
               degree: int, out: np.ndarray) -> None:
    """out[j] = k(X[i], X[j]) for all j.  X: (n, d), sq: (n,) squared norms, out: (n,)."""
    n, d = X.shape
    if code <= 3:  # dot-product kernels. A plain loop, not BLAS: a matrix-vector product is bound by
        # memory anyway, and a multi-threaded BLAS call per row costs more than it saves.
        for j in range(n):
            t = 0.0
            for k in range(d):
                t += X[i, k] * X[j, k]
            out[j] = t
        dot_to_kernel(code, out, sq[i], sq, gamma, coef0, degree, out)
        return
    for j in range(n):
        s = 0.0
        if code == 4:
            for k in range(d):
                a = X[i, k]
                b = X[j, k]
                s += a if a < b else b
            out[j] = s
        else:
            for k in range(d):
                a = X[i, k]
                b = X[j, k]
                den = a + b
                diff = a - b
                s += diff * diff / (den if den > 0.0 else 1.0)
            out[j] = np.exp(-gamma * s)


@njit(cache=True)
def kernel_diag(code: int, X: np.ndarray, sq: np.ndarray, gamma: float, coef0: float,
                degree: int) -> np.ndarray:
    """k(X[i], X[i]) for all i, without computing any off-diagonal value.  Returns (n,)."""
    n = X.shape[0]
    out = np.empty(n)
    for i in range(n):
        if code == 0:
            out[i] = sq[i]
        elif code == 1 or code == 5:  # rbf and chi2: the distance to itself is 0
            out[i] = 1.0
        elif code == 2:
            out[i] = (gamma * sq[i] + coef0) ** degree
        elif code == 3:
            out[i] = np.tanh(gamma * sq[i] + coef0)
        else:
            out[i] = X[i].sum()
    return out
