"""nn.init against torch.nn.init, statistically: for each initialiser, a two-sample Kolmogorov-Smirnov
test between minidl's draws and torch's on the same shape (fan conventions included), plus the exact
bound of the uniform ones. The samples are large (60,000 values), so a wrong scale, a fan_in/fan_out
swap or a wrong gain is rejected with p far below the threshold; seeds are fixed, so the test is
deterministic."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import minidl
import minidl.nn.init as minit

SHAPE = (300, 40, 5)  # (out, in, kernel): fan_in = 200, fan_out = 1500 -- unequal on purpose
P_MIN = 1e-3


def draws(name: str, shape: tuple[int, ...], **kw: object) -> tuple[np.ndarray, np.ndarray]:
    torch.manual_seed(0)
    minidl.manual_seed(0)
    t = getattr(torch.nn.init, name)(torch.empty(shape, dtype=torch.float64), **kw).numpy().ravel()
    m = getattr(minit, name)(minidl.zeros(shape, dtype=minidl.float64), **kw).numpy().ravel()
    return m, t


CASES = [
    ("uniform_", dict(a=-0.5, b=2.0)),
    ("normal_", dict(mean=1.0, std=0.3)),
    ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(nonlinearity="relu")),
    ("kaiming_normal_", dict(mode="fan_out", a=0.2)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_same_distribution_as_torch(name: str, kw: dict) -> None:
    m, t = draws(name, SHAPE, **kw)
    res = stats.ks_2samp(m, t)
    assert res.pvalue > P_MIN, f"{name}{kw}: KS statistic {res.statistic:.4f}, p = {res.pvalue:.2e}"
    assert abs(m.std() / t.std() - 1) < 0.02, f"{name}: std {m.std():.5f} vs torch {t.std():.5f}"
    if "uniform" in name:
        assert m.min() >= t.min() - 0.01 * abs(t.min()) and m.max() <= t.max() + 0.01 * abs(t.max())


def test_ks_rejects_a_fan_swap() -> None:
    """The test above can fail: fan_out instead of fan_in is detected."""
    m, _ = draws("kaiming_uniform_", SHAPE, mode="fan_out")
    _, t = draws("kaiming_uniform_", SHAPE, mode="fan_in")
    assert stats.ks_2samp(m, t).pvalue < 1e-10


def test_constant_zeros_ones_and_gain() -> None:
    w = minidl.empty(3, 4)
    assert (minit.constant_(w, 0.25).numpy() == 0.25).all()
    assert (minit.zeros_(w).numpy() == 0).all() and (minit.ones_(w).numpy() == 1).all()
    for nl, param in [("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("sigmoid", None), ("linear", None)]:
        assert minit.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param), rel=1e-15)
    with pytest.raises(ValueError):
        minit.xavier_uniform_(minidl.zeros(5))


def test_linear_default_init_matches_torch_distribution() -> None:
    torch.manual_seed(0)
    minidl.manual_seed(0)
    tw = np.concatenate([torch.nn.Linear(200, 300).weight.detach().numpy().ravel() for _ in range(2)])
    mw = np.concatenate([minidl.nn.Linear(200, 300).weight.detach().numpy().ravel() for _ in range(2)])
    assert stats.ks_2samp(mw, tw).pvalue > P_MIN
    bound = 1 / math.sqrt(200)
    assert np.abs(mw).max() <= bound and np.abs(mw).max() > 0.99 * bound
