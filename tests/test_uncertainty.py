"""minidl.uncertainty on hand-made probability tables, and AUPR/AUROC against scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.uncertainty import (average_precision, bootstrap_interval, check_probabilities, entropy,
                                mutual_information, precision_recall_curve, predictive_entropy, roc_auc,
                                var_ratio)

LOG2, LOG3 = np.log(2), np.log(3)


def table() -> np.ndarray:
    """T = 4 passes, N = 3 inputs, C = 3 classes, values chosen by hand:
    input 0: every pass sure of class 0          -> var-ratio 0, entropy 0, MI 0
    input 1: every pass says (1/2, 1/2, 0)       -> var-ratio 0 (ties go to the first class), H = log 2, MI 0
    input 2: passes sure of 0, 1, 2, 0           -> votes (2, 1, 1): var-ratio 1/2; p_bar = (1/2, 1/4, 1/4),
                                                   H = (3/2) log 2, each pass H = 0, so MI = (3/2) log 2."""
    e = np.eye(3)
    return np.stack([
        np.stack([e[0], [0.5, 0.5, 0.0], e[0]]),
        np.stack([e[0], [0.5, 0.5, 0.0], e[1]]),
        np.stack([e[0], [0.5, 0.5, 0.0], e[2]]),
        np.stack([e[0], [0.5, 0.5, 0.0], e[0]]),
    ])


def test_measures_on_a_hand_made_table() -> None:
    t = table()
    np.testing.assert_allclose(var_ratio(t), [0, 0, 0.5], atol=1e-15)
    np.testing.assert_allclose(predictive_entropy(t), [0, LOG2, 1.5 * LOG2], atol=1e-15)
    np.testing.assert_allclose(mutual_information(t), [0, 0, 1.5 * LOG2], atol=1e-15)


def test_uniform_and_disagreeing_passes() -> None:
    u = np.full((5, 1, 3), 1 / 3)                                 # every pass uniform: aleatoric only
    np.testing.assert_allclose(predictive_entropy(u), [LOG3], rtol=1e-12)
    np.testing.assert_allclose(mutual_information(u), [0], atol=1e-12)
    d = np.eye(3)[[0, 1, 2]][:, None, :]                          # 3 passes, each sure of another class
    np.testing.assert_allclose(mutual_information(d), [LOG3], rtol=1e-12)  # all of it epistemic
    np.testing.assert_allclose(var_ratio(d), [2 / 3], rtol=1e-12)


def test_entropy_matches_scipy() -> None:
    from scipy.stats import entropy as sp_entropy
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), size=20)
    np.testing.assert_allclose(entropy(p), sp_entropy(p, axis=1), rtol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (np.array([[[0.5, 0.6]]]), r"\(1, 1, 2\).*row \(0, 0\) sums to 1.1"),
    (np.array([[[np.nan, 1.0]]]), r"\(1, 1, 2\) contains NaN"),
    (np.array([[[1.5, -0.5]]]), r"\(1, 1, 2\) has values outside"),
])
def test_bad_tables_are_refused_naming_the_shape(bad: np.ndarray, match: str) -> None:
    for fn in (var_ratio, predictive_entropy, mutual_information):
        with pytest.raises(ValueError, match=match):
            fn(bad)


def test_mc_tables_must_be_three_dimensional() -> None:
    with pytest.raises(ValueError, match=r"\(T passes, N inputs, C classes\), got shape \(2, 3\)"):
        var_ratio(np.full((2, 3), 1 / 3))
    assert check_probabilities(np.float32([0.2, 0.8])).dtype == np.float64


@pytest.mark.parametrize("seed", range(4))
def test_aupr_and_auroc_match_sklearn(seed: int) -> None:
    from sklearn.metrics import average_precision_score, precision_recall_curve as sk_prc, roc_auc_score
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.2
    s = rng.normal(size=300) + 1.2 * y
    if seed % 2:
        s = np.round(s, 1)                                      # ties
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s), rel=1e-12)
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    p, r, thr = precision_recall_curve(s, y)
    p_sk, r_sk, thr_sk = sk_prc(y, s)
    # sklearn returns increasing thresholds with a final (P = 1, R = 0) point; ours run from the top down
    keep = r_sk[:-1] > 0
    np.testing.assert_allclose(p[::-1][: keep.sum()], p_sk[:-1][keep], rtol=1e-12)
    np.testing.assert_allclose(r[::-1][: keep.sum()], r_sk[:-1][keep], rtol=1e-12)


def test_perfect_and_inverted_detectors() -> None:
    y = np.array([0, 0, 1, 1])
    assert average_precision([0.1, 0.2, 0.8, 0.9], y) == 1.0 and roc_auc([0.1, 0.2, 0.8, 0.9], y) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], y) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], y) == 0.5 and average_precision([0.5] * 4, y) == 0.5


def test_bad_detector_inputs() -> None:
    with pytest.raises(ValueError, match="single class"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        average_precision([0.1, 0.2, 0.3], [0, 1])


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(200), np.ones(40)]
    s = rng.normal(size=240) + 2 * y
    lo, hi = bootstrap_interval(roc_auc, s, y, n_boot=300)
    assert lo < roc_auc(s, y) < hi and hi - lo < 0.2
