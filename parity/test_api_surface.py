"""Public callables that had no parity test (issue 8's audit), each against torch: in-place methods,
comparisons, conversions, aliases, constructors and random-number helpers, grad-mode switches, and a
few functional / module / init / optimiser-base entries.

Each check runs the same call on both libraries (``lib(x)`` picks torch or minidl) and compares what
torch defines: values (float64 rtol 1e-7 / atol 1e-9), dtype and shape; for random functions, where
the streams differ by design, the distributional contract (range, permutation, reproducibility)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from parity.helpers import assert_close, parity_op

TOL = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
X = np.random.default_rng(0).uniform(-2, 2, (3, 4))


def lib(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else minidl


def F(x: Any) -> Any:
    return torch.nn.functional if isinstance(x, torch.Tensor) else minidl.nn.functional


def both(fn: Callable[[Any], Any], arr: np.ndarray = X, what: str = "") -> None:
    """``fn(tensor)`` on a copy of ``arr`` in each library (no gradients); results compared exactly in
    type and closely in value."""
    t = fn(torch.tensor(arr.copy()))
    m = fn(minidl.tensor(arr.copy()))
    if isinstance(t, (bool, int, float)):
        assert type(m) is type(t) and m == t, f"{what}: {m!r} != torch {t!r}"
        return
    assert_close(m, t, atol=1e-12, rtol=1e-12, what=what or getattr(fn, "__name__", "call"))


INPLACE = {
    "add_": lambda a: a.add_(1.5), "add_-alpha": lambda a: a.add_(a * 0 + 1, alpha=2.0),
    "sub_": lambda a: a.sub_(0.5), "mul_": lambda a: a.mul_(a), "div_": lambda a: a.div_(4.0),
    "clamp_": lambda a: a.clamp_(-1.0, 0.5), "fill_": lambda a: a.fill_(3.0), "zero_": lambda a: a.zero_(),
    "masked_fill_": lambda a: a.masked_fill_(a > 0, -7.0),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_methods_return_self_and_match(name: str) -> None:
    fn = INPLACE[name]
    both(lambda a: (fn(a), a)[1], what=name)
    m = minidl.tensor(X.copy())
    assert fn(m) is m, f"{name} must return the tensor itself"


def test_comparisons_and_named_arithmetic() -> None:
    y = np.round(X, 0)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        both(lambda a: getattr(a, name)(lib(a).tensor(y)), what=name)
        both(lambda a: getattr(a, name)(0.5), what=f"{name} scalar")
    parity_op(lambda a, b: a.mul(b) + a.sub(b) + lib(a).mul(a, 2.0) - lib(a).sub(a, b, alpha=0.5), None,
              [(3, 4), (4,)], op=("Mul", "Sub"), **TOL)
    parity_op(lambda a, b: lib(a).multiply(a, b) + lib(a).subtract(a, b), None, [(3, 4), (3, 1)], **TOL)
    parity_op(lambda a, b: lib(a).bmm(a, b), None, [(2, 3, 4), (2, 4, 2)], op="Matmul", **TOL)


def test_shape_aliases() -> None:
    parity_op(lambda a: a.swapaxes(0, 2) * 2, None, [(2, 3, 4)], op="Permute", **TOL)
    parity_op(lambda a: lib(a).swapaxes(a, 1, -1) + lib(a).swapdims(a, 1, 2), None, [(2, 3, 3)], **TOL)
    parity_op(lambda a: a.swapdims(0, 1), None, [(2, 3)], **TOL)
    parity_op(lambda a: lib(a).broadcast_to(a, (2, 3, 4)), None, [(3, 1)], op="Expand", **TOL)
    parity_op(lambda a, b: a.expand_as(b) * b, None, [(1, 4), (3, 4)], **TOL)
    parity_op(lambda a, b: a.reshape_as(b) + b, None, [(2, 6), (3, 4)], **TOL)
    parity_op(lambda a, b: lib(a).concat([a, b], dim=1), None, [(2, 3), (2, 1)], op="Cat", **TOL)


def test_conversions_and_queries() -> None:
    i = np.array([[1, -2], [3, 4]])
    both(lambda a: a.type_as(a.long()), what="type_as long")
    both(lambda a: (a * 2.7).long(), what="long")
    both(lambda a: a.cpu() + 1, what="cpu")
    both(lambda a: a.dim(), what="dim")
    both(lambda a: a.is_floating_point(), what="is_floating_point")
    both(lambda a: a.is_floating_point(), i, what="is_floating_point int")
    both(lambda a: a.is_contiguous(), what="is_contiguous")
    both(lambda a: a.new_empty(2, 3).shape == (2, 3) and a.new_empty(2, 3).dtype == a.dtype, what="new_empty")
    both(lambda a: lib(a).is_tensor(a), what="is_tensor")
    assert minidl.is_tensor(X) is torch.is_tensor(X) is False
    both(lambda a: lib(a).as_tensor(a.numpy()) * 2, what="as_tensor")
    both(lambda a: lib(a).zeros_like(a), what="zeros_like")
    both(lambda a: lib(a).linspace(-1.0, 2.0, 7, dtype=a.dtype), what="linspace")
    both(lambda a: lib(a).linspace(0, 1, 1), what="linspace steps=1")


def test_random_helpers_contracts() -> None:
    """Streams differ from torch's by design; shapes, dtypes, ranges and reproducibility match."""
    for L in (torch, minidl):
        L.manual_seed(3)
        a = L.rand_like(L.zeros(4, 5, dtype=L.float64))
        b = L.randn_like(L.zeros(2, 3))
        c = L.randint(2, 9, (50,))
        p = L.randperm(10)
        assert tuple(a.shape) == (4, 5) and str(a.dtype).endswith("float64") and 0 <= a.min() and a.max() < 1
        assert tuple(b.shape) == (2, 3) and str(b.dtype).endswith("float32")
        assert str(c.dtype).endswith("int64") and c.min() >= 2 and c.max() < 9
        assert sorted(p.tolist()) == list(range(10)) and str(p.dtype).endswith("int64")
        state = L.get_rng_state()
        first = L.rand(3).tolist()
        L.set_rng_state(state)
        assert L.rand(3).tolist() == first, f"{L.__name__}: set_rng_state does not replay the stream"
        L.manual_seed(11)
        assert L.initial_seed() == 11
        L.seed()
        assert isinstance(L.initial_seed(), int)


def test_grad_mode_switches() -> None:
    for L in (torch, minidl):
        x = L.ones(2, requires_grad=True)
        with L.no_grad():
            assert not L.is_grad_enabled()
            with L.enable_grad():
                assert L.is_grad_enabled() and (x * 2).requires_grad
            with L.autograd.enable_grad():
                assert (x * 2).requires_grad
        with L.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        with L.autograd.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert L.is_grad_enabled()


def test_default_dtype() -> None:
    for L in (torch, minidl):
        assert str(L.get_default_dtype()).endswith("float32")
        L.set_default_dtype(L.float64)
        try:
            assert str(L.tensor([1.5]).dtype).endswith("float64")
            assert str(L.get_default_dtype()).endswith("float64")
        finally:
            L.set_default_dtype(L.float32)
        with pytest.raises(TypeError):
            L.set_default_dtype(L.int64)


def test_functional_gaps() -> None:
    labels = np.array([0, 3, 1, 3])
    both(lambda a: F(a).one_hot(a.long() % 4), labels.astype(float), what="one_hot")
    both(lambda a: F(a).one_hot(a.long(), num_classes=6), labels.astype(float), what="one_hot num_classes")
    with pytest.raises(RuntimeError):
        torch.nn.functional.one_hot(torch.tensor([0, 5]), 3)
    with pytest.raises(RuntimeError):
        minidl.nn.functional.one_hot(minidl.tensor([0, 5]), 3)
    parity_op(lambda a, b: F(a).l1_loss(a, b), None, [(3, 4), (3, 4)], gradcheck=False, **TOL)
    parity_op(lambda a, b: F(a).l1_loss(a, b, reduction="none"), None, [(3, 4), (4,)], **TOL)
    parity_op(lambda a: F(a).instance_norm(a), None, [(2, 3, 4, 5)], **TOL)


def test_init_eye_and_module_list() -> None:
    both(lambda a: (lib(a).nn.init.eye_(a), a)[1], what="nn.init.eye_")
    both(lambda a: (lib(a).nn.init.eye_(a), a)[1], np.zeros((4, 2)), what="nn.init.eye_ tall")
    for L in (torch, minidl):
        blocks = L.nn.ModuleList([L.nn.Linear(3, 3), L.nn.Tanh()])
        blocks.append(L.nn.Linear(3, 2))
        assert len(blocks) == 3 and len(list(blocks.parameters())) == 4
        assert [k for k, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


class _PlainSGD:
    """The same tiny optimiser written on each library's ``Optimizer`` base class (groups, state)."""

    @staticmethod
    def make(L: Any) -> type:
        class PlainSGD(L.optim.Optimizer):
            def __init__(self, params: Any, lr: float) -> None:
                super().__init__(params, dict(lr=lr))

            def step(self) -> None:
                with L.no_grad():
                    for group in self.param_groups:
                        for p in group["params"]:
                            n = self.state.setdefault(p, {}).get("n", 0) + 1
                            self.state[p]["n"] = n
                            p -= group["lr"] / n * p.grad
        return PlainSGD


def test_optimizer_base_class_and_scheduler_base() -> None:
    w0 = np.random.default_rng(1).normal(size=(3,))
    out = []
    for L in (torch, minidl):
        w = L.nn.Parameter(L.tensor(w0.copy()))
        opt = _PlainSGD.make(L)([w], lr=0.5)
        sched = L.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        assert isinstance(sched, L.optim.lr_scheduler.LRScheduler) and isinstance(opt, L.optim.Optimizer)
        for _ in range(4):
            opt.zero_grad()
            (w ** 3).sum().backward()
            opt.step()
            sched.step()
        out.append((w.detach().numpy().copy(), opt.param_groups[0]["lr"], opt.state[w]["n"]))
    assert_close(out[1][0], out[0][0], atol=1e-12, rtol=1e-12, what="custom Optimizer subclass")
    assert out[1][1:] == out[0][1:]


# the function forms (minidl.abs(x)...) and methods that the tables above reach only in the other form
FUNCTION_FORMS: list[tuple[str, Callable[..., Any], list[Any]]] = [
    ("unary", lambda a: lib(a).abs(a) + lib(a).exp(a) + lib(a).sqrt(a.abs() + 1) + lib(a).log1p(a.abs())
     + lib(a).neg(a) + lib(a).sign(a) * a + lib(a).cos(a) + lib(a).acos(a * 0.5) + lib(a).arccos(a * 0.4)
     + lib(a).tan(a * 0.5) + lib(a).sinh(a) + lib(a).exp2(a) + lib(a).log2(a.abs() + 1) + lib(a).rsqrt(a.abs() + 1)
     + lib(a).square(a) + a.square() + lib(a).floor(a) * a + lib(a).ceil(a) * a + lib(a).pow(a, 2)
     + lib(a).clone(a) + lib(a).clamp_max(a, 0.2), [(3, 4)]),
    ("binary", lambda a, b: lib(a).add(a, b) + lib(a).addcdiv(a, a, b.abs() + 1) + a.maximum(b) + a.minimum(b)
     + a.matmul(b.t() @ b) + a.mm(b.t() @ b), [(3, 4), (3, 4)]),
    ("reductions", lambda a: lib(a).amax(a, 1) + lib(a).amin(a, 1) + lib(a).max(a, 1).values + lib(a).min(a, 1)[0]
     + lib(a).mean(a, 1) + lib(a).var(a, 1) + lib(a).logsumexp(a, 1) + lib(a).max(a) + lib(a).min(a), [(3, 4)]),
    ("shapes", lambda a: lib(a).reshape(a, (4, 3)) * lib(a).permute(a, (1, 0)) + lib(a).t(a)
     + lib(a).squeeze(lib(a).unsqueeze(a, 0), 0).sum() + lib(a).concatenate([a, a], 1).sum()
     + lib(a).chunk(a, 2, 1)[0].sum() + lib(a).unbind(a, 1)[2].sum(), [(3, 4)]),
    ("selection", lambda a: lib(a).masked_fill(a, a > 0.5, 0.0).sum(1) + lib(a).mode(a.detach() * 0 + a, 1).values
     + lib(a).cummin(a, 1).values.sum(1) + a.cummax(1)[0].sum(1) + a.take_along_dim(lib(a).tensor([[1], [0], [3]]), 1)
     .sum(1) + a.fliplr().sum(1) + a.flipud().sum(1), [np.random.default_rng(8).permutation(12).reshape(3, 4) / 7.0]),
    ("linalg-methods", lambda a: (a @ a.t() + lib(a).eye(3, dtype=a.dtype)).det() + (a @ a.t() + lib(a).eye(3, dtype=a.dtype)).logdet()
     + (a @ a.t() + lib(a).eye(3, dtype=a.dtype)).slogdet()[1] + a[:, :3].cross(a[:, 1:]).sum(), [(3, 4)]),
]


@pytest.mark.parametrize("case", FUNCTION_FORMS, ids=[c[0] for c in FUNCTION_FORMS])
def test_function_forms(case: tuple) -> None:
    _, fn, inputs = case
    parity_op(fn, None, inputs, gradcheck=False, low=-0.9, high=0.9, **TOL)


def test_remaining_methods_and_functions(tmp_path: Any) -> None:
    i = np.array([[3, 0, -2], [1, 5, 0]])
    for fn in (lambda a: a.bool(), lambda a: a.int(), lambda a: a.floor_divide(2), lambda a: a.signbit(),
               lambda a: lib(a).any(a > 4), lambda a: lib(a).argmax(a, 1), lambda a: lib(a).argmin(a),
               lambda a: lib(a).logical_or(a > 2, a < 0), lambda a: lib(a).full_like(a, 7),
               lambda a: lib(a).numel(a), lambda a: a.size(), lambda a: a.size(-1),
               lambda a: a.allclose(a + 0), lambda a: lib(a).from_numpy(a.numpy() * 2)):
        t, m = fn(torch.tensor(i)), fn(minidl.tensor(i))
        if isinstance(t, torch.Tensor):
            assert_close(m, t, atol=0, rtol=0, what="integer method/function")
        else:
            assert tuple(m) == tuple(t) if isinstance(t, tuple) else m == t
    for L in (torch, minidl):
        g = L.Generator().manual_seed(5)
        a = L.rand(3, generator=g)
        b = L.rand(3, generator=L.Generator().manual_seed(5))
        assert a.tolist() == b.tolist(), f"{L.__name__}: Generator(seed) is not reproducible"
        x = L.zeros(200, dtype=L.float64)
        x.uniform_(-1.0, 3.0)
        assert -1.0 <= float(x.min()) and float(x.max()) < 3.0 and abs(float(x.mean()) - 1.0) < 0.3
        x.normal_(2.0, 0.5)
        assert abs(float(x.mean()) - 2.0) < 0.2 and abs(float(x.std()) - 0.5) < 0.15
        y = L.zeros(2, 3, dtype=L.float64)
        assert y.copy_(L.tensor(i).double()) is y and y.tolist() == i.tolist()
    state = {"w": minidl.tensor(np.arange(6.0).reshape(2, 3))}
    minidl.save(state, tmp_path / "m.pt")
    back = minidl.load(tmp_path / "m.pt")
    assert_close(back["w"], state["w"], atol=0, rtol=0, what="save/load round trip")
