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
    t_type = type(t_err.value)
    if issubclass(t_type, torch.linalg.LinAlgError):  # torch's is a C++ class; minidl's has the same place
        t_type = minidl.linalg.LinAlgError
    assert isinstance(m_err.value, t_type), \
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


# --------------------------------------------------------------------------- the table (issue 8)
def _long(a: Any) -> Any:
    return a.long()


def _idx(a: Any, values: list[Any]) -> Any:
    return lib(a).tensor(values)


def _backward_twice(y: Any) -> None:
    y.backward()
    y.backward()


# (id, fn written once for both libraries, input shapes, requires_grad, substrings minidl's message must hold)
ERRORS: list[tuple[str, Callable[..., Any], list[tuple[int, ...]], bool, tuple[str, ...]]] = [
    # wrong ndim or channels
    ("conv2d-2d-input", lambda x, w: F(x).conv2d(x, w), [(2, 3), (4, 3, 3, 3)], False, ()),
    ("conv2d-channels", lambda x, w: F(x).conv2d(x, w), [(1, 3, 8, 8), (4, 2, 3, 3)], False, ("3", "2")),
    ("batchnorm2d-2d", lambda x: lib(x).nn.BatchNorm2d(3).double()(x), [(4, 3)], False, ("2D",)),
    ("tril-1d", lambda x: x.tril(), [(4,)], False, ()),
    ("triu-1d", lambda x: lib(x).triu(x), [(4,)], False, ()),
    ("inv-not-square", lambda x: lib(x).linalg.inv(x), [(2, 3)], False, ("2", "3")),
    ("repeat-too-few", lambda x: x.repeat(2), [(2, 3)], False, ()),
    ("gather-index-ndim", lambda x: x.gather(1, _idx(x, [0, 1])), [(2, 3)], False, ()),
    ("einsum-operand-ndim", lambda x, y: lib(x).einsum("ij,jk->ik", x, y), [(2, 3), (3,)], False, ()),
    ("cross-entropy-batch", lambda x: F(x).cross_entropy(x, _idx(x, [0, 1])), [(3, 4)], False, ("3", "2")),
    # non-broadcastable shapes
    ("fmod", lambda a, b: lib(a).fmod(a, b), [(2, 3), (4,)], False, ("(2, 3)", "(4,)")),
    ("remainder", lambda a, b: a % b, [(2, 3), (2,)], False, ("(2, 3)", "(2,)")),
    ("div-floor", lambda a, b: lib(a).div(a, b, rounding_mode="floor"), [(2, 3), (4,)], False, ("(2, 3)", "(4,)")),
    ("isclose", lambda a, b: lib(a).isclose(a, b), [(2, 3), (4,)], False, ("(2, 3)", "(4,)")),
    ("masked-fill-mask", lambda a: a.masked_fill(lib(a).ones(4, dtype=lib(a).bool), 0.0), [(2, 3)], False, ()),
    ("solve-shapes", lambda a, b: lib(a).linalg.solve(a, b), [(3, 3), (4, 2)], False, ("3x3", "4x2")),
    # a dim out of range
    ("flip", lambda x: x.flip(2), [(2, 3)], False, ()),
    ("roll", lambda x: x.roll(1, 2), [(2, 3)], False, ()),
    ("cumsum", lambda x: x.cumsum(-3), [(2, 3)], False, ()),
    ("cumprod", lambda x: lib(x).cumprod(x, 2), [(2, 3)], False, ()),
    ("prod", lambda x: x.prod(5), [(2, 3)], False, ()),
    ("norm", lambda x: x.norm(dim=2), [(2, 3)], False, ()),
    ("sort", lambda x: x.sort(dim=2), [(2, 3)], False, ()),
    ("argsort", lambda x: x.argsort(dim=-3), [(2, 3)], False, ()),
    ("topk-dim", lambda x: x.topk(1, dim=2), [(2, 3)], False, ()),
    ("gather-dim", lambda x: x.gather(2, _idx(x, [[0]])), [(2, 3)], False, ()),
    ("index_select-dim", lambda x: x.index_select(2, _idx(x, [0])), [(2, 3)], False, ()),
    ("diagonal-dim", lambda x: x.diagonal(0, 0, 2), [(2, 3)], False, ()),
    ("split-dim", lambda x: x.split(1, dim=2), [(2, 3)], False, ()),
    ("chunk-dim", lambda x: x.chunk(2, dim=-3), [(2, 3)], False, ()),
    ("amax-axis", lambda x: x.amax(axis=3), [(2, 3)], False, ()),
    ("sum-axis", lambda x: x.sum(axis=2), [(2, 3)], False, ()),
    ("mode-dim", lambda x: x.mode(2), [(2, 3)], False, ()),
    # an integer tensor where a float is needed
    ("mean-int", lambda x: _long(x).mean(), [(2, 3)], False, ("int64",)),
    ("norm-int", lambda x: _long(x).norm(), [(2, 3)], False, ()),
    ("inv-int", lambda x: lib(x).linalg.inv(_long(x)), [(3, 3)], False, ()),
    ("requires-grad-int", lambda x: _long(x).requires_grad_(), [(2,)], False, ()),
    # out-of-range targets and indices
    ("gather-index", lambda x: x.gather(1, _idx(x, [[0, 3]])), [(2, 3)], False, ("3",)),
    ("scatter-index", lambda x: x.scatter(1, _idx(x, [[0, 5]]), 1.0), [(2, 3)], False, ("5",)),
    ("index_select-index", lambda x: x.index_select(0, _idx(x, [0, 2])), [(2, 3)], False, ()),
    ("topk-k", lambda x: x.topk(4), [(2, 3)], False, ()),
    ("nll-target", lambda x: F(x).nll_loss(x, _idx(x, [0, 7])), [(2, 3)], False, ("7",)),
    ("one-hot-class", lambda x: F(x).one_hot(_idx(x, [0, 3]), 3), [(1,)], False, ()),
    ("div-int-zero", lambda x: lib(x).div(_long(x * 0 + 3), 0, rounding_mode="trunc"), [(2,)], False, ()),
    ("cholesky-not-pd", lambda x: lib(x).linalg.cholesky(-lib(x).eye(3, dtype=x.dtype)), [(1,)], False, ()),
    # a freed graph
    ("freed-sin-cumsum", lambda x: _backward_twice(x.sin().cumsum(0).sum()), [(3,)], True, ("retain_graph",)),
    ("freed-gather", lambda x: _backward_twice(x.gather(0, _idx(x, [1, 1])).sum()), [(3,)], True, ("retain_graph",)),
    ("freed-inv", lambda x: _backward_twice(lib(x).linalg.inv(x + 3 * lib(x).eye(2, dtype=x.dtype)).sum()),
     [(2, 2)], True, ("retain_graph",)),
    ("freed-norm", lambda x: _backward_twice(x.norm()), [(3,)], True, ("retain_graph",)),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_error_table(case: tuple) -> None:
    """Each bad input raises torch's exception type; the message names the shapes or values involved."""
    _, fn, shapes, requires_grad, names = case
    err = raises_like_torch(fn, *shapes, requires_grad=requires_grad)
    for name in names:
        assert name in str(err), f"message {str(err)!r} should mention {name!r}"
