"""DANN (chapter 3-c) against torch in float64: the gradient-reversal layer against a torch
``autograd.Function`` written in the test, and whole DANN steps (both heads, both losses, the GRL, SGD
with momentum and the course's schedules) with copied weights and the same batches, through the course's
``dann_step`` (``minidl.models.dann``, the lines the chapter runs). House tolerance: rtol 1e-7, atol 1e-9."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl.interop import backend
from minidl.models.dann import DANN, GradReverse, dann_lr, dann_step, feature_size, grad_reverse, grl_lambda
from parity.helpers import assert_close, copy_weights

TOL = dict(atol=1e-9, rtol=1e-7)


class TorchGRL(torch.autograd.Function):
    """The reference: the course's GRL, written for torch here, independently of minidl.models.dann."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output.neg() * ctx.lambd, None


@pytest.mark.parametrize("lambd", [0.0, 0.37, 1.0])
def test_grl_matches_a_torch_autograd_function(lambd: float) -> None:
    rng = np.random.default_rng(0)
    x, w, g = rng.normal(size=(5, 7)), rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    xt = torch.tensor(x, requires_grad=True)
    yt = TorchGRL.apply(xt * torch.tensor(w), lambd)        # inside a graph: the reversal reaches x through w
    (yt * torch.tensor(g)).sum().backward()
    xm = minidl.tensor(x, requires_grad=True)
    ym = GradReverse(minidl).apply(xm * minidl.tensor(w), lambd)
    assert isinstance(ym.grad_fn.fn, type) and issubclass(ym.grad_fn.fn, minidl.autograd.Function)
    (ym * minidl.tensor(g)).sum().backward()
    assert_close(ym, yt, what="GRL forward (identity)", **TOL)
    assert_close(xm.grad, xt.grad, what=f"GRL backward, lambda={lambd}", **TOL)
    np.testing.assert_allclose(xm.grad.numpy(), -lambd * g * w, rtol=1e-12, atol=0)   # closed form
    # the torch flavour of the same class body, and the backend-neutral helper, agree as well
    xt2 = torch.tensor(x, requires_grad=True)
    (grad_reverse(xt2, lambd) * torch.tensor(g)).sum().backward()
    assert issubclass(GradReverse(torch), torch.autograd.Function)
    assert_close(xt2.grad, -lambd * torch.tensor(g), what="GRL (torch flavour)", **TOL)


def test_grl_schedules_are_the_course_formulas() -> None:
    for p in (0.0, 0.1, 0.5, 1.0):
        assert grl_lambda(p, 10.0) == pytest.approx(2 / (1 + np.exp(-10 * p)) - 1, rel=1e-15)
        assert dann_lr(p, 0.01) == pytest.approx(0.01 / (1 + 10 * p) ** 0.75, rel=1e-15)
    assert grl_lambda(0.0) == 0.0 and grl_lambda(1.0) > 0.9999


def test_dann_network_matches_torch_structure() -> None:
    m, t = DANN(minidl.nn), DANN(torch.nn)
    assert feature_size(28) == 2352
    assert list(m.state_dict()) == list(t.state_dict())
    assert [tuple(v.shape) for v in m.state_dict().values()] == [tuple(v.shape) for v in t.state_dict().values()]
    assert m.features(minidl.zeros(2, 3, 28, 28)).shape == (2, 2352)


@pytest.mark.parametrize("adapt", [False, True], ids=["naive", "dann"])
def test_dann_steps_match_torch_float64(adapt: bool) -> None:
    """Three steps of the chapter's step function on both backends: the losses, the domain logits, every
    parameter's gradient, and the parameters after each momentum-SGD step with the scheduled lr and lambda."""
    Bm, Bt = backend("minidl"), backend("torch")
    torch.manual_seed(0)
    t_model = DANN(torch.nn).double()
    m_model = DANN(minidl.nn).double()
    copy_weights(t_model, m_model)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.01, momentum=0.9)
    m_opt = minidl.optim.SGD(m_model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    steps = 3
    for step in range(steps):
        p = (step + 5) / 10                                  # mid-training: lambda well away from 0
        lam, lr = grl_lambda(p), dann_lr(p)
        for opt in (t_opt, m_opt):
            for g in opt.param_groups:
                g["lr"] = lr
        xs, xt = rng.normal(size=(6, 3, 28, 28)), rng.normal(loc=0.5, size=(6, 3, 28, 28))
        ys = rng.integers(0, 10, 6)
        m_out = dann_step(Bm, m_model, m_opt, Bm.tensor(xs), Bm.tensor(ys), Bm.tensor(xt) if adapt else None, lam)
        t_out = dann_step(Bt, t_model, t_opt, Bt.tensor(xs), Bt.tensor(ys), Bt.tensor(xt) if adapt else None, lam)
        for what, a, e in zip(("label loss", "domain loss", "domain logits"), m_out, t_out):
            if e is None:
                assert a is None
                continue
            assert_close(a, e, what=f"step {step} {what}", **TOL)
        t_params = dict(t_model.named_parameters())
        for name, prm in m_model.named_parameters():
            if not adapt and name.startswith("domain."):
                assert prm.grad is None and t_params[name].grad is None, name
                continue
            assert_close(prm.grad, t_params[name].grad, what=f"step {step} grad {name}", **TOL)
            assert_close(prm, t_params[name], what=f"step {step} {name} after the step", **TOL)
