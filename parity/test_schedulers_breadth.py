"""LinearLR, SequentialLR, CosineAnnealingWarmRestarts, OneCycleLR, ReduceLROnPlateau against torch:
lr by lr (and momentum / beta1 by momentum for OneCycleLR) on three parameter groups, with an optimiser,
state_dict round trips, and the constructors' errors.

Tolerance: none. Schedulers are Python-float arithmetic evaluated in torch's order: every lr must be
*equal* to torch's.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from minidl.optim import lr_scheduler as msched
from parity.helpers import parity_optim

LRS = [0.1, 0.03, 1.0]


def sched_module(lib: Any) -> Any:
    return torch.optim.lr_scheduler if lib is torch else msched


def make_opt(lib: Any, opt_name: str = "SGD", **opt_kw: Any) -> Any:
    params = ([torch.nn.Parameter(torch.zeros(2)) for _ in LRS] if lib is torch
              else [minidl.nn.Parameter(np.zeros(2, dtype=np.float32)) for _ in LRS])
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    return getattr(lib.optim, opt_name)(groups, **({"lr": 0.5} | opt_kw))


BUILDERS: dict[str, Callable[[Any, Any], Any]] = {
    "LinearLR": lambda S, o: S.LinearLR(o),
    "LinearLR-decay": lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=17),
    "LinearLR-warmup": lambda S, o: S.LinearLR(o, start_factor=0.01, total_iters=9),
    "Warm-Restarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=7),
    "Warm-Restarts-mult": lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    "OneCycle-cos": lambda S, o: S.OneCycleLR(o, max_lr=[0.3, 0.2, 2.0], total_steps=60),
    "OneCycle-linear-3phase": lambda S, o: S.OneCycleLR(o, max_lr=0.4, epochs=6, steps_per_epoch=10,
                                                        anneal_strategy="linear", three_phase=True, pct_start=0.25),
    "OneCycle-no-momentum": lambda S, o: S.OneCycleLR(o, max_lr=0.4, total_steps=61, cycle_momentum=False,
                                                      div_factor=10.0, final_div_factor=100.0),
    "Sequential-warmup-cosine": lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
}
BUILDERS["Sequential-three"] = lambda S, o: S.SequentialLR(
    o, [S.ExponentialLR(o, gamma=0.8), S.ExponentialLR(o, gamma=0.9), S.StepLR(o, step_size=4)], milestones=[10, 25])


def momentum_of(opt: Any) -> list[Any]:
    return [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_lr_by_lr_equals_torch(name: str, opt_name: str) -> None:
    opts = {lib: make_opt(lib, opt_name, **({"momentum": 0.9} if opt_name == "SGD" else {})) for lib in (torch, minidl)}
    scheds = {lib: BUILDERS[name](sched_module(lib), opts[lib]) for lib in (torch, minidl)}
    assert scheds[minidl].get_last_lr() == scheds[torch].get_last_lr()
    for epoch in range(1, 61):
        for lib in (torch, minidl):
            opts[lib].step()
            scheds[lib].step()
        t, m = scheds[torch].get_last_lr(), scheds[minidl].get_last_lr()
        assert m == t, f"{name} epoch {epoch}: lrs {m} != torch {t}"
        assert [g["lr"] for g in opts[minidl].param_groups] == [g["lr"] for g in opts[torch].param_groups]
        assert momentum_of(opts[minidl]) == momentum_of(opts[torch]), f"{name} epoch {epoch}: momentum"
    assert scheds[minidl].last_epoch == scheds[torch].last_epoch


def test_one_cycle_past_total_steps_raises_like_torch() -> None:
    for lib in (torch, minidl):
        opt = make_opt(lib, momentum=0.9)
        sched = sched_module(lib).OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times"):
            sched.step()


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", factor=0.5, patience=2, threshold=0.05),
                                dict(threshold_mode="abs", threshold=0.02, patience=1, cooldown=3),
                                dict(factor=0.3, patience=0, min_lr=[0.05, 0.001, 0.5]),
                                dict(factor=0.5, patience=1, min_lr=0.02, eps=0.01)])
def test_reduce_lr_on_plateau(kw: dict) -> None:
    """The metric: noisy improvement that stalls, then worsens; the lr of every group after each epoch."""
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 15), np.full(15, 0.5), np.linspace(0.5, 0.9, 20)])
    metrics = metrics + rng.normal(scale=0.01, size=metrics.size)
    if kw.get("mode") == "max":
        metrics = -metrics
    opts = {lib: make_opt(lib) for lib in (torch, minidl)}
    scheds = {lib: sched_module(lib).ReduceLROnPlateau(opts[lib], **kw) for lib in (torch, minidl)}
    lrs_seen = set()
    for epoch, value in enumerate(metrics):
        for lib in (torch, minidl):
            opts[lib].step()
            scheds[lib].step(float(value))
        t, m = scheds[torch].get_last_lr(), scheds[minidl].get_last_lr()
        assert m == t, f"epoch {epoch}: {m} != torch {t}"
        lrs_seen.add(tuple(m))
        for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(scheds[minidl], key) == getattr(scheds[torch], key), f"epoch {epoch}: {key}"
    assert len(lrs_seen) > 1, "the test must actually reduce the lr"
    ms, ts = scheds[minidl].state_dict(), scheds[torch].state_dict()
    assert set(ms) == set(ts) and all(ms[k] == ts[k] for k in ts)


def test_reduce_lr_on_plateau_state_dict_round_trip() -> None:
    opt = make_opt(minidl)
    s = msched.ReduceLROnPlateau(opt, patience=1)
    for v in (1.0, 0.9, 0.95, 0.97):
        s.step(v)
    saved = s.state_dict()
    s2 = msched.ReduceLROnPlateau(make_opt(minidl), patience=1)
    s2.load_state_dict(saved)
    assert s2.best == 0.9 and s2.num_bad_epochs == s.num_bad_epochs and s2._is_better(0.5, s2.best)


@pytest.mark.parametrize("name", ["Sequential-warmup-cosine", "Warm-Restarts-mult", "LinearLR-decay", "OneCycle-cos"])
def test_state_dict_round_trip(name: str) -> None:
    def run(lib: Any, split: bool) -> list[list[float]]:
        opt = make_opt(lib, momentum=0.9)
        sched = BUILDERS[name](sched_module(lib), opt)
        out = []
        for k in range(40):
            if split and k == 17:
                sd_opt, sd_sched = opt.state_dict(), sched.state_dict()
                opt = make_opt(lib, momentum=0.9)
                sched = BUILDERS[name](sched_module(lib), opt)
                opt.load_state_dict(sd_opt)
                sched.load_state_dict(sd_sched)
            opt.step()
            sched.step()
            out.append(list(sched.get_last_lr()))
        return out
    assert run(minidl, True) == run(minidl, False) == run(torch, False)


def test_warm_restarts_fractional_epochs_like_torch() -> None:
    opts = {lib: make_opt(lib) for lib in (torch, minidl)}
    scheds = {lib: sched_module(lib).CosineAnnealingWarmRestarts(opts[lib], T_0=2, T_mult=3) for lib in (torch, minidl)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [0.25, 0.5, 1.75, 2.0, 3.3, 7.9, 8.0, 11.2, 30.5, 1.0]:
            for lib in (torch, minidl):
                scheds[lib].step(epoch)
            assert scheds[minidl].get_last_lr() == scheds[torch].get_last_lr(), f"epoch {epoch}"
            assert scheds[minidl].T_i == scheds[torch].T_i and scheds[minidl].last_epoch == scheds[torch].last_epoch


@pytest.mark.parametrize("build,exc", [
    (lambda S, o: S.LinearLR(o, start_factor=0.0), ValueError),
    (lambda S, o: S.LinearLR(o, end_factor=1.5), ValueError),
    (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError),
    (lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError),
    (lambda S, o: S.OneCycleLR(o, max_lr=0.1), ValueError),
    (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1), ValueError),
    (lambda S, o: S.OneCycleLR(o, max_lr=[0.1], total_steps=10), ValueError),
    (lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError),
    (lambda S, o: S.ReduceLROnPlateau(o, factor=1.0), ValueError),
    (lambda S, o: S.ReduceLROnPlateau(o, mode="up"), ValueError),
    (lambda S, o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError),
    (lambda S, o: S.SequentialLR(o, [S.ExponentialLR(o, 0.9)], milestones=[3]), ValueError),
    (lambda S, o: S.SequentialLR(o, [S.ReduceLROnPlateau(o), S.ExponentialLR(o, 0.9)], milestones=[3]), ValueError),
    (lambda S, o: S.SequentialLR(o, [], milestones=[]), ValueError),
])
def test_constructor_errors_like_torch(build: Callable[[Any, Any], Any], exc: type) -> None:
    with pytest.raises(exc):
        build(torch.optim.lr_scheduler, make_opt(torch))
    with pytest.raises(exc):
        build(msched, make_opt(minidl))


def test_one_cycle_needs_momentum_like_torch() -> None:
    class NoMomentum(torch.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.1})
    with pytest.raises(ValueError, match="momentum"):
        torch.optim.lr_scheduler.OneCycleLR(NoMomentum([torch.zeros(1, requires_grad=True)]), 0.1, total_steps=5)
    opt = minidl.optim.Adagrad([minidl.nn.Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="momentum"):
        msched.OneCycleLR(opt, 0.1, total_steps=5)


@pytest.mark.parametrize("name", ["LinearLR-warmup", "OneCycle-linear-3phase", "Sequential-warmup-cosine"])
def test_with_an_optimiser_trajectory(name: str) -> None:
    """Parameters and momentum buffers over 30 SGD steps follow torch's with the schedule applied."""
    parity_optim(torch.optim.SGD, minidl.optim.SGD, dict(lr=0.1, momentum=0.9), steps=30, atol=1e-13, rtol=1e-12,
                 state_keys=["momentum_buffer"],
                 scheduler=(_Wrap(name, torch), _Wrap(name, minidl), {}))


class _Wrap:
    """parity_optim builds a scheduler as ``cls(opt, **kw)``: adapt a BUILDERS entry to that."""

    def __init__(self, name: str, lib: Any) -> None:
        self.name, self.lib = name, lib

    def __call__(self, opt: Any) -> Any:
        return BUILDERS[self.name](sched_module(self.lib), opt)
