"""Bad input raises the same exception type in minidl as in torch, with a message naming the shapes."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl


def lib(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else minidl


def F(x: Any) -> Any:
    return torch.nn.functional if isinstance(x, torch.Tensor) else minidl.nn.functional


def raises_like_torch(fn: Callable[[Any], Any], *shapes: tuple[int, ...], match: str | None = None,
                      requires_grad: bool = False) -> BaseException:
    """Run ``fn`` on torch and on minidl inputs; both must raise, and minidl's type must be torch's."""
    arrays = [np.random.default_rng(0).normal(size=s) for s in shapes]
    with pytest.raises(Exception) as t_err:
        fn(*[torch.tensor(a, requires_grad=requires_grad) for a in arrays])
    with pytest.raises(Exception) as m_err:
        fn(*[minidl.tensor(a, requires_grad=requires_grad) for a in arrays])
    assert isinstance(m_err.value, type(t_err.value)), \
        f"minidl raised {type(m_err.value).__name__}({m_err.value}); torch raises {type(t_err.value).__name__}"
    if match:
        assert match in str(m_err.value), str(m_err.value)
    return m_err.value


def test_matmul_shape_mismatch() -> None:
    err = raises_like_torch(lambda a, b: a @ b, (2, 3), (4, 5))
    assert "2x3" in str(err) and "4x5" in str(err)
    raises_like_torch(lambda a, b: a @ b, (2, 3, 4), (5, 2))
    raises_like_torch(lambda a, b: a @ b, (3,), (4,))
    raises_like_torch(lambda a, b: lib(a).matmul(a, b), (2, 3, 4), (3, 4, 2))


def test_linear_with_wrong_in_features() -> None:
    err = raises_like_torch(lambda x, w: F(x).linear(x, w), (8, 3), (4, 5))
    assert "(8, 3)" in str(err) and "(4, 5)" in str(err)


def test_non_broadcastable_operands() -> None:
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / b,
               lambda a, b: lib(a).maximum(a, b), lambda a, b: lib(a).where(a > 0, a, b)):
        err = raises_like_torch(op, (2, 3), (4,))
        assert "(2, 3)" in str(err) and "(4,)" in str(err)


@pytest.mark.parametrize("fn", [
    lambda a: a.sum(dim=3), lambda a: a.mean(-4), lambda a: a.softmax(dim=2), lambda a: a.max(dim=5),
    lambda a: a.argmax(dim=2), lambda a: a.transpose(0, 2), lambda a: a.unsqueeze(4), lambda a: a.squeeze(3),
    lambda a: lib(a).cat([a, a], dim=2), lambda a: a.var(dim=(0, 7)), lambda a: a.log_softmax(-3),
    lambda a: a.logsumexp(dim=2), lambda a: a.flatten(0, 4),
], ids=lambda f: "")
def test_bad_dim(fn: Callable[[Any], Any]) -> None:
    err = raises_like_torch(fn, (2, 3))
    assert isinstance(err, IndexError)


def test_cross_entropy_target_out_of_range() -> None:
    def fn(x: Any) -> Any:
        return F(x).cross_entropy(x, lib(x).tensor([0, 4, 1]))
    err = raises_like_torch(fn, (3, 4))
    assert "4" in str(err)
    raises_like_torch(lambda x: F(x).cross_entropy(x, lib(x).tensor([0, -3, 1])), (3, 4))
    raises_like_torch(lambda x: F(x).nll_loss(x, lib(x).tensor([0, 9, 1])), (3, 4))


def test_backward_on_non_scalar_without_gradient() -> None:
    raises_like_torch(lambda a: (a * 2).backward(), (2, 3), requires_grad=True)


def test_backward_without_grad() -> None:
    raises_like_torch(lambda a: (a * 2).sum().backward(), (2, 3), requires_grad=False)


def test_second_backward_through_freed_graph() -> None:
    def twice(a: Any) -> None:
        y = (a.tanh() * a).sum()
        y.backward()
        y.backward()
    err = raises_like_torch(twice, (2, 3), requires_grad=True)
    assert "retain_graph" in str(err)


def test_retain_graph_allows_second_backward_and_accumulates() -> None:
    a = minidl.tensor(np.arange(3.0), requires_grad=True)
    t = torch.tensor(np.arange(3.0), requires_grad=True)
    for x in (a, t):
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
    np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())
    np.testing.assert_array_equal(a.grad.numpy(), 4 * np.arange(3.0))


def test_other_bad_inputs() -> None:
    raises_like_torch(lambda a: a.reshape(4, 4), (2, 3))
    raises_like_torch(lambda a: a.expand(3, 4), (2, 3))
    raises_like_torch(lambda a, b: lib(a).cat([a, b], dim=0), (2, 3), (2, 4))
    raises_like_torch(lambda a, b: lib(a).stack([a, b]), (2, 3), (2, 4))
    raises_like_torch(lambda a: a[5], (2, 3))
    raises_like_torch(lambda a: a.permute(0, 0), (2, 3))
    raises_like_torch(lambda a: a.item(), (2, 3))
    raises_like_torch(lambda a: F(a).binary_cross_entropy(a, lib(a).zeros(3)), (2, 3))
    raises_like_torch(lambda a: F(a).binary_cross_entropy_with_logits(a, lib(a).zeros(2, 4)), (2, 3))
    with pytest.raises(RuntimeError):
        minidl.zeros(2, dtype=minidl.int64).requires_grad_()
    with pytest.raises(RuntimeError):
        torch.zeros(2, dtype=torch.int64).requires_grad_()


def test_inplace_update_of_leaf_requires_no_grad() -> None:
    def update(w: Any) -> None:
        w -= 0.1
    raises_like_torch(update, (3,), requires_grad=True)
    w = minidl.ones(3, requires_grad=True)
    with minidl.no_grad():
        w -= 0.5
    np.testing.assert_array_equal(w.detach().numpy(), 0.5 * np.ones(3))
