"""The engine's public API against torch's: grad, backward(inputs=, create_graph=), hooks, retain_grad,
gradcheck / gradgradcheck, detect_anomaly, and the error types of misuse. float64, house tolerance."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl.autograd import GradcheckError
from parity.helpers import assert_close

RTOL, ATOL = 1e-7, 1e-9
A = np.random.default_rng(0).standard_normal((3, 4))
B = np.random.default_rng(1).standard_normal(4)


def _both(fn: Any) -> list[Any]:
    return [fn(lib) for lib in (torch, minidl)]


def test_grad_of_several_outputs_and_inputs_with_grad_outputs() -> None:
    def run(L: Any) -> Any:
        x, b = L.tensor(A, requires_grad=True), L.tensor(B, requires_grad=True)
        h = (x * b).tanh()
        y1, y2 = h.sum(0), (h * h).sum()
        gx, gb, gh = L.autograd.grad([y1, y2], [x, b, h], [L.tensor(B * 2), None])
        assert x.grad is None and not gx.requires_grad
        return gx, gb, gh
    (t, m) = _both(run)
    for k, (a, e) in enumerate(zip(m, t)):
        assert_close(a, e, atol=ATOL, rtol=RTOL, what=f"grad output {k}")


def test_grad_unused_input_and_errors() -> None:
    for L in (torch, minidl):
        x, z = L.tensor(A, requires_grad=True), L.tensor(B, requires_grad=True)
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match="not have been used in the graph"):
            L.autograd.grad(y, [x, z], retain_graph=True)
        gx, gz = L.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
        assert gz is None
        gx, gz = L.autograd.grad(y, [x, z], allow_unused=True, materialize_grads=True, retain_graph=True)
        assert not np.any(gz.detach().numpy())
        with pytest.raises(RuntimeError, match="does not require grad"):
            L.autograd.grad(y, L.tensor(B))
        with pytest.raises(RuntimeError):
            L.autograd.grad((x * 2), x)  # non-scalar output without grad_outputs
        y2 = (x * x).sum()
        L.autograd.grad(y2, x)
        with pytest.raises(RuntimeError, match="second time"):
            L.autograd.grad(y2, x)  # freed graph


def test_backward_create_graph_and_inputs() -> None:
    def run2(L: Any) -> Any:
        x, b = L.tensor(A, requires_grad=True), L.tensor(B, requires_grad=True)
        ((x * b).tanh() ** 2).sum().backward(create_graph=True)
        g = x.grad
        assert g.requires_grad and g.grad_fn is not None
        x.grad, b.grad = None, None
        (g * g).sum().backward(inputs=[b])
        assert x.grad is None
        gb = b.grad
        h = x * b                   # a non-leaf input of backward(inputs=...) gets a .grad too
        (h.tanh() ** 2).sum().backward(inputs=[h])
        return gb, h.grad
    (t, m) = _both(run2)
    assert_close(m[0], t[0], atol=ATOL, rtol=RTOL, what="second derivative into b")
    assert_close(m[1], t[1], atol=ATOL, rtol=RTOL, what="non-leaf input's grad")


def test_hooks_on_leaves_and_intermediates() -> None:
    def run(L: Any) -> Any:
        seen: list[np.ndarray] = []
        x = L.tensor(A, requires_grad=True)
        h = x * 3
        h.retain_grad()
        hh = h.register_hook(lambda g: g * 2)            # doubles what flows back through h
        x.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
        removed = x.register_hook(lambda g: g * 1000)
        removed.remove()
        (h.tanh() + x).sum().backward()
        hh.remove()
        return x.grad, h.grad, seen[0]
    (t, m) = _both(run)
    for k, (a, e) in enumerate(zip(m, t)):
        assert_close(a, e, atol=ATOL, rtol=RTOL, what=f"hook result {k}")


def test_retain_grad_on_root_and_accumulation() -> None:
    def run(L: Any) -> Any:
        x = L.tensor(A, requires_grad=True)
        y = (x * x).sum()
        y.retain_grad()
        y.backward(retain_graph=True)
        first = y.grad.clone()
        y.backward()
        return first, y.grad, x.grad
    (t, m) = _both(run)
    assert float(m[0]) == 1.0
    for k, (a, e) in enumerate(zip(m, t)):
        assert_close(a, e, atol=ATOL, rtol=RTOL, what=f"retain_grad {k}")


def test_assigning_a_wrong_shape_grad_fails_at_assignment() -> None:
    for L in (torch, minidl):
        x = L.zeros(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError):
            x.grad = L.zeros(3, 2)
        x.grad = L.ones(2, 3)
        x.grad = None


def test_sign_stays_in_the_graph_with_zero_gradient() -> None:
    def run(L: Any) -> Any:
        x = L.tensor(A, requires_grad=True)
        s = x.sign()
        assert s.requires_grad and s.grad_fn is not None
        (s * x).sum().backward()
        return x.grad
    t, m = _both(run)
    assert_close(m, t, atol=ATOL, rtol=RTOL, what="d(sign(x) x)/dx")


def test_view_of_a_transposed_tensor_raises_like_torch() -> None:
    for L in (torch, minidl):
        a = L.tensor(np.arange(6.0).reshape(2, 3))
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            a.t().view(6)
        np.testing.assert_array_equal(np.asarray(a.t().reshape(6)), [0, 3, 1, 4, 2, 5])
        np.testing.assert_array_equal(np.asarray(a.t().contiguous().view(6)), [0, 3, 1, 4, 2, 5])
        assert tuple(a.view(3, 2).shape) == (3, 2) and tuple(a[:, 1:].reshape(4).shape) == (4,)
        assert a.is_contiguous() and not a.t().is_contiguous() and a.t().contiguous().is_contiguous()


# --------------------------------------------------------------------------- gradcheck
class _GoodBody:
    @staticmethod
    def forward(ctx: Any, x: Any, y: Any) -> Any:
        ctx.save_for_backward(x, y)
        return x * y.exp()

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, y = ctx.saved_tensors
        return g * y.exp(), g * x * y.exp()


class _BadBody(_GoodBody):
    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, y = ctx.saved_tensors
        return g * y.exp(), g * y.exp()  # forgot the factor x


class _OnceBody(_GoodBody):
    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, y = ctx.saved_tensors
        ey = y.detach().exp()             # detached: right first derivative, wrong second one
        return g * ey, g * x.detach() * ey


def _fn(body: type, lib: Any) -> type:
    """The Function body as a subclass of ``lib.autograd.Function`` (the forward is always _GoodBody's)."""
    return type("F", (lib.autograd.Function,), {"forward": vars(_GoodBody)["forward"],
                                                 "backward": vars(body)["backward"]})


@pytest.mark.parametrize("body,first,second", [(_GoodBody, True, True), (_BadBody, False, False),
                                               (_OnceBody, True, False)])
def test_gradcheck_and_gradgradcheck_agree_with_torch(body: type, first: bool, second: bool) -> None:
    for L in (torch, minidl):
        F = _fn(body, L)
        x = L.tensor(A[:2, :2].copy(), requires_grad=True)
        y = L.tensor(A[1:, 2:].copy(), requires_grad=True)
        assert L.autograd.gradcheck(F.apply, (x, y), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False) is first
        if not first:
            with pytest.raises(RuntimeError, match="Jacobian mismatch"):
                L.autograd.gradcheck(F.apply, (x, y))
        else:
            got = L.autograd.gradgradcheck(F.apply, (x, y), raise_exception=False)
            assert got is second, (L.__name__, body.__name__)
    with pytest.raises(GradcheckError):
        minidl.autograd.gradcheck(_fn(_BadBody, minidl).apply, (minidl.tensor(A, requires_grad=True),
                                                                 minidl.tensor(A, requires_grad=True)))


def test_gradgradcheck_on_built_in_ops() -> None:
    """Second derivatives of a small layer against finite differences of the recorded gradient (the
    convolutions' are compared with torch in parity/test_higher_order.py)."""
    x = minidl.tensor(np.random.default_rng(3).standard_normal((3, 4)), requires_grad=True)
    w = minidl.tensor(np.random.default_rng(4).standard_normal((4, 3)) * 0.5, requires_grad=True)
    fn = lambda x, w: ((x @ w).tanh().softmax(1) * x[:, :3].sigmoid()).logsumexp(1)  # noqa: E731
    assert minidl.autograd.gradcheck(fn, (x, w))
    assert minidl.autograd.gradgradcheck(fn, (x, w))
    xt = minidl.Tensor(np.random.default_rng(5).standard_normal((3, 2)).T, requires_grad=True)
    assert not xt.is_contiguous() and minidl.autograd.gradcheck(lambda a: (a * a).tanh(), (xt,))


# --------------------------------------------------------------------------- anomaly detection
def test_detect_anomaly_names_the_op() -> None:
    x = minidl.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with minidl.autograd.detect_anomaly():
        y = x.sqrt()                     # d sqrt / dx = 1 / (2 sqrt x) is inf at 0
        with pytest.raises(RuntimeError, match=r"'SqrtBackward' returned inf values in its 0th output") as err:
            (y * 1.0).sum().backward()
    assert "y = x.sqrt()" in str(err.value)  # and the forward call that created it
    tx = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    (tx.sqrt() * 1.0).sum().backward()       # without anomaly detection, both simply produce inf
    x.grad = None
    (x.sqrt() * 1.0).sum().backward()
    assert_close(x.grad, tx.grad, atol=ATOL, rtol=RTOL, what="sqrt gradient at 0")
    with minidl.autograd.set_detect_anomaly(True):
        z = minidl.tensor(np.array([0.0]), requires_grad=True)
        with pytest.raises(RuntimeError, match="'DivBackward' returned inf values in its 0th output"):
            (z / z).sum().backward()
    assert not minidl.autograd.is_anomaly_enabled()


def test_a_detached_operand_is_a_constant_of_the_recorded_backward() -> None:
    """x * x.detach(): the gradient is x.detach(), a constant, so the second derivative is 0 (torch's too)."""
    def run(L: Any) -> Any:
        x = L.tensor(B, requires_grad=True)
        (g,) = L.autograd.grad((x * x.detach()).sum() + (x ** 3).sum(), x, create_graph=True)
        (h,) = L.autograd.grad(g.sum(), x)
        return g, h
    t, m = _both(run)
    assert_close(m[0], t[0], atol=ATOL, rtol=RTOL, what="gradient")
    assert_close(m[1], t[1], atol=ATOL, rtol=RTOL, what="second derivative")


def test_grad_with_respect_to_model_parameters_generator() -> None:
    """Course style: grad(loss, model.parameters(), create_graph=True) with a generator of parameters."""
    res = []
    for L in (torch, minidl):
        L.manual_seed(0)
        model = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.Tanh(), L.nn.Linear(4, 1)).double()
        if L is minidl:  # the same weights in both
            model.load_state_dict({k: minidl.tensor(v.detach().numpy()) for k, v in res[0][2].items()})
        x = L.tensor(A[:, :3])
        gs = L.autograd.grad(model(x).pow(2).sum(), model.parameters(), create_graph=True)
        (h,) = L.autograd.grad(sum((g * g).sum() for g in gs), next(iter(model.parameters())))
        res.append((gs, h, model.state_dict()))
    for k, (a, e) in enumerate(zip(res[1][0], res[0][0])):
        assert_close(a, e, atol=ATOL, rtol=RTOL, what=f"gradient {k}")
    assert_close(res[1][1], res[0][1], atol=ATOL, rtol=RTOL, what="gradient of the squared gradient norm")
