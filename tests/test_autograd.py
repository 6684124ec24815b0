"""Unit tests of the engine itself: graph traversal, accumulation, grad mode, purity, constructors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minidl
from minidl.autograd import OPS, Function


def test_diamond_graph_accumulates_both_paths() -> None:
    """y = x*x + x*3: x is used twice, so dy/dx = 2x + 3 (gradients from both paths add up)."""
    x = minidl.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = (x * x + x * 3).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 3)


def test_deep_chain_is_not_recursive() -> None:
    """A chain of 5,000 ops backpropagates (the topological sort is iterative)."""
    x = minidl.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 5000, rel=1e-4)


def test_gradients_accumulate_across_backward_calls_until_zeroed() -> None:
    w = minidl.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 4.0, 4.0])
    w.grad.zero_()
    (w * 5).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [5.0, 5.0, 5.0])


def test_no_grad_and_detach_cut_the_graph() -> None:
    x = minidl.randn(3, requires_grad=True)
    with minidl.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    z = x.detach() * 2
    assert not z.requires_grad
    assert minidl.is_grad_enabled()

    @minidl.no_grad()
    def f(t: minidl.Tensor) -> minidl.Tensor:
        return t * 3
    assert not f(x).requires_grad


def test_backward_does_not_mutate_its_inputs_or_alias_grads() -> None:
    a = minidl.tensor([1.0, 2.0], requires_grad=True)
    b = minidl.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()      # Add passes the same gradient array to both inputs
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_retain_grad_on_intermediate() -> None:
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), 2 * h.detach().numpy())
    assert h.grad_fn is not None and not h.is_leaf


def test_broadcast_gradient_is_reduced_to_input_shape_and_dtype() -> None:
    b = minidl.zeros(1, 4, requires_grad=True)
    x = minidl.ones(3, 2, 4, dtype=minidl.float64)
    (x + b).sum().backward()
    assert b.grad.shape == (1, 4) and b.grad.dtype == minidl.float32
    np.testing.assert_array_equal(b.grad.numpy(), np.full((1, 4), 6.0))


def test_dtype_inference_like_torch() -> None:
    assert minidl.tensor([1.0, 2.0]).dtype == minidl.float32
    assert minidl.tensor([1, 2]).dtype == minidl.int64
    assert minidl.tensor([True]).dtype == minidl.bool
    assert minidl.tensor(np.zeros(2)).dtype == minidl.float64
    assert minidl.arange(5).dtype == minidl.int64 and minidl.arange(0, 1, 0.25).dtype == minidl.float32
    assert minidl.full((2,), 3).dtype == minidl.int64 and minidl.full((2,), 3.0).dtype == minidl.float32
    assert (minidl.tensor([1, 2]) * 0.5).dtype == minidl.float32
    assert (minidl.tensor([1, 2]) / minidl.tensor([2, 2])).dtype == minidl.float32
    assert (minidl.ones(2) + minidl.tensor([1, 2])).dtype == minidl.float32


def test_constructors() -> None:
    minidl.manual_seed(3)
    a = minidl.randn(2, 3)
    minidl.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), minidl.randn((2, 3)).numpy())
    assert minidl.zeros(2, 3).shape == (2, 3) and minidl.ones((4,)).numpy().sum() == 4
    assert minidl.eye(3).numpy().trace() == 3
    np.testing.assert_allclose(minidl.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    r = minidl.randint(0, 10, (1000,)).numpy()
    assert r.min() >= 0 and r.max() <= 9
    assert sorted(minidl.randperm(6).tolist()) == list(range(6))
    u = minidl.rand(10000).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    arr = np.arange(3.0)
    t = minidl.from_numpy(arr)
    arr[0] = 7
    assert t[0].item() == 7  # shares memory


def test_every_registered_op_has_forward_and_backward_side_by_side() -> None:
    for name, cls in OPS.items():
        assert issubclass(cls, Function)
        assert "forward" in cls.__dict__ and "backward" in cls.__dict__, name


def test_backward_is_pure_for_every_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """DESIGN's purity rule, checked on every op the second-derivative cases run (first order and recorded):
    a backward never mutates the incoming gradient nor anything its forward saved."""
    from parity.test_higher_order import CASES
    checked: set[str] = set()

    def snapshot(values: Any) -> list[Any]:
        arrays = [v._data if isinstance(v, minidl.Tensor) else v for v in values]
        return [(a, a.copy()) for a in arrays if isinstance(a, np.ndarray)]

    def checking(name: str, backward: Any) -> Any:
        def run(ctx: Any, g: Any) -> Any:
            before = snapshot([g]) + snapshot(ctx._saved or ())
            out = backward(ctx, g)
            for a, copy in before:
                assert np.array_equal(a, copy, equal_nan=True), f"{name}'s backward mutated an array it was given"
            checked.add(name)
            return out
        return staticmethod(run)

    for name, cls in OPS.items():
        monkeypatch.setattr(cls, "backward", checking(name, cls.backward))
    for name, (ops, fn, arrays) in CASES.items():
        xs = [minidl.tensor(a.copy(), requires_grad=True) for a in arrays]
        gs = minidl.autograd.grad(fn(minidl, *xs), xs, create_graph=True)
        minidl.autograd.grad(sum((g * g).sum() for g in gs), xs, allow_unused=True)
        assert set(ops) <= checked, f"{name}: {set(ops) - checked} never ran backward"


def test_tensor_conversions_and_repr() -> None:
    t = minidl.tensor([[1.0, 2.0]], requires_grad=True)
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=<MulBackward>" in repr(t * 2)
    with pytest.raises(RuntimeError):
        t.numpy()
    assert t.detach().numpy().shape == (1, 2) and float(t[0, 1]) == 2.0
    assert t.size(1) == 2 and t.dim() == 2 and t.numel() == 2
    with pytest.raises(RuntimeError):
        t.to("cuda")
