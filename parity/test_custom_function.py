"""torch-style custom Functions run unchanged on minidl: the same class body, subclassing either
``torch.autograd.Function`` or ``minidl.autograd.Function``, gives the same values and gradients.

The classes are written once (as a student writes them for torch) and instantiated for both
libraries by ``_both``; float64 parity at the house tolerance (rtol 1e-7, atol 1e-9).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl.autograd import OPS
from parity.helpers import assert_close

RTOL, ATOL = 1e-7, 1e-9


def _both(body: dict[str, Any], name: str) -> tuple[type, type]:
    """The same Function body as a torch and as a minidl subclass."""
    return (type(name, (torch.autograd.Function,), dict(body)),
            type(name, (minidl.autograd.Function,), dict(body)))


# --- the course's gradient-reversal layer (homework 3-c), verbatim
class _GRLBody:
    @staticmethod
    def forward(ctx: Any, x: Any, lambd: float) -> Any:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        return grad.neg() * ctx.lambd, None


# --- saves its output; uses needs_input_grad; a bias that may not need a gradient
class _ScaledExpBody:
    @staticmethod
    def forward(ctx: Any, x: Any, b: Any, scale: float) -> Any:
        y = (x * scale).exp() + b
        ctx.save_for_backward(x, y - b)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        x, e = ctx.saved_tensors
        gx = grad * e * ctx.scale if ctx.needs_input_grad[0] else None
        gb = grad if ctx.needs_input_grad[1] else None
        return gx, gb, None


# --- two outputs, one of them non-differentiable
class _MaxWithIndexBody:
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        values, idx = x.max(1)
        ctx.save_for_backward(idx)
        ctx.shape = tuple(x.shape)
        ctx.mark_non_differentiable(idx)
        return values * 2, idx

    @staticmethod
    def backward(ctx: Any, g_values: Any, g_idx: Any) -> Any:
        (idx,) = ctx.saved_tensors
        rows = g_values.shape[0]
        onehot = idx.reshape(rows, 1) == _arange_like(g_values, ctx.shape[1])
        return onehot.to(g_values.dtype) * g_values.reshape(rows, 1) * 2


def _arange_like(t: Any, n: int) -> Any:
    mod = torch if isinstance(t, torch.Tensor) else minidl
    return mod.arange(n).reshape(1, n)


GRL = _both(dict(vars(_GRLBody)), "GRL")
ScaledExp = _both(dict(vars(_ScaledExpBody)), "ScaledExp")
MaxWithIndex = _both(dict(vars(_MaxWithIndexBody)), "MaxWithIndex")


def _pair(a: np.ndarray, requires_grad: bool = True) -> tuple[torch.Tensor, minidl.Tensor]:
    return (torch.tensor(a, requires_grad=requires_grad), minidl.tensor(a, requires_grad=requires_grad))


def test_gradient_reversal_layer_runs_unchanged() -> None:
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    outs = []
    for lib, F in zip((torch, minidl), GRL):
        x = lib.tensor(a, requires_grad=True)
        W = lib.tensor(w, requires_grad=True)
        y = F.apply(x @ W, 0.7)
        loss = (y.tanh() ** 2).sum()
        loss.backward()
        outs.append((y, x.grad, W.grad, y.grad_fn is not None))
    (ty, tgx, tgw, tfn), (my, mgx, mgw, mfn) = outs
    assert tfn and mfn
    assert_close(my, ty, atol=ATOL, rtol=RTOL, what="GRL forward")
    assert_close(mgx, tgx, atol=ATOL, rtol=RTOL, what="GRL d/dx")
    assert_close(mgw, tgw, atol=ATOL, rtol=RTOL, what="GRL d/dW")
    # the layer reverses: the gradient is -0.7 times that of the identity
    x = minidl.tensor(a, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    (GRL[1].apply(x, 0.7).tanh() ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -0.7 * plain, rtol=1e-15)


@pytest.mark.parametrize("b_grad", [True, False])
def test_saved_tensors_needs_input_grad_and_none_gradients(b_grad: bool) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    res = []
    for lib, F in zip((torch, minidl), ScaledExp):
        x = lib.tensor(a, requires_grad=True)
        bb = lib.tensor(b, requires_grad=b_grad)
        y = F.apply(x, bb, 0.3)
        (y * y).sum().backward()
        res.append((y, x.grad, bb.grad))
    (ty, tgx, tgb), (my, mgx, mgb) = res
    assert_close(my, ty, atol=ATOL, rtol=RTOL, what="ScaledExp forward")
    assert_close(mgx, tgx, atol=ATOL, rtol=RTOL, what="ScaledExp d/dx")
    if b_grad:
        assert_close(mgb, tgb, atol=ATOL, rtol=RTOL, what="ScaledExp d/db")
    else:
        assert tgb is None and mgb is None


def test_two_outputs_and_mark_non_differentiable() -> None:
    a = np.random.default_rng(2).standard_normal((5, 4))
    res = []
    for lib, F in zip((torch, minidl), MaxWithIndex):
        x = lib.tensor(a, requires_grad=True)
        v, i = F.apply(x)
        assert v.requires_grad and not i.requires_grad
        (v ** 3).sum().backward()
        res.append((v, i, x.grad))
    (tv, ti, tg), (mv, mi, mg) = res
    assert_close(mv, tv, atol=ATOL, rtol=RTOL, what="values")
    assert_close(mi, ti, atol=0, rtol=0, what="indices")
    assert_close(mg, tg, atol=ATOL, rtol=RTOL, what="d/dx")


def test_custom_functions_stay_out_of_the_op_registry_and_free_their_saved_tensors() -> None:
    assert "GRL" not in OPS and "ScaledExp" not in OPS
    _both(dict(vars(_GRLBody)), "GRL")  # defining a class of the same name again is fine (notebooks)
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = ScaledExp[1].apply(x, minidl.zeros(2), 1.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_wrong_number_of_gradients_is_torchs_error() -> None:
    body = dict(vars(_GRLBody))
    body["backward"] = staticmethod(lambda ctx, g: g)
    for F in _both(body, "Bad"):
        x = (torch if F.__mro__[1] is torch.autograd.Function else minidl).ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="incorrect number of gradients"):
            F.apply(x, 1.0).sum().backward()


def test_double_backward_through_a_custom_function() -> None:
    """The user's backward is made of Tensor ops, so create_graph=True records it: H v through the GRL."""
    a, v = np.random.default_rng(3).standard_normal((2, 3)), np.random.default_rng(4).standard_normal((2, 3))
    res = []
    for lib, F in zip((torch, minidl), GRL):
        x = lib.tensor(a, requires_grad=True)
        (g,) = lib.autograd.grad((F.apply(x, 0.7) ** 3).sum(), x, create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(v)).sum(), x)
        res.append((g, hv))
    assert_close(res[1][0], res[0][0], atol=ATOL, rtol=RTOL, what="d/dx through GRL")
    assert_close(res[1][1], res[0][1], atol=ATOL, rtol=RTOL, what="H v through GRL")
    # closed form: g = -0.7 * 3 y^2 with y = GRL(x) = x; differentiating y^2 goes through the GRL again,
    # so H v = (-0.7)^2 * 6 x v
    np.testing.assert_allclose(res[1][1].numpy(), 0.49 * 6 * a * v, rtol=1e-14)
