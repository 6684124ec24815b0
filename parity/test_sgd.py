"""optim.SGD against torch.optim.SGD: every option combination, >= 20 steps, parameters and momentum
buffers after every step; parameter groups; state_dict round trips."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import minidl
from parity.helpers import assert_close, parity_optim


def combos() -> list[dict]:
    out = []
    for mom, damp, nest, wd, maxi in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.05],
                                                       [False, True]):
        if nest and (mom == 0 or damp != 0):
            continue  # torch rejects these; so does minidl (tested below)
        out.append(dict(lr=0.05, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd, maximize=maxi))
    return out


@pytest.mark.parametrize("kw", combos(), ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items() if k != "lr"))
def test_sgd_float64(kw: dict) -> None:
    parity_optim(torch.optim.SGD, minidl.optim.SGD, kw, steps=25, atol=1e-12, rtol=1e-10,
                 state_keys=["momentum_buffer"])


@pytest.mark.parametrize("kw", combos()[:6])
def test_sgd_float32(kw: dict) -> None:
    # float32: torch fuses some updates (foreach kernels); ~1 ulp per step accumulates over 25 steps.
    parity_optim(torch.optim.SGD, minidl.optim.SGD, kw, steps=25, dtype=np.float32, atol=1e-6, rtol=1e-5,
                 state_keys=["momentum_buffer"])


def test_param_groups_with_per_group_lr() -> None:
    groups = [{"params": [0], "lr": 0.1, "momentum": 0.5}, {"params": [1]}]
    parity_optim(torch.optim.SGD, minidl.optim.SGD, dict(lr=0.01, momentum=0.9), steps=20, atol=1e-12, rtol=1e-10,
                 param_groups=groups, state_keys=["momentum_buffer"])


def test_invalid_options_raise_like_torch() -> None:
    p = [minidl.nn.Parameter(np.zeros(2))]
    tp = [torch.nn.Parameter(torch.zeros(2))]
    for kw in (dict(lr=-1.0), dict(lr=0.1, momentum=-0.1), dict(lr=0.1, nesterov=True),
               dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), dict(lr=0.1, weight_decay=-1)):
        with pytest.raises(ValueError):
            torch.optim.SGD(tp, **kw)
        with pytest.raises(ValueError):
            minidl.optim.SGD(p, **kw)


def test_state_dict_round_trip_continues_identically() -> None:
    """Stop after 10 steps, save the optimiser state, load it into a fresh optimiser: the next 10 steps
    equal an uninterrupted run exactly; and the layout matches torch's state_dict."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(20)]

    def run(split: bool) -> np.ndarray:
        p = minidl.nn.Parameter(w0.copy())
        opt = minidl.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        for i, g in enumerate(grads):
            if split and i == 10:
                state = opt.state_dict()
                opt = minidl.optim.SGD([p], lr=0.5)  # wrong settings on purpose: the state restores them
                opt.load_state_dict(state)
            p.grad = minidl.tensor(g)
            opt.step()
        return p.detach().numpy()

    np.testing.assert_array_equal(run(True), run(False))
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    mp = minidl.nn.Parameter(w0.copy())
    mopt = minidl.optim.SGD([mp], lr=0.1, momentum=0.9)
    for o, p in ((topt, tp), (mopt, mp)):
        p.grad = torch.tensor(grads[0]) if o is topt else minidl.tensor(grads[0])
        o.step()
    ts, ms = topt.state_dict(), mopt.state_dict()
    # torch adds implementation switches (foreach, fused, differentiable); every minidl key is torch's
    assert set(ms["param_groups"][0]) <= set(ts["param_groups"][0])
    assert {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "params"} <= set(ms["param_groups"][0])
    assert list(ts["state"]) == list(ms["state"]) == [0]
    assert_close(ms["state"][0]["momentum_buffer"], ts["state"][0]["momentum_buffer"], atol=0, rtol=0,
                 what="momentum buffer")


def test_zero_grad_set_to_none_and_zero() -> None:
    p = minidl.nn.Parameter(np.ones(3))
    opt = minidl.optim.SGD([p], lr=0.1)
    p.grad = minidl.ones(3)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and not p.grad.numpy().any()
    opt.zero_grad()
    assert p.grad is None
