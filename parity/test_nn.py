"""nn layers against torch with copied weights (both directions), the Module API, and Dropout."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as mnn
from parity.coverage import covers
from parity.helpers import assert_close, copy_weights, parity_module

F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
# float32: a Linear layer's output is a dot product of length in_features; BLAS sums in another order.
F32 = dict(atol=1e-5, rtol=1e-5, grad_atol=1e-5, grad_rtol=1e-5)


def pair(factory: str, *args: object, **kwargs: object) -> tuple[torch.nn.Module, mnn.Module]:
    return getattr(torch.nn, factory)(*args, **kwargs), getattr(mnn, factory)(*args, **kwargs)


@covers("Matmul", "Permute")
@pytest.mark.parametrize("copy_from", ["torch", "minidl"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(copy_from: str, bias: bool) -> None:
    t, m = pair("Linear", 5, 3, bias=bias)
    parity_module(t.double(), m.double(), [(4, 5)], copy_from=copy_from, **F64)
    t, m = pair("Linear", 5, 3, bias=bias)
    parity_module(t, m, [(2, 4, 5)], dtype=np.float32, copy_from=copy_from, **F32)


@pytest.mark.parametrize("name,args", [("Tanh", ()), ("ReLU", ()), ("Sigmoid", ()), ("LeakyReLU", (0.1,)),
                                        ("Softmax", (1,)), ("LogSoftmax", (1,)), ("Identity", ()), ("Flatten", ()),
                                        ("Flatten", (0, 1))])
def test_activation_and_shape_modules(name: str, args: tuple) -> None:
    t, m = pair(name, *args)
    parity_module(t.double(), m.double(), [(3, 4, 2)], **F64)


def mlp(lib: object) -> object:
    nn = lib.nn
    return nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 10)), ("act", nn.Tanh()), ("out", nn.Linear(10, 3)),
                                      ("logp", nn.LogSoftmax(dim=1))]))


def test_sequential_state_dict_keys_and_repr_match_torch() -> None:
    t = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(), torch.nn.Dropout(0.3), torch.nn.Linear(10, 2))
    m = mnn.Sequential(mnn.Linear(2, 10), mnn.Tanh(), mnn.Dropout(0.3), mnn.Linear(10, 2))
    assert list(m.state_dict()) == list(t.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert repr(m) == repr(t)
    named = OrderedDict([("hidden", mnn.Linear(2, 10)), ("act", mnn.Tanh())])
    assert list(mnn.Sequential(named).state_dict()) == ["hidden.weight", "hidden.bias"]
    assert repr(mlp(minidl)) == repr(mlp(torch))


@covers("LogSoftmax")
def test_named_sequential_model_parity_both_ways() -> None:
    for copy_from in ("torch", "minidl"):
        parity_module(mlp(torch).double(), mlp(minidl).double(), [(6, 2)], copy_from=copy_from, **F64)


def test_module_api_mirrors_torch() -> None:
    t, m = mlp(torch), mlp(minidl)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [type(c).__name__ for c in m.children()] == [type(c).__name__ for c in t.children()]
    assert [type(c).__name__ for c in m.modules()] == [type(c).__name__ for c in t.modules()]
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t.parameters()) == 63
    visited = []
    m.apply(lambda mod: visited.append(type(mod).__name__))
    tv = []
    t.apply(lambda mod: tv.append(type(mod).__name__))
    assert visited == tv
    m.eval()
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    m.double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.to(minidl.float32)
    assert all(p.dtype == np.float32 for p in m.parameters())
    out = m(minidl.randn(4, 2)).sum()
    out.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_load_state_dict_errors_like_torch() -> None:
    m, t = mnn.Linear(3, 2), torch.nn.Linear(3, 2)
    bad = {"weight": np.zeros((2, 4)), "bias": np.zeros(2)}
    with pytest.raises(RuntimeError, match="size mismatch for weight") as mine:
        m.load_state_dict(bad)
    with pytest.raises(type(mine.value)):
        t.load_state_dict({k: torch.tensor(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError, match="Missing key"):
        m.load_state_dict({"weight": np.zeros((2, 3))})
    res = m.load_state_dict({"weight": np.zeros((2, 3)), "extra": np.zeros(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["extra"]


def test_copy_weights_is_exact_both_ways() -> None:
    t, m = mlp(torch).double(), mlp(minidl).double()
    copy_weights(t, m)
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k].numpy(), v.numpy())
    m2 = mlp(minidl).double()
    copy_weights(m2, t)
    for k, v in m2.state_dict().items():
        np.testing.assert_array_equal(t.state_dict()[k].numpy(), v.numpy())


@covers("Dropout")
def test_dropout_mask_scaling_and_gradient_match_torch_semantics() -> None:
    """torch and minidl draw different masks; given minidl's mask, the output and gradient must be
    torch's x * m / (1 - p), and the fraction dropped must be p (a binomial test that can fail)."""
    p = 0.3
    x_np = np.random.default_rng(0).uniform(0.5, 1.5, size=(200, 50))
    x = minidl.tensor(x_np, requires_grad=True)
    minidl.manual_seed(0)
    y = minidl.nn.functional.dropout(x, p=p, training=True)
    mask = (y.detach().numpy() != 0).astype(np.float64)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = xt * torch.tensor(mask) / (1 - p)
    assert_close(y, yt, atol=1e-12, rtol=1e-12, what="dropout forward")
    g = np.random.default_rng(1).normal(size=x_np.shape)
    y.backward(minidl.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(x.grad, xt.grad, atol=1e-12, rtol=1e-12, what="dropout backward")
    n = mask.size
    dropped = n - mask.sum()
    sd = np.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 5 * sd, f"dropped {dropped} of {n}, expected {n * p:.0f} +- {5 * sd:.0f}"
    drop = mnn.Dropout(p).eval()
    np.testing.assert_array_equal(drop(x).detach().numpy(), x_np)
    assert repr(drop) == repr(torch.nn.Dropout(p))
    zero = minidl.nn.functional.dropout(x, p=1.0)
    assert not zero.detach().numpy().any()
