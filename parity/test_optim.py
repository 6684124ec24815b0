"""optim.RMSprop, optim.Adam and optim.AdamW against torch.optim: every option combination, 25 steps,
parameters and internal state (step, exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg,
momentum_buffer) after every step; parameter groups; state_dict round trips in torch's layout.

Tolerances. minidl follows torch's single-tensor CPU update in the same order of operations, but it
is not bit-identical: torch's vectorised kernels fuse ``a + b * c`` into one FMA (add with alpha,
lerp, addcmul, addcdiv) and its vectorised ``sqrt`` is not always correctly rounded, while NumPy
rounds each product and takes exact square roots. Measured over every combination below, the largest
float64 deviation after 25 steps is ~3e-14 absolute on values of order 1-50 (a few ulps per step),
so float64 uses rtol=1e-12, atol=1e-13 (a relative bound alone fails on the rare elements that pass
near 0, where a 1-ulp difference of larger terms becomes a large relative error). float32 sees the
same few-ulp effects at float32's ulp (6e-8): rtol 1e-5 with atol 1e-6 (Adam; steps are lr-bounded)
or 2e-5 (RMSprop, whose momentum buffers sum g / sqrt(s) terms and reach ~50, where one ulp is 4e-6).
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

import minidl
from parity.helpers import assert_close, parity_optim

SHAPES = ((4, 3), (3,), (6, 7))  # 42 elements: long enough for torch's vectorised kernels and their tails
F64 = dict(atol=1e-13, rtol=1e-12)
ADAM_STATE = ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
RMS_STATE = ["step", "square_avg", "grad_avg", "momentum_buffer"]


def _ids(kw: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def adam_combos() -> list[dict]:
    # betas=(0.5, 0.9) puts lerp's weight 1 - b1 at 0.5, torch's other lerp formula;
    # eps=0.1 makes eps's place in the denominator (after the bias correction) matter.
    return [dict(lr=0.05, betas=betas, eps=eps, weight_decay=wd, amsgrad=ams, maximize=maxi)
            for betas, eps, wd, ams, maxi in itertools.product([(0.9, 0.999), (0.5, 0.9)], [1e-8, 0.1], [0.0, 0.1],
                                                              [False, True], [False, True])]


def rmsprop_combos() -> list[dict]:
    return [dict(lr=0.01, alpha=alpha, eps=eps, weight_decay=wd, momentum=mom, centered=cen, maximize=maxi)
            for alpha, eps, wd, mom, cen, maxi in itertools.product([0.99, 0.5], [1e-8, 0.1], [0.0, 0.1], [0.0, 0.9],
                                                                   [False, True], [False, True])]


# --------------------------------------------------------------------------- every combination
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", adam_combos(), ids=_ids)
def test_adam_float64(name: str, kw: dict) -> None:
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), kw, steps=25, shapes=SHAPES,
                 state_keys=ADAM_STATE, **F64)


@pytest.mark.parametrize("kw", rmsprop_combos(), ids=_ids)
def test_rmsprop_float64(kw: dict) -> None:
    parity_optim(torch.optim.RMSprop, minidl.optim.RMSprop, kw, steps=25, shapes=SHAPES, state_keys=RMS_STATE, **F64)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", adam_combos(), ids=_ids)
def test_adam_float32(name: str, kw: dict) -> None:
    # float32: a few float32 ulps per step (FMA and vectorised sqrt in torch), see the module docstring
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), kw, steps=25, shapes=SHAPES,
                 dtype=np.float32, state_keys=ADAM_STATE, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kw", rmsprop_combos(), ids=_ids)
def test_rmsprop_float32(kw: dict) -> None:
    # float32: momentum buffers reach ~50 where one float32 ulp is 4e-6; see the module docstring
    parity_optim(torch.optim.RMSprop, minidl.optim.RMSprop, kw, steps=25, shapes=SHAPES, dtype=np.float32,
                 state_keys=RMS_STATE, atol=2e-5, rtol=1e-5)


def test_defaults_match_torch() -> None:
    """Default hyperparameters (no kwargs at all) and the default-valued group entries equal torch's."""
    for name, keys in (("Adam", ADAM_STATE), ("AdamW", ADAM_STATE), ("RMSprop", RMS_STATE)):
        parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), {}, steps=20, shapes=SHAPES,
                     state_keys=keys, **F64)
        tg = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
        mg = getattr(minidl.optim, name)([minidl.nn.Parameter(np.zeros(1))]).param_groups[0]
        for k, v in mg.items():
            if k != "params":
                assert k in tg and tg[k] == v, f"{name}: group entry {k}={v!r}, torch has {tg.get(k)!r}"


# --------------------------------------------------------------------------- parameter groups
@pytest.mark.parametrize("name,kw,groups,keys", [
    ("Adam", dict(lr=1e-2, amsgrad=True), [{"params": [0, 2], "lr": 0.1, "betas": (0.5, 0.9)}, {"params": [1]}],
     ADAM_STATE),
    ("AdamW", dict(lr=1e-2), [{"params": [0], "lr": 0.2, "weight_decay": 0.5}, {"params": [1, 2], "amsgrad": True}],
     ADAM_STATE),
    ("RMSprop", dict(lr=1e-3, momentum=0.5), [{"params": [2], "lr": 0.05, "centered": True},
                                              {"params": [0, 1], "momentum": 0.0, "alpha": 0.9}], RMS_STATE),
])
def test_param_groups_with_per_group_settings(name: str, kw: dict, groups: list, keys: list) -> None:
    parity_optim(getattr(torch.optim, name), getattr(minidl.optim, name), kw, steps=20, shapes=SHAPES,
                 param_groups=groups, state_keys=keys, **F64)


def test_params_without_grad_are_skipped_like_torch() -> None:
    """A parameter whose grad is None is not updated and its state (and step count) does not advance;
    its state is created lazily, on the first step that sees a gradient."""
    rng = np.random.default_rng(1)
    w0 = [rng.normal(size=(3, 2)), rng.normal(size=(4,))]
    for name, keys in (("Adam", ADAM_STATE), ("RMSprop", RMS_STATE)):
        tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
        mps = [minidl.nn.Parameter(w.copy()) for w in w0]
        kw = dict(amsgrad=True) if name == "Adam" else dict(momentum=0.9, centered=True)
        topt, mopt = getattr(torch.optim, name)(tps, lr=0.1, **kw), getattr(minidl.optim, name)(mps, lr=0.1, **kw)
        for step in range(12):
            for i, (tp, mp) in enumerate(zip(tps, mps)):
                if i == 1 and step % 3 != 2:  # the second parameter gets a gradient on every third step only
                    tp.grad, mp.grad = None, None
                    continue
                g = rng.normal(size=w0[i].shape)
                tp.grad, mp.grad = torch.tensor(g), minidl.tensor(g)
            topt.step()
            mopt.step()
            assert (mps[1] in mopt.state) == (tps[1] in topt.state), f"{name} step {step}: lazy state differs"
            for tp, mp in zip(tps, mps):
                assert_close(mp, tp, what=f"{name} step {step} param", **F64)
                for k in keys:
                    if k in topt.state.get(tp, {}):
                        assert_close(mopt.state[mp][k], topt.state[tp][k], what=f"{name} step {step} {k}",
                                     check_dtype=False, **F64)


def test_closure_is_called_and_its_loss_returned() -> None:
    for cls in (minidl.optim.Adam, minidl.optim.AdamW, minidl.optim.RMSprop):
        p = minidl.nn.Parameter(np.array([1.0, -2.0]))
        opt = cls([p], lr=0.1)

        def closure() -> minidl.Tensor:
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss

        loss = opt.step(closure)
        assert float(loss.item()) == 5.0 and p.grad is not None


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize("name,kw", [
    ("Adam", dict(lr=-1e-3)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(betas=(-0.1, 0.9))), ("Adam", dict(weight_decay=-0.1)),
    ("Adam", dict(betas=(0, 0.999))),  # torch insists on float betas, an int 0 is refused
    ("AdamW", dict(lr=-1.0)), ("AdamW", dict(betas=(0.9, 1.5))), ("AdamW", dict(weight_decay=-1e-2)),
    ("RMSprop", dict(lr=-0.1)), ("RMSprop", dict(alpha=-0.5)), ("RMSprop", dict(eps=-1e-8)),
    ("RMSprop", dict(momentum=-0.9)), ("RMSprop", dict(weight_decay=-0.1)),
])
def test_invalid_options_raise_value_error_like_torch(name: str, kw: dict) -> None:
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **kw)
    with pytest.raises(ValueError):
        getattr(minidl.optim, name)([minidl.nn.Parameter(np.zeros(2))], **kw)


def test_empty_and_duplicated_parameters_are_refused_like_torch() -> None:
    for name in ("Adam", "AdamW", "RMSprop"):
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([])
        with pytest.raises(ValueError):
            getattr(minidl.optim, name)([])
        tp, mp = torch.nn.Parameter(torch.zeros(2)), minidl.nn.Parameter(np.zeros(2))
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([{"params": [tp]}, {"params": [tp]}])
        with pytest.raises(ValueError):
            getattr(minidl.optim, name)([{"params": [mp]}, {"params": [mp]}])


# --------------------------------------------------------------------------- checkpoints
OPTIMISERS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (class, settings, deliberately wrong settings for the fresh optimiser that load_state_dict must fix)
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True), dict(lr=1.0)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=True), dict(lr=1.0, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.01),
     dict(lr=1.0, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("name,kw,wrong", OPTIMISERS, ids=[o[0] for o in OPTIMISERS])
def test_state_dict_round_trip_mid_run_continues_identically(name: str, kw: dict, wrong: dict) -> None:
    """Stop after 10 of 20 steps, load the state_dict into a fresh optimiser built with wrong settings:
    the remaining steps equal an uninterrupted run bit for bit (ours against ours), and the run also
    stays on torch's trajectory."""
    rng = np.random.default_rng(0)
    w0 = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(20)]
    cls = getattr(minidl.optim, name)

    def run(split: bool) -> list[np.ndarray]:
        ps = [minidl.nn.Parameter(w.copy()) for w in w0]
        opt = cls(ps, **kw)
        for i, gs in enumerate(grads):
            if split and i == 10:
                state = opt.state_dict()
                opt = cls(ps, **wrong)
                opt.load_state_dict(state)
                for k in kw:
                    assert opt.param_groups[0][k] == kw[k], f"{name}: group setting {k} not restored"
            for p, g in zip(ps, gs):
                p.grad = minidl.tensor(g)
            opt.step()
        return [p.detach().numpy() for p in ps]

    split, whole = run(True), run(False)
    for a, b in zip(split, whole):
        np.testing.assert_array_equal(a, b)
    tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    topt = getattr(torch.optim, name)(tps, **kw)
    for gs in grads:
        for p, g in zip(tps, gs):
            p.grad = torch.tensor(g)
        topt.step()
    for a, tp in zip(split, tps):
        assert_close(a, tp, what=f"{name} resumed run vs torch", **F64)


@pytest.mark.parametrize("name,kw,wrong", OPTIMISERS, ids=[o[0] for o in OPTIMISERS])
def test_state_dict_layout_is_torchs_and_torch_state_loads(name: str, kw: dict, wrong: dict) -> None:
    """Same parameter indices, the same state names per parameter, group entries a subset of torch's
    with equal values; and torch's own state_dict (tensors turned into arrays) loads into minidl and
    continues on torch's trajectory."""
    rng = np.random.default_rng(3)
    w0 = [rng.normal(size=s) for s in SHAPES]
    tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    mps = [minidl.nn.Parameter(w.copy()) for w in w0]
    topt, mopt = getattr(torch.optim, name)(tps, **kw), getattr(minidl.optim, name)(mps, **kw)

    def steps(n: int) -> None:
        for _ in range(n):
            for tp, mp, s in zip(tps, mps, SHAPES):
                g = rng.normal(size=s)
                tp.grad, mp.grad = torch.tensor(g), minidl.tensor(g)
            topt.step()
            mopt.step()

    steps(5)
    ts, ms = topt.state_dict(), mopt.state_dict()
    assert list(ms["state"]) == list(ts["state"]) == [0, 1, 2]
    for i in ts["state"]:
        assert set(ms["state"][i]) == set(ts["state"][i]), f"{name}: state names {set(ms['state'][i])}"
        for k, v in ts["state"][i].items():
            assert_close(ms["state"][i][k], v, what=f"{name} state_dict state[{i}][{k}]", check_dtype=False, **F64)
    for tg, mg in zip(ts["param_groups"], ms["param_groups"]):
        assert set(mg) <= set(tg), f"{name}: group keys {set(mg) - set(tg)} are not torch's"
        for k, v in mg.items():
            assert tg[k] == v, f"{name}: group entry {k}: {v!r} vs torch {tg[k]!r}"

    # torch's checkpoint (tensors as arrays) into a fresh minidl optimiser, then 10 more steps in step
    as_numpy = {i: {k: v.numpy() for k, v in st.items()} for i, st in ts["state"].items()}
    mopt = getattr(minidl.optim, name)(mps, **wrong)
    mopt.load_state_dict({"state": as_numpy, "param_groups": ts["param_groups"]})
    steps(10)
    for tp, mp in zip(tps, mps):
        assert_close(mp, tp, what=f"{name} after loading torch's state_dict", **F64)


def test_load_state_dict_rejects_mismatched_shapes() -> None:
    p = minidl.nn.Parameter(np.zeros((2, 3)))
    opt = minidl.optim.Adam([p])
    p.grad = minidl.ones(2, 3)
    opt.step()
    state = opt.state_dict()
    state["state"][0]["exp_avg"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"exp_avg.*\(3, 2\).*\(2, 3\)"):
        minidl.optim.Adam([p]).load_state_dict(state)
