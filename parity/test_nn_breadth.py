"""The torch-named layers beyond the course's core, against torch: activations, LayerNorm, GroupNorm,
InstanceNorm2d, Embedding, Upsample / F.interpolate, Conv1d, Unflatten, F.normalize, F.cosine_similarity.

float64: outputs and gradients at rtol 1e-7 / atol 1e-9, plus central finite differences (parity_op).
float32 tolerances are stated where they are used.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as mnn
import minidl.nn.functional as MF
from parity.coverage import covers
from parity.helpers import assert_close, parity_module, parity_op
from parity.higher_order import declare_second_order, hvp_parity

F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
# float32 elementwise (one rounding per op, but a composed op rounds a few times): a few ulps.
F32 = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)
# float32 reductions over a few dozen elements (normalisation statistics, convolutions): sums in another order.
F32_RED = dict(atol=1e-5, rtol=1e-5, grad_atol=1e-5, grad_rtol=1e-5)


def fn(name: str, **kw: Any) -> tuple[Any, Any]:
    """The same functional call on both libraries (minidl's F mirrors torch's)."""
    return (lambda *a: getattr(torch.nn.functional, name)(*a, **kw)), (lambda *a: getattr(MF, name)(*a, **kw))


def modules(name: str, *args: Any, **kwargs: Any) -> tuple[torch.nn.Module, mnn.Module]:
    return getattr(torch.nn, name)(*args, **kwargs), getattr(mnn, name)(*args, **kwargs)


def randomise(t: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial affine parameters (torch starts them at ones/zeros, which would hide a swapped weight/bias)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) + 0.5)
    return t


# --------------------------------------------------------------------------- activations
ACTIVATIONS = [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("elu", {}), ("elu", {"alpha": 0.7}), ("silu", {}),
               ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 3.0}), ("hardtanh", {}),
               ("hardtanh", {"min_val": -0.5, "max_val": 0.8}), ("relu6", {})]


@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[f"{n}{kw}" for n, kw in ACTIVATIONS])
def test_activation_functional(name: str, kw: dict) -> None:
    t_fn, m_fn = fn(name, **kw)
    # inputs in [-4, 4] reach softplus's linear branch (beta x > 3) and relu6's upper bound (x > 6 via scaling)
    parity_op(lambda x: t_fn(x * 2), lambda x: m_fn(x * 2), [(5, 7)], low=-4, high=4, **F64)
    parity_op(lambda x: t_fn(x * 2), lambda x: m_fn(x * 2), [(5, 7)], low=-4, high=4, dtype=np.float32, **F32)


@covers("Erf")
def test_erf_large_inputs_and_softplus_overflow_are_finite() -> None:
    x = np.array([-40.0, -6.0, 0.0, 6.0, 40.0, 800.0])
    for name in ("gelu", "elu", "softplus", "silu"):
        t_fn, m_fn = fn(name)
        parity_op(t_fn, m_fn, [x], **F64, gradcheck=False)


@pytest.mark.parametrize("shape,n", [((4, 3, 5), 3), ((4, 3, 2, 2), 1), ((6,), 1), ((), 1)])
def test_prelu_functional_and_weight_gradient(shape: tuple, n: int) -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(0.05, 0.5, size=n)
    parity_op(torch.nn.functional.prelu, MF.prelu, [shape, w], **F64)


@pytest.mark.parametrize("name,args,kwargs", [
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("ELU", (0.5,), {}), ("SiLU", (), {}),
    ("Softplus", (), {"beta": 1.5, "threshold": 2.0}), ("PReLU", (), {}), ("PReLU", (3,), {"init": 0.1}),
    ("Hardtanh", (-0.3, 0.6), {}), ("ReLU6", (), {}), ("Unflatten", (1, (3, 2)), {}), ("Unflatten", (-1, (1, 6)), {})])
def test_activation_modules(name: str, args: tuple, kwargs: dict) -> None:
    t, m = modules(name, *args, **kwargs)
    assert repr(m) == repr(t)
    shape = (4, 6) if name == "Unflatten" else (4, 3, 5)
    parity_module(t.double(), m.double(), [shape], **F64)
    t, m = modules(name, *args, **kwargs)
    parity_module(t, m, [shape], dtype=np.float32, copy_from="minidl", **F32)


def test_prelu_init_and_unflatten_errors() -> None:
    t, m = modules("PReLU", 4, init=0.3)
    assert_close(m.weight, t.weight, atol=0, rtol=0, what="PReLU init", check_dtype=False)
    for shape in [(2, 3), (4,)]:  # a 1-D input has one channel for torch, even with 4 slopes
        with pytest.raises(RuntimeError):
            torch.nn.functional.prelu(torch.ones(shape), torch.ones(4))
        with pytest.raises(RuntimeError):
            MF.prelu(minidl.ones(*shape), minidl.ones(4))
    with pytest.raises(RuntimeError):
        torch.nn.Unflatten(1, (4, 2))(torch.ones(2, 6))
    with pytest.raises(RuntimeError):
        mnn.Unflatten(1, (4, 2))(minidl.ones(2, 6))
    with pytest.raises(NotImplementedError):  # minidl refuses in-place for the new activations (see docstring)
        mnn.ELU(inplace=True)


# --------------------------------------------------------------------------- normalisation layers
@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("LayerNorm", (5,), {}, (3, 4, 5)), ("LayerNorm", ((4, 5),), {}, (3, 4, 5)),
    ("LayerNorm", (5,), {"bias": False}, (2, 5)),
    ("LayerNorm", ((3, 4, 5),), {"elementwise_affine": False}, (2, 3, 4, 5)),
    ("LayerNorm", (5,), {"eps": 1e-2}, (3, 5)),
    ("GroupNorm", (2, 6), {}, (3, 6, 4, 3)), ("GroupNorm", (3, 6), {"affine": False}, (2, 6, 5)),
    ("GroupNorm", (1, 4), {}, (2, 4)), ("GroupNorm", (4, 4), {"eps": 1e-3}, (2, 4, 3, 3)),
    ("InstanceNorm2d", (3,), {}, (2, 3, 4, 5)), ("InstanceNorm2d", (3,), {"affine": True}, (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), {"affine": True}, (3, 4, 5))])
def test_normalisation_layers(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    t, m = modules(name, *args, **kwargs)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    parity_module(randomise(t.double()), m.double(), [shape], **F64)
    # and with finite differences through the whole layer (weights fixed)
    parity_op(lambda x: t(x), lambda x: m(x), [shape], **F64)
    t, m = modules(name, *args, **kwargs)
    parity_module(randomise(t), m, [shape], dtype=np.float32, **F32_RED)


def test_instance_norm_running_stats_train_then_eval() -> None:
    t, m = modules("InstanceNorm2d", 3, affine=True, track_running_stats=True, momentum=0.3)
    t, m = randomise(t.double()), m.double()
    assert list(m.state_dict()) == list(t.state_dict())
    for seed in range(3):
        parity_module(t, m, [(2, 3, 4, 4)], seed=seed, **F64)  # compares the running buffers too
    t.eval()
    m.eval()
    parity_module(t, m, [(2, 3, 4, 4)], seed=5, **F64)
    parity_module(t, m, [(3, 4, 4)], seed=6, **F64)


def test_normalisation_errors_match_torch() -> None:
    cases = [(lambda nn, T: nn.LayerNorm(4)(T.ones(2, 5)), RuntimeError),
             (lambda nn, T: nn.GroupNorm(2, 4)(T.ones(2, 6, 3)), RuntimeError),
             (lambda nn, T: nn.GroupNorm(4, 6), ValueError),
             (lambda nn, T: nn.InstanceNorm2d(3)(T.ones(2, 3)), ValueError)]
    for make, exc in cases:
        with pytest.raises(exc):
            make(torch.nn, torch)
        with pytest.raises(exc):
            make(mnn, minidl)


# --------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_module(padding_idx: int | None) -> None:
    t, m = modules("Embedding", 6, 4, padding_idx=padding_idx)
    assert repr(m) == repr(t)
    ids = np.array([[0, 2, 5], [2, 2, 1]])
    parity_module(t.double(), m.double(), [ids], **F64)
    if padding_idx is not None:
        assert_close(m.weight.grad[padding_idx], np.zeros(4), atol=0, rtol=0, what="padding row gradient")
        assert not np.any(mnn.Embedding(6, 4, padding_idx=padding_idx).weight._data[padding_idx])
    t, m = modules("Embedding", 6, 4, padding_idx=padding_idx)
    parity_module(t, m, [ids], dtype=np.float32, **F32)


def test_embedding_functional_max_norm_from_pretrained_and_errors() -> None:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 3)) * 2
    ids = np.array([4, 0, 4, 3])
    parity_op(lambda w: torch.nn.functional.embedding(torch.from_numpy(ids), w),
              lambda w: MF.embedding(minidl.tensor(ids), w), [W], **F64)
    tw, mw = torch.from_numpy(W.copy()), minidl.tensor(W.copy())
    t_out = torch.nn.functional.embedding(torch.from_numpy(ids), tw, max_norm=1.5)
    m_out = MF.embedding(minidl.tensor(ids), mw, max_norm=1.5)
    assert_close(m_out, t_out, what="embedding max_norm output", atol=1e-9, rtol=1e-7)
    assert_close(mw, tw, what="embedding max_norm renormalised table", atol=1e-9, rtol=1e-7)
    t = torch.nn.Embedding.from_pretrained(torch.from_numpy(W), padding_idx=1)
    m = mnn.Embedding.from_pretrained(minidl.tensor(W), padding_idx=1)
    assert not m.weight.requires_grad and m.padding_idx == t.padding_idx == 1
    assert_close(m(minidl.tensor(ids)), t(torch.from_numpy(ids)), what="from_pretrained", atol=0, rtol=0)
    with pytest.raises(RuntimeError):
        torch.nn.functional.embedding(torch.tensor([0.0, 1.0]), tw)
    with pytest.raises(RuntimeError):
        MF.embedding(minidl.tensor([0.0, 1.0]), mw)
    with pytest.raises(IndexError):
        torch.nn.functional.embedding(torch.tensor([5]), tw)
    with pytest.raises(IndexError):
        MF.embedding(minidl.tensor([5]), mw)


# --------------------------------------------------------------------------- interpolate / Upsample
INTERP = [
    ((2, 3, 4, 5), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 4, 5), dict(size=(7, 3), mode="nearest")),
    ((1, 2, 5, 7), dict(scale_factor=(1.7, 0.6), mode="nearest")),
    ((1, 2, 5, 7), dict(size=(9, 4), mode="nearest-exact")),
    ((2, 3, 4, 5), dict(scale_factor=2, mode="bilinear", align_corners=False)),
    ((2, 3, 4, 5), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ((1, 2, 5, 7), dict(size=(8, 3), mode="bilinear")),
    ((1, 2, 5, 7), dict(size=(1, 9), mode="bilinear", align_corners=True)),
    ((1, 2, 5, 7), dict(scale_factor=1.3, mode="bilinear", recompute_scale_factor=True)),
    ((1, 2, 6, 6), dict(scale_factor=(0.5, 0.7), mode="bilinear")),
    ((2, 3, 7), dict(scale_factor=2.5, mode="linear")),
    ((2, 3, 7), dict(size=4, mode="linear", align_corners=True)),
    ((2, 3, 7), dict(size=10, mode="nearest")),
    ((1, 2, 6, 7), dict(size=(4, 3), mode="area")),
    ((2, 3, 7), dict(size=3, mode="area")),
]


@pytest.mark.parametrize("shape,kw", INTERP, ids=[f"{s}-{kw}" for s, kw in INTERP])
def test_interpolate(shape: tuple, kw: dict) -> None:
    t_fn, m_fn = fn("interpolate", **kw)
    parity_op(t_fn, m_fn, [shape], **F64)
    # float32: the interpolation weights are rounded to float32 (as torch computes them), then 2 products
    parity_op(t_fn, m_fn, [shape], dtype=np.float32, **F32)


def test_upsample_modules_and_errors() -> None:
    for args, kwargs in [((), dict(scale_factor=2)), ((), dict(size=(3, 8), mode="bilinear")),
                         ((), dict(scale_factor=1.5, mode="bilinear", align_corners=True))]:
        t, m = modules("Upsample", *args, **kwargs)
        assert repr(m) == repr(t)
        parity_module(t, m, [(2, 2, 4, 5)], **F64)
    for name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        t, m = modules(name, scale_factor=2)
        parity_module(t, m, [(1, 2, 3, 4)], **F64)
    bad = [(dict(size=4, scale_factor=2), ValueError, (1, 1, 3, 3)), (dict(), ValueError, (1, 1, 3, 3)),
           (dict(size=4, mode="nearest", align_corners=True), ValueError, (1, 1, 3, 3)),
           (dict(size=4, mode="bilinear"), NotImplementedError, (1, 1, 3)),
           (dict(size=(4, 4, 4), mode="nearest"), ValueError, (1, 1, 3, 3))]
    for kw, exc, shape in bad:
        with pytest.raises(exc):
            torch.nn.functional.interpolate(torch.ones(shape), **kw)
        with pytest.raises(exc):
            MF.interpolate(minidl.ones(*shape), **kw)


# --------------------------------------------------------------------------- Conv1d
@covers("Conv2d")
@pytest.mark.parametrize("args,kwargs,shape", [
    ((3, 4, 3), {}, (2, 3, 9)), ((3, 4, 3), {"stride": 2, "padding": 1}, (2, 3, 9)),
    ((4, 6, 2), {"groups": 2, "dilation": 2, "bias": False}, (2, 4, 8)), ((3, 2, 4), {"padding": "same"}, (2, 3, 7)),
    ((3, 2, 3), {"padding": "valid"}, (3, 6)), ((2, 2, (3,)), {"stride": (1,), "padding": (2,)}, (1, 2, 5))])
def test_conv1d(args: tuple, kwargs: dict, shape: tuple) -> None:
    t, m = modules("Conv1d", *args, **kwargs)
    assert repr(m) == repr(t)
    assert m.weight.shape == tuple(t.weight.shape)
    parity_module(t.double(), m.double(), [shape], **F64)
    parity_op(lambda x: t(x), lambda x: m(x), [shape], **F64)
    t, m = modules("Conv1d", *args, **kwargs)
    parity_module(t, m, [shape], dtype=np.float32, **F32_RED)


def test_conv1d_functional_and_errors() -> None:
    w = np.random.default_rng(0).normal(size=(4, 3, 2))
    b = np.random.default_rng(1).normal(size=4)
    parity_op(lambda x, w, b: torch.nn.functional.conv1d(x, w, b, stride=2),
              lambda x, w, b: MF.conv1d(x, w, b, stride=2), [(2, 3, 7), w, b], **F64)
    with pytest.raises(RuntimeError):
        torch.nn.Conv1d(3, 4, 2)(torch.ones(2, 5, 7))
    with pytest.raises(RuntimeError):
        mnn.Conv1d(3, 4, 2)(minidl.ones(2, 5, 7))
    with pytest.raises(RuntimeError):
        torch.nn.Conv1d(3, 4, 2)(torch.ones(1, 2, 3, 7))
    with pytest.raises(RuntimeError):
        mnn.Conv1d(3, 4, 2)(minidl.ones(1, 2, 3, 7))


# --------------------------------------------------------------------------- normalize / cosine_similarity
@pytest.mark.parametrize("kw", [{}, {"p": 1.0}, {"p": 3.0, "dim": 0}, {"dim": -1, "eps": 0.5}])
def test_normalize(kw: dict) -> None:
    t_fn, m_fn = fn("normalize", **kw)
    parity_op(t_fn, m_fn, [(4, 5)], **F64)
    parity_op(t_fn, m_fn, [(4, 5)], dtype=np.float32, **F32)


def test_normalize_zero_vector_has_finite_zero_gradient_like_torch() -> None:
    x = np.zeros((2, 3))
    x[1] = [1.0, -2.0, 0.5]
    t_fn, m_fn = fn("normalize", dim=1)
    parity_op(t_fn, m_fn, [x], **F64, gradcheck=False)  # finite differences are not defined at the kink


@pytest.mark.parametrize("shapes,kw", [([(4, 5), (4, 5)], {}), ([(4, 5), (1, 5)], {}),
                                       ([(3, 4, 2), (4, 2)], {"dim": -1}),
                                       ([(3, 4), (3, 4)], {"dim": 0, "eps": 1e-3})])
def test_cosine_similarity(shapes: list, kw: dict) -> None:
    t_fn, m_fn = fn("cosine_similarity", **kw)
    parity_op(t_fn, m_fn, shapes, **F64)
    parity_op(t_fn, m_fn, shapes, dtype=np.float32, **F32)
    # near-zero vectors: the value is clamped by eps, the gradient goes through the unclamped norm (torch)
    tiny = np.full((2, 3), 1e-10)
    parity_op(fn("cosine_similarity")[0], fn("cosine_similarity")[1], [tiny, (2, 3)], **F64, gradcheck=False)


# --------------------------------------------------------------------------- second derivatives
declare_second_order("Erf")


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "elu", "silu", "softplus", "layer_norm", "group_norm",
                                  "normalize", "interpolate", "cosine_similarity"])
def test_second_derivatives_of_composed_layers(name: str) -> None:
    """Hessian-vector products against torch: the layers are built from twice-differentiable ops."""
    def f(lib: Any, x: Any, w: Any) -> Any:
        F = lib.nn.functional
        y = {"gelu": lambda: F.gelu(x * w), "gelu_tanh": lambda: F.gelu(x * w, approximate="tanh"),
             "elu": lambda: F.elu(x * w, 0.7), "silu": lambda: F.silu(x * w),
             "softplus": lambda: F.softplus(x * w, 2.0),
             "layer_norm": lambda: F.layer_norm(x, (4,), w[0]), "group_norm": lambda: F.group_norm(x * w, 2),
             "normalize": lambda: F.normalize(x * w), "cosine_similarity": lambda: F.cosine_similarity(x, w),
             "interpolate": lambda: F.interpolate((x * w).reshape(1, 1, 3, 4), scale_factor=1.5, mode="bilinear"),
             }[name]()
        return (y * y.tanh()).sum()
    rng = np.random.default_rng(0)
    hvp_parity(f, [rng.normal(size=(3, 4)), rng.uniform(0.5, 1.5, size=(3, 4))], f"second derivative of {name}",
               ops=["Erf"] if name == "gelu" else ())


@pytest.mark.parametrize("name,args,shapes", [
    ("layer_norm", ((4,),), [(3, 5, 4), (4,), (4,)]), ("layer_norm", ((5, 4),), [(3, 5, 4), (5, 4), (5, 4)]),
    ("group_norm", (3,), [(2, 6, 5), (6,), (6,)]), ("instance_norm", (), [(2, 3, 4, 5)])])
def test_normalisation_functional_with_weight_gradients(name: str, args: tuple, shapes: list) -> None:
    """The functional forms, with the affine weight and bias as inputs (checked by finite differences too)."""
    def call(F: Any) -> Any:
        if name == "instance_norm":
            return lambda x: F.instance_norm(x)
        return lambda x, w, b: getattr(F, name)(x, *args, w, b)
    parity_op(call(torch.nn.functional), call(MF), shapes, **F64)
    parity_op(call(torch.nn.functional), call(MF), shapes, dtype=np.float32, **F32_RED)
