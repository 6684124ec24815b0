"""optim.Adagrad and optim.NAdam against torch.optim: option combinations, 25 steps, parameters and
internal state (step, sum / mu_product, exp_avg, exp_avg_sq) after every step, parameter groups,
state_dict round trips; and the optimiser constructor refusing a bare tensor (TypeError, as torch).

Tolerances: as parity/test_optim.py explains, torch's CPU kernels fuse a + b * c into one FMA and use
a vectorised sqrt, NumPy rounds each operation: a few ulps per step. float64: rtol 1e-12, atol 1e-13
(the same bound as Adam/RMSprop; measured worst over a wider grid of 80 combinations: 1.4e-14 absolute).
float32: rtol 1e-5, atol 1e-6 (measured worst: 3.8e-6 absolute on parameters of order 10, i.e. a few
float32 ulps).
NAdam's mu_product is a float32 scalar in torch (its default scalar dtype); minidl rounds it the same
way, so it is compared at the parameter tolerance.
"""
from __future__ import annotations

import itertools


import numpy as np
import pytest
import torch

import minidl
from parity.helpers import assert_close, parity_optim

SHAPES = ((4, 3), (3,), (6, 7))
F64 = dict(atol=1e-13, rtol=1e-12)
F32 = dict(atol=1e-6, rtol=1e-5)
STATE = {"Adagrad": ["step", "sum"], "NAdam": ["step", "mu_product", "exp_avg", "exp_avg_sq"]}


def _ids(kw: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kw.items())


def combos() -> list[tuple[str, dict]]:
    # eps and maximize vary together (each pair once) to keep the grid small: 16 + 24 combinations
    ada = [("Adagrad", dict(lr=0.1, lr_decay=ld, weight_decay=wd, initial_accumulator_value=iav, eps=eps,
                            maximize=mx))
           for ld, wd, iav, (eps, mx) in itertools.product([0.0, 0.05], [0.0, 0.1], [0.0, 0.3],
                                                           [(1e-10, False), (0.1, True)])]
    nadam = [("NAdam", dict(lr=0.05, betas=b, eps=eps, weight_decay=wd, momentum_decay=md, decoupled_weight_decay=dw,
                            maximize=mx))
             for b, (eps, mx), (wd, dw), md in itertools.product(
                 [(0.9, 0.999), (0.5, 0.9)], [(1e-8, False), (0.1, True)], [(0.0, False), (0.1, False), (0.1, True)],
                 [4e-3, 0.1])]
    return ada + nadam


@pytest.mark.parametrize("name,kw", combos(), ids=[f"{n}-{_ids(k)}" for n, k in combos()])
def test_optimiser_float64(name: str, kw: dict) -> None:
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), kw, steps=25, shapes=SHAPES,
                 state_keys=STATE[name], **F64)


@pytest.mark.parametrize("name,kw", [("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
                                     ("NAdam", dict(lr=0.02, weight_decay=0.05)), ("Adagrad", {}), ("NAdam", {})])
def test_optimiser_float32_and_defaults(name: str, kw: dict) -> None:
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), kw, steps=25, shapes=SHAPES,
                 dtype=np.float32, state_keys=STATE[name], **F32)


@pytest.mark.parametrize("name", ["Adagrad", "NAdam"])
def test_param_groups_and_schedulers(name: str) -> None:
    groups = [{"params": [0, 2], "lr": 0.05}, {"params": [1], "weight_decay": 0.2}]
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), {"lr": 0.1}, steps=20, shapes=SHAPES,
                 param_groups=groups, state_keys=STATE[name], **F64)
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), {"lr": 0.1}, steps=20, shapes=SHAPES,
                 scheduler=(torch.optim.lr_scheduler.ExponentialLR, minidl.optim.lr_scheduler.ExponentialLR,
                            {"gamma": 0.9}), state_keys=STATE[name], **F64)


def test_adagrad_state_exists_from_construction_like_torch() -> None:
    tp, mp = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64)), minidl.nn.Parameter(np.zeros(3))
    t_opt = torch.optim.Adagrad([tp], initial_accumulator_value=0.5)
    m_opt = minidl.optim.Adagrad([mp], initial_accumulator_value=0.5)
    t_sd, m_sd = t_opt.state_dict(), m_opt.state_dict()
    assert list(m_sd["state"]) == list(t_sd["state"]) == [0]
    assert sorted(m_sd["state"][0]) == sorted(t_sd["state"][0]) == ["step", "sum"]
    assert_close(m_sd["state"][0]["sum"], t_sd["state"][0]["sum"], atol=0, rtol=0, what="initial sum")
    assert sorted(k for k in m_sd["param_groups"][0] if k != "params") == \
        sorted(k for k in t_sd["param_groups"][0] if k not in ("params", "foreach", "differentiable", "fused"))


@pytest.mark.parametrize("name,kw", [("Adagrad", dict(lr=0.1, lr_decay=0.05)), ("NAdam", dict(lr=0.05))])
def test_state_dict_round_trip_continues_identically(name: str, kw: dict) -> None:
    rng = np.random.default_rng(0)
    init = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(10)]

    def run(split: bool) -> list[np.ndarray]:
        ps = [minidl.nn.Parameter(a.copy()) for a in init]
        opt = getattr(minidl.optim, name)(ps, **kw)
        for k, gs in enumerate(grads):
            if split and k == 5:
                saved = opt.state_dict()
                ps = [minidl.nn.Parameter(p._data.copy()) for p in ps]
                opt = getattr(minidl.optim, name)(ps, **kw)
                opt.load_state_dict(saved)
            for p, g in zip(ps, gs):
                p.grad = minidl.tensor(g.copy())
            opt.step()
        return [p._data for p in ps]
    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam"])
def test_a_bare_tensor_is_refused_with_type_error_like_torch(name: str) -> None:
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        getattr(torch.optim, name)(torch.zeros(3, 2, requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        getattr(minidl.optim, name)(minidl.zeros(3, 2, requires_grad=True), lr=0.1)
    getattr(minidl.optim, name)([minidl.zeros(3, 2, requires_grad=True)], lr=0.1)  # a list is fine


@pytest.mark.parametrize("name,kw", [("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)),
                                     ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
                                     ("NAdam", dict(betas=(1.0, 0.9))), ("NAdam", dict(momentum_decay=-1)),
                                     ("NAdam", dict(weight_decay=-1))])
def test_invalid_options_raise_value_error_like_torch(name: str, kw: dict) -> None:
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError):
        getattr(minidl.optim, name)([minidl.zeros(2, requires_grad=True)], **kw)


