"""Uncertainty measures and the scores' evaluation (course 4-c), on plain NumPy arrays.

Monte Carlo predictions come as ``mc_probs: (T, N, C)``: T stochastic forward passes (MC dropout), N
inputs, C classes, each row a probability vector. With p_bar = (1/T) sum_t p_t the predictive mean:

- var-ratio             1 - f_mode / T, f_mode = how many of the T passes voted for the most voted class;
- predictive entropy    H[p_bar] = -sum_c p_bar_c log p_bar_c     (total uncertainty);
- mutual information    H[p_bar] - (1/T) sum_t H[p_t]              (epistemic part: disagreement between
                        the passes; >= 0 by Jensen, since H is concave).

Entropies are in nats (natural log), with 0 log 0 = 0.

Scores are judged as detectors: ``average_precision`` (AUPR, sklearn's step-wise definition, no
interpolation) and ``roc_auc`` (the area under the ROC curve, ties counted half), with the POSITIVE class
being what we want to detect (an error in failure prediction, an out-of-distribution input in OOD
detection) and a HIGHER score meaning "more likely positive".
"""
from __future__ import annotations

from typing import Callable

import numpy as np

SUM_TOL = 1e-4  # a row must sum to one within this: float32 softmax rows are off by ~C * 6e-8


def check_probabilities(p: np.ndarray, name: str = "probabilities") -> np.ndarray:
    """``p`` as float64 after checking that it holds probability vectors along its last axis:
    finite, in [0, 1], each summing to one. Raises ValueError naming the shape and the first bad row."""
    a = np.asarray(p, dtype=np.float64)
    if a.ndim < 1 or a.shape[-1] < 1:
        raise ValueError(f"{name}: expected probability vectors along the last axis, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        idx = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{name} of shape {a.shape} contains NaN or inf (first at index {tuple(idx.tolist())})")
    if a.min() < 0 or a.max() > 1 + SUM_TOL:
        idx = np.argwhere((a < 0) | (a > 1 + SUM_TOL))[0]
        raise ValueError(f"{name} of shape {a.shape} has values outside [0, 1] (first at index "
                         f"{tuple(idx.tolist())}: {a[tuple(idx)]})")
    err = np.abs(a.sum(-1) - 1)
    if err.max() > SUM_TOL:
        idx = np.unravel_index(np.argmax(err), err.shape)
        raise ValueError(f"{name} of shape {a.shape}: the rows along the last axis must sum to one, but row "
                         f"{tuple(int(i) for i in idx)} sums to {a[idx].sum():.6g}")
    return a


def _mc(mc_probs: np.ndarray) -> np.ndarray:
    a = check_probabilities(mc_probs, "mc_probs")
    if a.ndim != 3:
        raise ValueError(f"mc_probs must be (T passes, N inputs, C classes), got shape {a.shape}")
    return a


def entropy(probs: np.ndarray) -> np.ndarray:
    """-sum_c p_c log p_c along the last axis (nats): (...,)."""
    p = check_probabilities(probs)
    return -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)


def var_ratio(mc_probs: np.ndarray) -> np.ndarray:
    """1 - f_mode / T for ``mc_probs: (T, N, C)``: (N,). 0 when every pass votes alike."""
    a = _mc(mc_probs)
    T, N, C = a.shape
    votes = np.zeros((N, C), np.int64)
    np.add.at(votes, (np.arange(N)[None, :].repeat(T, 0), a.argmax(-1)), 1)
    return 1.0 - votes.max(-1) / T


def predictive_entropy(mc_probs: np.ndarray) -> np.ndarray:
    """H[p_bar] for ``mc_probs: (T, N, C)``: (N,)."""
    return entropy(_mc(mc_probs).mean(0))


def mutual_information(mc_probs: np.ndarray) -> np.ndarray:
    """H[p_bar] - mean_t H[p_t] for ``mc_probs: (T, N, C)``: (N,); clipped at 0 against rounding."""
    a = _mc(mc_probs)
    return np.maximum(entropy(a.mean(0)) - entropy(a).mean(0), 0.0)


# --------------------------------------------------------------------------- scores as detectors
def _binary(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {np.shape(scores)} and labels {np.shape(labels)} must have the same length")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores of shape {np.shape(scores)} contain NaN or inf")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"labels of shape {np.shape(labels)} must be 0/1 (or bool)")
    y = y.astype(np.float64)
    if y.sum() == 0 or y.sum() == len(y):
        raise ValueError(f"labels of shape {np.shape(labels)} hold a single class: the curves are undefined")
    return s, y


def _counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when thresholding at each distinct score, from the highest down."""
    s, y = _binary(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]       # last index of each group of tied scores
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return tps, fps, s[last]


def precision_recall_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds), thresholds decreasing; recall rises from the first threshold."""
    tps, fps, thr = _counts(scores, labels)
    return tps / (tps + fps), tps / tps[-1], thr


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUPR as sum_k (R_k - R_{k-1}) P_k over the thresholds (sklearn's average_precision_score)."""
    precision, recall, _ = precision_recall_curve(scores, labels)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate), starting at (0, 0)."""
    tps, fps, _ = _counts(scores, labels)
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids: a tied positive/negative pair counts one half)."""
    fpr, tpr = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def bootstrap_interval(metric: Callable[[np.ndarray, np.ndarray], float], scores: np.ndarray, labels: np.ndarray,
                       n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(scores, labels)``, resampling positives and negatives
    separately (stratified), so that every resample keeps the same class counts."""
    s, y = _binary(scores, labels)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        vals[b] = metric(s[idx], y[idx])
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


__all__ = ["average_precision", "bootstrap_interval", "check_probabilities", "entropy", "mutual_information",
           "precision_recall_curve", "predictive_entropy", "roc_auc", "roc_curve", "var_ratio"]
