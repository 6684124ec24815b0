"""Losses against torch: every reduction, class weights, ignore_index, probability targets, and
numerical stability at logits of +-100. float64 at the policy's tolerances; float32 stated below."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minidl
import minidl.nn.functional as MF
from parity.coverage import covers
from parity.helpers import parity_op

REDUCTIONS = ["mean", "sum", "none"]
F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
# float32: log-softmax and the mean over the batch are short sums; a few ulp of slack.
F32 = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)

TARGET = np.array([0, 3, 1, 3, 2])
TARGET_IGNORED = np.array([0, -100, 1, 3, -100])
W = np.array([0.2, 1.0, 2.5, 0.7])


def F(x: object) -> object:
    return TF if isinstance(x, torch.Tensor) else MF


def lib(x: object) -> object:
    return torch if isinstance(x, torch.Tensor) else minidl


@covers("LogSoftmax", "NLLLoss")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, F64), (np.float32, F32)])
def test_cross_entropy_indices(reduction: str, dtype: type, tol: dict) -> None:
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(TARGET), reduction=reduction), None, [(5, 4)],
              dtype=dtype, op="NLLLoss", **tol)


@covers("NLLLoss")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weight_and_ignore_index(reduction: str) -> None:
    def fn(x: object) -> object:
        L = lib(x)
        return F(x).cross_entropy(x, L.tensor(TARGET_IGNORED), weight=L.tensor(W), ignore_index=-100,
                                  reduction=reduction)
    parity_op(fn, None, [(5, 4)], op="NLLLoss", **F64)


@covers("NLLLoss")
def test_cross_entropy_custom_ignore_index_and_spatial() -> None:
    target = np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]])  # (N=2, d1=2, d2=2), 3 classes
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(target), ignore_index=1), None, [(2, 3, 2, 2)],
              op="NLLLoss", **F64)


@covers("NLLLoss")
def test_cross_entropy_unbatched() -> None:
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(2)), None, [(4,)], op="NLLLoss", **F64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(reduction: str) -> None:
    probs = np.random.default_rng(3).dirichlet(np.ones(4), size=5)
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(probs), reduction=reduction), None, [(5, 4)],
              op="LogSoftmax", **F64)
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(probs), weight=lib(x).tensor(W), reduction=reduction),
              None, [(5, 4)], op="LogSoftmax", **F64)


@covers("NLLLoss")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction: str) -> None:
    parity_op(lambda x: F(x).nll_loss(x.log_softmax(1), lib(x).tensor(TARGET), weight=lib(x).tensor(W),
                                      reduction=reduction), None, [(5, 4)], op="NLLLoss", **F64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse(reduction: str) -> None:
    parity_op(lambda x, y: F(x).mse_loss(x, y, reduction=reduction), None, [(5, 3), (5, 3)], op="Mul", **F64)


@covers("BinaryCrossEntropy")
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(reduction: str) -> None:
    y = np.random.default_rng(1).integers(0, 2, size=(6, 2)).astype(np.float64)
    w = np.array([0.5, 2.0])
    parity_op(lambda p: F(p).binary_cross_entropy(p, lib(p).tensor(y), reduction=reduction), None, [(6, 2)],
              low=0.05, high=0.95, op="BinaryCrossEntropy", **F64)
    parity_op(lambda p: F(p).binary_cross_entropy(p, lib(p).tensor(y), weight=lib(p).tensor(w), reduction=reduction),
              None, [(6, 2)], low=0.05, high=0.95, op="BinaryCrossEntropy", **F64)


@covers("BinaryCrossEntropy")
def test_bce_saturated_probabilities_clamp_log_at_minus_100() -> None:
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    parity_op(lambda q: F(q).binary_cross_entropy(q, lib(q).tensor(y), reduction="none"), None, [p],
              gradcheck=False, op="BinaryCrossEntropy", **F64)


@covers("BinaryCrossEntropyWithLogits")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, F64), (np.float32, F32)])
def test_bce_with_logits(reduction: str, dtype: type, tol: dict) -> None:
    y = np.random.default_rng(2).uniform(0, 1, size=(6, 3))  # soft targets are allowed
    pw = np.array([1.0, 3.0, 0.5])
    w = np.array([[2.0], [1.0], [0.5], [1.0], [1.0], [3.0]])

    def fn(x: object) -> object:
        L = lib(x)
        return F(x).binary_cross_entropy_with_logits(x, L.tensor(y.astype(dtype)), weight=L.tensor(w.astype(dtype)),
                                                     pos_weight=L.tensor(pw.astype(dtype)), reduction=reduction)
    parity_op(fn, None, [(6, 3)], dtype=dtype, op="BinaryCrossEntropyWithLogits", **tol)
    parity_op(lambda x: F(x).binary_cross_entropy_with_logits(x, lib(x).tensor(y.astype(dtype)), reduction=reduction),
              None, [(6, 3)], dtype=dtype, op="BinaryCrossEntropyWithLogits", **tol)


@covers("NLLLoss", "BinaryCrossEntropyWithLogits")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_are_finite_and_exact_at_logits_100(dtype: type) -> None:
    """Logits of +-100 overflow exp() in float32; the losses must stay finite and equal torch's."""
    logits = np.array([[100.0, -100.0, 0.0], [-100.0, -100.0, 100.0], [100.0, 100.0, -100.0]], dtype=dtype)
    target = np.array([1, 2, 0])
    tol = F64 if dtype == np.float64 else F32
    parity_op(lambda x: F(x).cross_entropy(x, lib(x).tensor(target), reduction="none"), None, [logits],
              dtype=dtype, gradcheck=False, op="NLLLoss", **tol)
    y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=dtype)
    parity_op(lambda x: F(x).binary_cross_entropy_with_logits(x, lib(x).tensor(y), reduction="none"), None,
              [logits], dtype=dtype, gradcheck=False, op="BinaryCrossEntropyWithLogits", **tol)
    x = minidl.tensor(logits, requires_grad=True)
    loss = MF.cross_entropy(x, minidl.tensor(target)) + MF.binary_cross_entropy_with_logits(x, minidl.tensor(y))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad.numpy()))


def test_loss_modules_match_functional() -> None:
    """The nn.*Loss modules are the functional forms with stored settings."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    t_mods = [torch.nn.CrossEntropyLoss(weight=torch.tensor(W), reduction="sum"),
              torch.nn.NLLLoss(reduction="none"), torch.nn.MSELoss(), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0)),
              torch.nn.BCELoss()]
    m_mods = [minidl.nn.CrossEntropyLoss(weight=minidl.tensor(W), reduction="sum"),
              minidl.nn.NLLLoss(reduction="none"), minidl.nn.MSELoss(), minidl.nn.BCEWithLogitsLoss(pos_weight=minidl.tensor(2.0)),
              minidl.nn.BCELoss()]
    y_prob = rng.uniform(size=(5, 4))
    for tm, mm in zip(t_mods, m_mods):
        if isinstance(tm, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)):
            args_t, args_m = (torch.tensor(x), torch.tensor(TARGET)), (minidl.tensor(x), minidl.tensor(TARGET))
        elif isinstance(tm, torch.nn.BCELoss):
            p = 1 / (1 + np.exp(-x))
            args_t, args_m = (torch.tensor(p), torch.tensor(y_prob)), (minidl.tensor(p), minidl.tensor(y_prob))
        else:
            args_t, args_m = (torch.tensor(x), torch.tensor(y_prob)), (minidl.tensor(x), minidl.tensor(y_prob))
        np.testing.assert_allclose(mm(*args_m).numpy(), tm(*args_t).numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=type(mm).__name__)
