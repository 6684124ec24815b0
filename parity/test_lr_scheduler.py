"""optim.lr_scheduler against torch.optim.lr_scheduler: lr by lr over 60 epochs on three parameter
groups with different lrs, combined with an optimiser, and state_dict round trips.

Tolerance: none. A scheduler is scalar Python-float arithmetic; minidl evaluates torch's formulas
(recursive, chainable forms included) in the same order, so every lr must be *equal* to torch's.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl.optim import lr_scheduler as msched
from parity.helpers import parity_optim

LRS = [0.1, 0.03, 1.0]  # one per parameter group

SCHEDULERS: list[tuple[str, dict[str, Any]]] = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 40])),  # 12 twice: gamma^2 there
    ("MultiStepLR", dict(milestones=[30, 2], gamma=0.7)),  # unsorted milestones
    ("ExponentialLR", dict(gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=10)),  # 60 epochs: three periods, through T_max and back up
    ("CosineAnnealingLR", dict(T_max=17, eta_min=0.005)),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda t: 1.0 / (1.0 + 10 * t / 60) ** 0.75)),  # the DANN schedule
    ("LambdaLR", dict(lr_lambda=[lambda t: 0.9 ** t, lambda t: min(1.0, (t + 1) / 5), lambda t: 1.0 + t % 3])),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items() if k != 'lr_lambda')}" for n, kw in SCHEDULERS]


def make(lib: Any, name: str, kw: dict[str, Any], opt_name: str = "SGD") -> tuple[Any, Any, list[Any]]:
    """Optimiser with three groups (lrs ``LRS``) and the scheduler, from ``torch`` or ``minidl``."""
    if lib is torch:
        params = [torch.nn.Parameter(torch.zeros(2)) for _ in LRS]
    else:
        params = [minidl.nn.Parameter(np.zeros(2)) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    opt = getattr(lib.optim, opt_name)(groups, lr=0.5)
    sched_module = torch.optim.lr_scheduler if lib is torch else msched
    return opt, getattr(sched_module, name)(opt, **kw), params


def advance(opt: Any, sched: Any, n: int) -> list[list[float]]:
    out = []
    for _ in range(n):
        opt.step()  # no gradients: a no-op, but the order torch expects
        sched.step()
        out.append(list(sched.get_last_lr()))
    return out


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=IDS)
def test_lr_by_lr_equals_torch(name: str, kw: dict) -> None:
    topt, tsched, _ = make(torch, name, kw)
    mopt, msch, _ = make(minidl, name, kw)
    assert msch.get_last_lr() == tsched.get_last_lr() == [g["lr"] for g in mopt.param_groups]
    assert [g["initial_lr"] for g in mopt.param_groups] == [g["initial_lr"] for g in topt.param_groups] == LRS
    for epoch in range(1, 61):
        t, m = advance(topt, tsched, 1)[0], advance(mopt, msch, 1)[0]
        assert m == t, f"{name} epoch {epoch}: lrs {m} != torch {t}"
        assert [g["lr"] for g in mopt.param_groups] == m
    assert msch.last_epoch == tsched.last_epoch == 60


@pytest.mark.parametrize("opt_name,opt_kw,state_keys", [
    ("SGD", dict(lr=0.1, momentum=0.9), ["momentum_buffer"]),
    ("Adam", dict(lr=0.05, amsgrad=True), ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
    ("RMSprop", dict(lr=0.01, centered=True), ["square_avg", "grad_avg"]),
])
@pytest.mark.parametrize("name,kw", [SCHEDULERS[i] for i in (0, 2, 4, 6, 8)], ids=[IDS[i] for i in (0, 2, 4, 6, 8)])
def test_with_an_optimiser(opt_name: str, opt_kw: dict, state_keys: list, name: str, kw: dict) -> None:
    # the lrs are compared after every step (exactly, in parity_optim); the float64 trajectory with the
    # optimiser's tolerance (see parity/test_optim.py for why these are not 0)
    parity_optim(getattr(torch.optim, opt_name), getattr(minidl.optim, opt_name), opt_kw, steps=30,
                 atol=1e-13, rtol=1e-12, state_keys=state_keys,
                 param_groups=[{"params": [0], "lr": 0.2}, {"params": [1]}],
                 scheduler=(getattr(torch.optim.lr_scheduler, name), getattr(msched, name), kw))


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=IDS)
def test_state_dict_round_trip(name: str, kw: dict) -> None:
    """After 23 epochs, rebuild optimiser and scheduler from scratch, load both state_dicts (optimiser
    first, as torch recommends), and continue: the lrs equal an uninterrupted run and torch's. The
    scheduler's state_dict itself equals torch's, key for key and value for value."""
    topt, tsched, _ = make(torch, name, kw)
    expected = advance(topt, tsched, 23)
    ts = tsched.state_dict()
    expected += advance(topt, tsched, 27)
    mopt, msch, _ = make(minidl, name, kw)
    first = advance(mopt, msch, 23)
    state_opt, state_sched = mopt.state_dict(), msch.state_dict()
    assert state_sched == ts, f"{name}: state_dict {state_sched} != torch's {ts}"
    mopt2, msch2, _ = make(minidl, name, kw)
    advance(mopt2, msch2, 4)  # a fresh run somewhere else: loading must overwrite all of it
    mopt2.load_state_dict(state_opt)
    msch2.load_state_dict(state_sched)
    assert msch2.get_last_lr() == first[-1]
    rest = advance(mopt2, msch2, 27)
    assert first + rest == expected


def test_state_dict_saves_callable_objects_settings_like_torch() -> None:
    class Warmup:
        def __init__(self, epochs: int) -> None:
            self.epochs = epochs

        def __call__(self, t: int) -> float:
            return min(1.0, (t + 1) / self.epochs)

    def plain(t: int) -> float:
        return 0.5 ** t

    topt, tsched, _ = make(torch, "LambdaLR", dict(lr_lambda=[Warmup(4), plain, lambda t: 1.0]))
    mopt, msch, _ = make(minidl, "LambdaLR", dict(lr_lambda=[Warmup(4), plain, lambda t: 1.0]))
    assert msch.state_dict()["lr_lambdas"] == tsched.state_dict()["lr_lambdas"] == [{"epochs": 4}, None, None]
    state = msch.state_dict()
    state["lr_lambdas"][0] = {"epochs": 10}
    msch.load_state_dict(state)
    tstate = tsched.state_dict()
    tstate["lr_lambdas"][0] = {"epochs": 10}
    tsched.load_state_dict(tstate)
    assert advance(mopt, msch, 12) == advance(topt, tsched, 12)


@pytest.mark.parametrize("name,kw", [s for s in SCHEDULERS if s[0] != "LambdaLR"],
                         ids=[i for i, s in zip(IDS, SCHEDULERS) if s[0] != "LambdaLR"])
def test_step_with_epoch_uses_the_closed_form_like_torch(name: str, kw: dict) -> None:
    topt, tsched, _ = make(torch, name, kw)
    mopt, msch, _ = make(minidl, name, kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (5, 12, 13, 40, 2):
            tsched.step(epoch)
            msch.step(epoch)
            assert msch.get_last_lr() == tsched.get_last_lr(), f"{name} step({epoch})"


def test_resuming_with_last_epoch_needs_initial_lr_like_torch() -> None:
    for lib, sched_module in ((torch, torch.optim.lr_scheduler), (minidl, msched)):
        p = torch.nn.Parameter(torch.zeros(1)) if lib is torch else minidl.nn.Parameter(np.zeros(1))
        opt = lib.optim.SGD([p], lr=0.1)
        with pytest.raises(KeyError):
            sched_module.StepLR(opt, step_size=2, last_epoch=5)
    # with initial_lr present, a scheduler built at last_epoch=k continues like torch's
    topt, _, _ = make(torch, "CosineAnnealingLR", dict(T_max=10))
    mopt, _, _ = make(minidl, "CosineAnnealingLR", dict(T_max=10))
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, last_epoch=4)
    msch = msched.CosineAnnealingLR(mopt, T_max=10, last_epoch=4)
    assert advance(mopt, msch, 20) == advance(topt, tsched, 20)


def test_bad_arguments_raise_like_torch() -> None:
    with pytest.raises(TypeError):
        torch.optim.lr_scheduler.StepLR("not an optimiser", step_size=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        msched.StepLR("not an optimiser", step_size=2)  # type: ignore[arg-type]
    for lib in (torch, minidl):
        opt, _, _ = make(lib, "ExponentialLR", dict(gamma=0.9))
        module = torch.optim.lr_scheduler if lib is torch else msched
        with pytest.raises(ValueError):
            module.LambdaLR(opt, lr_lambda=[lambda t: 1.0, lambda t: 1.0])  # three groups, two lambdas
