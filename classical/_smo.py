"""The SMO solver for the binary C-SVC dual: a readable NumPy reference and the Numba version.

The problem
-----------
Given ``n`` points with labels ``y_t in {+1, -1}``, a kernel matrix ``K: (n, n)`` and a box ``C``,
the soft-margin SVM dual is

    min_alpha  D(alpha) = 1/2 sum_{s,t} alpha_s alpha_t y_s y_t K_st - sum_t alpha_t
    s.t.       sum_t y_t alpha_t = 0,   0 <= alpha_t <= C.

The decision function is ``f(x) = sum_t y_t alpha_t k(x_t, x) + b``.

The quantity everything is written in
-------------------------------------
Let ``m_t = y_t - sum_s y_s alpha_s K_st`` (= ``-y_t * dD/dalpha_t``; at ``alpha = 0``, ``m = y``).
Moving ``alpha_t`` so that ``y_t alpha_t`` grows is allowed for ``t`` in
``I_up = {y = +1, alpha < C} u {y = -1, alpha > 0}``, and so that it shrinks for ``t`` in
``I_low = {y = +1, alpha > 0} u {y = -1, alpha < C}``. The KKT conditions say that ``alpha`` is
optimal iff some ``b`` satisfies ``m_t <= b`` on ``I_up`` and ``m_t >= b`` on ``I_low``, that is iff

    max_{I_up} m  <=  min_{I_low} m.

SMO stops when the *maximal violating pair* gap ``max_{I_up} m - min_{I_low} m`` is below ``tol``
(libsvm's ``eps``, scikit-learn's ``tol``): the solution is optimal to O(tol), not exactly.

One step (two variables)
------------------------
Pick ``i in I_up``, ``j in I_low`` with ``m_i > m_j`` and move along the direction that keeps
``sum y alpha`` fixed: ``alpha_i += y_i s``, ``alpha_j -= y_j s``, ``s >= 0``. Along it

    D(s) = D(0) - s (m_i - m_j) + 1/2 s^2 a_ij,     a_ij = K_ii + K_jj - 2 K_ij = ||phi_i - phi_j||^2,

minimised at ``s = (m_i - m_j) / a_ij`` and clipped so both alphas stay in ``[0, C]``. The objective
then drops by ``(m_i - m_j)^2 / (2 a_ij)`` (unclipped). Every ``m_t`` changes by
``-s (K_it - K_jt)``: one step needs the two kernel rows ``K_i`` and ``K_j``, nothing else.

Working-set selection (second order; Fan, Chen & Lin, JMLR 2005, "WSS 3", as in libsvm)
-----------------------------------------------------------------------------------------
``i = argmax_{I_up} m`` (the first-order choice), then ``j = argmax`` over ``t in I_low`` with
``m_t < m_i`` of the predicted decrease ``(m_i - m_t)^2 / a_it``. If ``a_it <= 0`` (a kernel that is
not positive semi-definite, such as sigmoid) it is replaced by ``tau = 1e-12``, as libsvm does, so the
step is then a long one cut by the box.

Bias
----
At the optimum ``m_t = b`` for every free ``t`` (``0 < alpha_t < C``), so ``b`` is their mean; with no
free variable, ``b`` is the middle of the interval ``[max_{I_up} m, min_{I_low} m]``.

Kernel cache
------------
The Numba solver reads kernel rows through the cache of ``classical/_kernel_cache.py`` (computed on
first use, shared by the binary problems of one fit, LRU when they do not all fit in ``cache_size``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernel_cache import get_row

TAU = 1e-12  # replaces a non-positive curvature a_ij


def default_max_iter(n: int) -> int:
    """Iteration cap when the user gives ``max_iter=-1``: libsvm's ``max(10^7, 100 n)`` safeguard."""
    return max(10_000_000, 100 * n)


def dual_objective(alpha: np.ndarray, y: np.ndarray, K: np.ndarray) -> float:
    """``D(alpha) = 1/2 (y*alpha)^T K (y*alpha) - sum(alpha)``."""
    c = y * alpha
    return float(0.5 * c @ K @ c - alpha.sum())


def _bias(alpha: np.ndarray, y: np.ndarray, m: np.ndarray, C: float) -> float:
    free = (alpha > 0) & (alpha < C)
    if free.any():
        return float(m[free].mean())
    up = ((y > 0) & (alpha < C)) | ((y < 0) & (alpha > 0))
    low = ((y > 0) & (alpha > 0)) | ((y < 0) & (alpha < C))
    hi = m[up].max() if up.any() else m[low].min()
    lo = m[low].min() if low.any() else m[up].max()
    return float((hi + lo) / 2)


def smo_reference(K: np.ndarray, y: np.ndarray, C: float, tol: float = 1e-3,
                  max_iter: int = -1) -> tuple[np.ndarray, float, int]:
    """Readable SMO on a full kernel matrix ``K: (n, n)``, labels ``y: (n,)`` in {+1, -1}.

    Returns ``(alpha: (n,), b, n_iter)``. Same algorithm as :func:`smo_solve`, in NumPy.
    """
    y = np.asarray(y, np.float64)
    n = y.shape[0]
    alpha = np.zeros(n)
    m = y.copy()
    diag = np.diag(K).copy()
    cap = default_max_iter(n) if max_iter is None or max_iter < 0 else max_iter
    it = 0
    while it < cap:
        up = ((y > 0) & (alpha < C)) | ((y < 0) & (alpha > 0))
        low = ((y > 0) & (alpha > 0)) | ((y < 0) & (alpha < C))
        # argmax with ties going to the last index (libsvm's order, so both paths coincide)
        i = n - 1 - int(np.argmax(np.where(up, m, -np.inf)[::-1]))
        gap_terms = m[i] - m                                  # > 0 for the candidates j
        cand = low & (gap_terms > 0)
        if not up.any() or not cand.any() or m[i] - m[low].min() < tol:
            break
        a = np.maximum(diag[i] + diag - 2.0 * K[i], 0.0)
        a = np.where(a > 0, a, TAU)
        j = n - 1 - int(np.argmax(np.where(cand, gap_terms ** 2 / a, -np.inf)[::-1]))
        # the step along (alpha_i += y_i s, alpha_j -= y_j s), clipped to the box
        s = (m[i] - m[j]) / a[j]
        lim_i = C - alpha[i] if y[i] > 0 else alpha[i]
        lim_j = alpha[j] if y[j] > 0 else C - alpha[j]
        s = min(s, lim_i, lim_j)
        alpha[i] += y[i] * s
        alpha[j] -= y[j] * s
        if s == lim_i:   # land exactly on the bound
            alpha[i] = C if y[i] > 0 else 0.0
        if s == lim_j:
            alpha[j] = 0.0 if y[j] > 0 else C
        m -= s * (K[i] - K[j])
        it += 1
    return alpha, _bias(alpha, y, m, C), it


# ---------------------------------------------------------------------------------------------
# Numba version
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def smo_solve(idx, y, C, tol, max_iter, diag, code, X, sq, gamma, coef0, degree, rows, slot_of, row_in,
              stamp, stats):
    """Numba SMO on the training points ``idx: (n,)``. Returns ``(alpha: (n,), b, n_iter)``.

    ``y: (n,)`` float64 in {+1, -1}; ``diag: (N,)`` the kernel diagonal of all N training points;
    the rest is the shared kernel cache (``classical/_kernel_cache.py``, ``KernelCache.args()``):
    kernel rows have length N and this problem reads their entries ``idx``.
    """
    n = idx.shape[0]
    alpha = np.zeros(n)
    m = y.copy()
    dg = np.empty(n)
    for t in range(n):
        dg[t] = diag[idx[t]]
    it = 0
    while it < max_iter:
        # i: the most violating index in I_up
        i = -1
        m_up = -np.inf
        for t in range(n):
            if (y[t] > 0.0 and alpha[t] < C) or (y[t] < 0.0 and alpha[t] > 0.0):
                if m[t] >= m_up:  # ties: the last index wins (libsvm's order)
                    m_up = m[t]
                    i = t
        if i < 0:
            break
        Ki = get_row(idx[i], code, X, sq, gamma, coef0, degree, rows, slot_of, row_in, stamp, stats)
        # j: the largest second-order decrease over I_low; also min_{I_low} m for the stopping test
        j = -1
        best = -1.0
        m_low = np.inf
        for t in range(n):
            if (y[t] > 0.0 and alpha[t] > 0.0) or (y[t] < 0.0 and alpha[t] < C):
                if m[t] < m_low:
                    m_low = m[t]
                g = m_up - m[t]
                if g > 0.0:
                    a = dg[i] + dg[t] - 2.0 * Ki[idx[t]]
                    if a <= 0.0:
                        a = TAU
                    if g * g / a >= best:
                        best = g * g / a
                        j = t
        if j < 0 or m_up - m_low < tol:
            break
        Kj = get_row(idx[j], code, X, sq, gamma, coef0, degree, rows, slot_of, row_in, stamp, stats)
        a = dg[i] + dg[j] - 2.0 * Ki[idx[j]]
        if a <= 0.0:
            a = TAU
        s = (m_up - m[j]) / a
        lim_i = C - alpha[i] if y[i] > 0.0 else alpha[i]
        lim_j = alpha[j] if y[j] > 0.0 else C - alpha[j]
        if lim_i < s:
            s = lim_i
        if lim_j < s:
            s = lim_j
        alpha[i] += y[i] * s
        alpha[j] -= y[j] * s
        if s == lim_i:
            alpha[i] = C if y[i] > 0.0 else 0.0
        if s == lim_j:
            alpha[j] = 0.0 if y[j] > 0.0 else C
        for t in range(n):
            u = idx[t]
            m[t] -= s * (Ki[u] - Kj[u])
        it += 1
    # bias: the mean of m over the free variables, else the middle of [max_{I_up} m, min_{I_low} m]
    n_free = 0
    b_sum = 0.0
    hi = -np.inf
    lo = np.inf
    for t in range(n):
        if 0.0 < alpha[t] < C:
            n_free += 1
            b_sum += m[t]
        else:
            if (y[t] > 0.0 and alpha[t] < C) or (y[t] < 0.0 and alpha[t] > 0.0):
                hi = max(hi, m[t])
            if (y[t] > 0.0 and alpha[t] > 0.0) or (y[t] < 0.0 and alpha[t] < C):
                lo = min(lo, m[t])
    if n_free > 0:
        b = b_sum / n_free
    else:
        if hi == -np.inf:
            hi = lo
        if lo == np.inf:
            lo = hi
        b = 0.5 * (hi + lo)
    return alpha, b, it
