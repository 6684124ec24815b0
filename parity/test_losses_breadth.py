"""SmoothL1Loss, HuberLoss, KLDivLoss, cross-entropy label_smoothing and nn.utils gradient clipping
against torch, plus the torch behaviours users rely on: size warnings, target checks, dtype errors."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as mnn
import minidl.nn.functional as MF
from parity.coverage import covers
from parity.helpers import assert_close, parity_op

F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
# float32: a handful of elementwise roundings, then a mean over <= 60 elements (pairwise vs sequential sum)
F32 = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)
REDUCTIONS = ["mean", "sum", "none"]


def both(name: str, **kw: Any) -> tuple[Any, Any]:
    return (lambda *a: getattr(torch.nn.functional, name)(*a, **kw)), (lambda *a: getattr(MF, name)(*a, **kw))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.4}),
                                     ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}),
                                     ("huber_loss", {"delta": 0.3})])
def test_robust_regression_losses(name: str, kw: dict, reduction: str) -> None:
    t_fn, m_fn = both(name, reduction=reduction, **kw)
    # inputs in [-2, 2]: differences fall on both sides of beta / delta
    parity_op(t_fn, m_fn, [(5, 6), (5, 6)], **F64)
    parity_op(t_fn, m_fn, [(5, 6), (5, 6)], dtype=np.float32, **F32)


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    rng = np.random.default_rng(0)
    logp = np.log(rng.dirichlet(np.ones(5), size=4))
    target = np.log(rng.dirichlet(np.ones(5), size=4)) if log_target else rng.dirichlet(np.ones(5), size=4)
    if not log_target:
        target[0, 1] = 0.0  # a zero-probability class: 0 log 0 = 0
    t_fn, m_fn = both("kl_div", reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "mean" warns in both libraries (checked below)
        parity_op(t_fn, m_fn, [logp, target], requires_grad=[True, False], **F64)
        parity_op(t_fn, m_fn, [logp, target], requires_grad=[True, False], dtype=np.float32, **F32)
        if not log_target:  # the target's gradient too, away from 0
            parity_op(t_fn, m_fn, [logp, rng.dirichlet(np.ones(5), size=4)], **F64)


def test_kl_div_batchmean_is_the_kl_divergence() -> None:
    """Independent of torch: sum_c y_c log(y_c / p_c), averaged over the batch."""
    rng = np.random.default_rng(1)
    p, y = rng.dirichlet(np.ones(4), size=3), rng.dirichlet(np.ones(4), size=3)
    expected = np.mean(np.sum(y * np.log(y / p), axis=1))
    got = mnn.KLDivLoss(reduction="batchmean")(minidl.tensor(np.log(p)), minidl.tensor(y)).item()
    assert abs(got - expected) < 1e-12


@covers("LogSoftmax", "NLLLoss")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["plain", "weight", "ignore", "weight+ignore", "spatial", "probs", "probs+weight"])
def test_cross_entropy_label_smoothing(case: str, reduction: str) -> None:
    rng = np.random.default_rng(2)
    spatial = case == "spatial"
    shape = (4, 5, 3) if spatial else (6, 5)
    if case.startswith("probs"):
        target = rng.dirichlet(np.ones(5), size=6)
    else:
        target = rng.integers(0, 5, size=(4, 3) if spatial else (6,))
        if "ignore" in case:
            target[[1, 4]] = 2
    kw: dict[str, Any] = dict(reduction=reduction, label_smoothing=0.2)
    if "ignore" in case:
        kw["ignore_index"] = 2
    weight = rng.uniform(0.5, 2.0, size=5) if "weight" in case else None
    for dtype, tol in ((np.float64, F64), (np.float32, F32)):
        t_kw = dict(kw, weight=None if weight is None else torch.from_numpy(weight.astype(dtype)))
        m_kw = dict(kw, weight=None if weight is None else minidl.tensor(weight.astype(dtype)))
        tgt = target.astype(dtype) if case.startswith("probs") else target
        parity_op(lambda x, y: torch.nn.functional.cross_entropy(x, y, **t_kw),
                  lambda x, y: MF.cross_entropy(x, y, **m_kw), [shape, tgt], dtype=dtype,
                  requires_grad=[True, False], **tol)
    t = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    m = mnn.CrossEntropyLoss(label_smoothing=0.1)
    x = rng.normal(size=(3, 4))
    y = np.array([0, 3, 1])
    assert_close(m(minidl.tensor(x), minidl.tensor(y)), t(torch.from_numpy(x), torch.from_numpy(y)), atol=1e-12,
                 rtol=0, what="CrossEntropyLoss(label_smoothing=0.1)")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(y), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        MF.cross_entropy(minidl.tensor(x), minidl.tensor(y), label_smoothing=1.5)
    # torch accepts a negative value (it only checks <= 1) and then ignores it; so does minidl
    assert abs(MF.cross_entropy(minidl.tensor(x), minidl.tensor(y), label_smoothing=-0.1).item()
               - torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(y),
                                                   label_smoothing=-0.1).item()) < 1e-12


@pytest.mark.parametrize("name,kwargs", [("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 0.5}),
                                         ("KLDivLoss", {"reduction": "batchmean"}), ("MSELoss", {}), ("L1Loss", {})])
def test_loss_modules(name: str, kwargs: dict) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 3)), rng.uniform(0.1, 1, size=(4, 3))
    t, m = getattr(torch.nn, name)(**kwargs), getattr(mnn, name)(**kwargs)
    assert_close(m(minidl.tensor(x), minidl.tensor(y)), t(torch.from_numpy(x), torch.from_numpy(y)),
                 atol=1e-12, rtol=1e-12, what=name)


# --------------------------------------------------------------------------- torch's warnings and errors
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_broadcasting_target_warns_like_torch(name: str) -> None:
    x, y = np.random.default_rng(0).normal(size=(3, 1)), np.random.default_rng(1).normal(size=3)
    with pytest.warns(UserWarning, match="different to the input size") as t_rec:
        t_out = getattr(torch.nn.functional, name)(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.warns(UserWarning, match="different to the input size") as m_rec:
        m_out = getattr(MF, name)(minidl.tensor(x), minidl.tensor(y))
    assert str(m_rec[0].message) == str(t_rec[0].message)
    assert_close(m_out, t_out, atol=1e-12, rtol=1e-12, what=f"{name} broadcast value")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same shapes: no warning
        getattr(MF, name)(minidl.tensor(x), minidl.tensor(x))


def test_kl_div_mean_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="batchmean") as t_rec:
        torch.nn.functional.kl_div(torch.zeros(2, 3), torch.full((2, 3), 1 / 3))
    with pytest.warns(UserWarning, match="batchmean") as m_rec:
        MF.kl_div(minidl.zeros(2, 3), minidl.full((2, 3), 1 / 3))
    assert str(m_rec[0].message) == str(t_rec[0].message)


def test_bce_target_outside_unit_interval_raises_like_torch() -> None:
    p = np.array([0.2, 0.5, 0.9])
    for y in ([0.0, 1.0, 2.0], [0.0, 1.0, -0.1]):
        with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
            torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y, dtype=torch.float64))
        with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
            MF.binary_cross_entropy(minidl.tensor(p), minidl.tensor(y))


@pytest.mark.parametrize("dtype,ok", [(np.int64, True), (np.uint8, True), (np.int32, False), (np.int16, False)])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_index_target_dtypes_like_torch(name: str, dtype: Any, ok: bool) -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    y = np.array([1, 0, 3], dtype=dtype)
    t_fn, m_fn = getattr(torch.nn.functional, name), getattr(MF, name)
    if ok:
        assert_close(m_fn(minidl.tensor(x), minidl.tensor(y)), t_fn(torch.from_numpy(x), torch.from_numpy(y)),
                     atol=1e-12, rtol=0, what=f"{name} with {np.dtype(dtype)} target")
        return
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte"):
        t_fn(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte"):
        m_fn(minidl.tensor(x), minidl.tensor(y))


@pytest.mark.parametrize("in_shape", [(200, 2), (2, 2), (2,)])
def test_linear_with_another_dtype_raises_like_torch(in_shape: tuple) -> None:
    t, m = torch.nn.Linear(2, 2), mnn.Linear(2, 2)  # float32 layers
    x = np.ones(in_shape)  # float64 input
    with pytest.raises(RuntimeError, match="must have the same dtype") as t_err:
        t(torch.from_numpy(x))
    with pytest.raises(RuntimeError, match="must have the same dtype") as m_err:
        m(minidl.tensor(x))
    assert str(t_err.value) in str(m_err.value)  # "mat1 and mat2 must have the same dtype, but got Double and Float"
    m.double()(minidl.tensor(x))  # converting the layer fixes it


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("LeakyReLU", (0.2,))])
def test_relu_inplace(name: str, args: tuple) -> None:
    """Outside a graph ``inplace=True`` overwrites the input and returns it, as torch. Inside a graph minidl
    returns a new tensor (same values and gradients as torch) and leaves the input alone (documented)."""
    x = np.random.default_rng(0).normal(size=(3, 4))
    t, m = getattr(torch.nn, name)(*args, inplace=True), getattr(mnn, name)(*args, inplace=True)
    assert repr(m) == repr(t)
    tx, mx = torch.from_numpy(x.copy()), minidl.tensor(x.copy())
    t_out, m_out = t(tx), m(mx)
    assert t_out is tx and m_out is mx
    assert_close(mx, tx, atol=0, rtol=0, what=f"{name} in place")
    # in a graph: after a non-leaf op, as in torchvision's Conv -> ReLU(inplace=True)
    parity_op(lambda a: t(a * 1.5), lambda a: m(a * 1.5), [(3, 4)], **F64)


# --------------------------------------------------------------------------- nn.utils
@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.2, float("inf")),
                                                (0.7, 3.0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm(max_norm: float, norm_type: float, dtype: Any) -> None:
    rng = np.random.default_rng(4)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    grads = [rng.normal(size=s).astype(dtype) for s in shapes]
    t_ps = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64 if dtype == np.float64 else torch.float32))
            for s in shapes]
    m_ps = [mnn.Parameter(np.zeros(s, dtype=dtype)) for s in shapes]
    for tp, mp, g in zip(t_ps, m_ps, grads):
        tp.grad, mp.grad = torch.from_numpy(g.copy()), minidl.tensor(g.copy())
    m_ps.append(mnn.Parameter(np.zeros(2, dtype=dtype)))  # a parameter without a gradient is skipped
    t_total = torch.nn.utils.clip_grad_norm_(t_ps, max_norm, norm_type)
    m_total = mnn.utils.clip_grad_norm_(m_ps, max_norm, norm_type)
    # float32: norms of 28 values, summed in another order than torch's vectorised reduction
    tol = dict(atol=1e-12, rtol=1e-12) if dtype == np.float64 else dict(atol=1e-6, rtol=2e-6)
    assert_close(m_total, t_total, what="total norm", **tol)
    for i, (tp, mp) in enumerate(zip(t_ps, m_ps)):
        assert_close(mp.grad, tp.grad, what=f"clipped grad {i}", **tol)
    # independent check: the joint norm after clipping is min(max_norm, before)
    flat = np.concatenate([mp.grad._data.ravel() for mp in m_ps[:3]]).astype(np.float64)
    after = np.max(np.abs(flat)) if np.isinf(norm_type) else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    assert after <= min(max_norm, float(m_total.item())) * (1 + 1e-5)


def test_clip_grad_value_single_tensor_and_nonfinite() -> None:
    g = np.array([[-3.0, 0.2], [0.9, 5.0]])
    tp, mp = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float64)), mnn.Parameter(np.zeros((2, 2)))
    tp.grad, mp.grad = torch.from_numpy(g.copy()), minidl.tensor(g.copy())
    assert torch.nn.utils.clip_grad_value_(tp, 0.5) is None and mnn.utils.clip_grad_value_(mp, 0.5) is None
    assert_close(mp.grad, tp.grad, atol=0, rtol=0, what="clip_grad_value_")
    tp = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    mp = mnn.Parameter(np.zeros(2))
    tp.grad, mp.grad = torch.tensor([np.inf, 1.0], dtype=torch.float64), minidl.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        mnn.utils.clip_grad_norm_(mp, 1.0, error_if_nonfinite=True)


def test_parameters_to_vector_round_trip() -> None:
    t = torch.nn.Linear(3, 2).double()
    m = mnn.Linear(3, 2).double()
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    tv, mv = torch.nn.utils.parameters_to_vector(t.parameters()), mnn.utils.parameters_to_vector(m.parameters())
    assert_close(mv, tv, atol=0, rtol=0, what="parameters_to_vector")
    torch.nn.utils.vector_to_parameters(tv * 2, t.parameters())
    mnn.utils.vector_to_parameters(mv * 2, m.parameters())
    for (k, a), b in zip(m.state_dict().items(), t.state_dict().values()):
        assert_close(a, b, atol=0, rtol=0, what=f"vector_to_parameters {k}")
