"""Convolution, pooling, batch-norm and channel-dropout layers against torch, with copied weights.
float64 at the policy tolerances plus finite differences; float32 with the tolerances stated below."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minidl
import minidl.nn as mnn
import minidl.nn.functional as MF
from parity.coverage import covers
from parity.helpers import assert_close, parity_module, parity_op

F64 = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
# float32 convolutions: each output is a dot product of C*kh*kw terms summed in a different order than
# oneDNN's (BLAS blocking vs direct kernels), and weight gradients sum over N*Ho*Wo terms, so the error
# is absolute-ish (it does not shrink with an output that cancels to ~0). Measured on the cases below
# (AMD EPYC Zen 4, inputs in [-2, 2], outputs up to 40): max abs error 1.5e-5 forward (transposed conv;
# 9.5e-6 conv), 7.6e-6 on gradients. Bounds ~3x those, plus 1e-6 relative (~8 float32 ulps).
F32_CONV = dict(atol=4e-5, rtol=1e-6, grad_atol=2.5e-5, grad_rtol=1e-6)
# pooling selects or averages a handful of values: ulp-level.
F32_POOL = dict(atol=1e-6, rtol=1e-5, grad_atol=1e-6, grad_rtol=1e-5)
# batch norm: statistics over N*H*W values, then a division by a small std. Measured on BN_CASES: max
# abs error 3.6e-7 forward (outputs up to 1.8), 4.8e-7 on gradients (up to 10); bounds ~4x those.
F32_BN = dict(atol=1.5e-6, rtol=1e-6, grad_atol=2e-6, grad_rtol=1e-6)


def Fn(x: Any) -> Any:
    return TF if isinstance(x, torch.Tensor) else MF


CONV_CASES = [
    dict(x=(2, 3, 7, 8), w=(4, 3, 3, 3), kw=dict()),
    dict(x=(2, 3, 9, 9), w=(4, 3, 5, 5), kw=dict(padding=2)),
    dict(x=(2, 3, 9, 10), w=(4, 3, 3, 2), kw=dict(stride=(2, 3), padding=(1, 0))),
    dict(x=(1, 2, 11, 11), w=(3, 2, 3, 3), kw=dict(dilation=2, padding=1)),
    dict(x=(2, 4, 6, 6), w=(6, 2, 3, 3), kw=dict(groups=2, padding=1)),
    dict(x=(2, 3, 7, 7), w=(4, 3, 3, 3), kw=dict(padding="same")),
    dict(x=(2, 3, 7, 7), w=(4, 3, 4, 2), kw=dict(padding="same", dilation=(1, 3))),  # even kernel: odd total pad
    dict(x=(2, 3, 7, 7), w=(4, 3, 3, 3), kw=dict(padding="valid")),
    dict(x=(3, 8, 8), w=(4, 3, 3, 3), kw=dict(padding=1)),  # unbatched
]


@covers("Conv2d")
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: str(c["kw"]) + str(c["x"]))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(case: dict, bias: bool) -> None:
    shapes = [case["x"], case["w"]] + ([(case["w"][0],)] if bias else [])

    def fn(x: Any, w: Any, b: Any = None) -> Any:
        return Fn(x).conv2d(x, w, b, **case["kw"])
    parity_op(fn, None, shapes, op="Conv2d", **F64)
    parity_op(fn, None, shapes, op="Conv2d", dtype=np.float32, **F32_CONV)


TCONV_CASES = [
    dict(x=(2, 3, 5, 5), w=(3, 4, 3, 3), kw=dict()),
    dict(x=(2, 3, 4, 5), w=(3, 2, 4, 4), kw=dict(stride=2, padding=1)),
    dict(x=(1, 3, 4, 4), w=(3, 2, 3, 3), kw=dict(stride=2, padding=1, output_padding=1)),
    dict(x=(2, 4, 3, 3), w=(4, 3, 3, 2), kw=dict(stride=(2, 1), groups=2, dilation=(1, 2))),
    dict(x=(2, 100, 1, 1), w=(100, 8, 4, 4), kw=dict(stride=1, padding=0)),  # the DCGAN generator's first layer
]


@covers("ConvTranspose2d")
@pytest.mark.parametrize("case", TCONV_CASES, ids=lambda c: str(c["kw"]))
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(case: dict, bias: bool) -> None:
    shapes = [case["x"], case["w"]] + ([(case["w"][1] * case["kw"].get("groups", 1),)] if bias else [])

    def fn(x: Any, w: Any, b: Any = None) -> Any:
        return Fn(x).conv_transpose2d(x, w, b, **case["kw"])
    parity_op(fn, None, shapes, op="ConvTranspose2d", **F64)
    parity_op(fn, None, shapes, op="ConvTranspose2d", dtype=np.float32, **F32_CONV)


POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True),           # the course's pool3 with ceil_mode
    dict(kernel_size=2, stride=1, dilation=2, padding=1),
]


@covers("MaxPool2d")
@pytest.mark.parametrize("kw", POOL_CASES, ids=str)
def test_max_pool2d(kw: dict) -> None:
    fn = lambda x: Fn(x).max_pool2d(x, **kw)  # noqa: E731
    parity_op(fn, None, [(2, 3, 7, 9)], op="MaxPool2d", **F64)
    parity_op(fn, None, [(2, 3, 7, 9)], op="MaxPool2d", dtype=np.float32, **F32_POOL)


@covers("MaxPool2d")
def test_max_pool2d_ties_and_indices() -> None:
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]]])
    parity_op(lambda t: Fn(t).max_pool2d(t, 2, stride=1), None, [x], op="MaxPool2d", gradcheck=False, **F64)
    ti = TF.max_pool2d(torch.tensor(x), 2, 1, return_indices=True)[1]
    mi = MF.max_pool2d(minidl.tensor(x), 2, 1, return_indices=True)[1]
    np.testing.assert_array_equal(mi.numpy(), ti.numpy())
    rand = np.random.default_rng(0).normal(size=(2, 3, 9, 8))
    for kw in POOL_CASES:
        ti = TF.max_pool2d(torch.tensor(rand), return_indices=True, **kw)[1]
        mi = MF.max_pool2d(minidl.tensor(rand), return_indices=True, **kw)[1]
        np.testing.assert_array_equal(mi.numpy(), ti.numpy(), err_msg=str(kw))


@covers("AvgPool2d")
@pytest.mark.parametrize("kw", POOL_CASES[:4] + [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                                 dict(kernel_size=3, padding=1, ceil_mode=True, divisor_override=5),
                                                 dict(kernel_size=2, stride=2, padding=1, ceil_mode=True,
                                                      count_include_pad=True)], ids=str)
def test_avg_pool2d(kw: dict) -> None:
    kw = {k: v for k, v in kw.items() if k != "dilation"}
    fn = lambda x: Fn(x).avg_pool2d(x, **kw)  # noqa: E731
    parity_op(fn, None, [(2, 3, 7, 9)], op="AvgPool2d", **F64)
    parity_op(fn, None, [(2, 3, 7, 9)], op="AvgPool2d", dtype=np.float32, **F32_POOL)


@covers("AdaptiveAvgPool2d")
@pytest.mark.parametrize("size,out", [((2, 3, 7, 9), (1, 1)), ((2, 3, 14, 14), (7, 7)), ((1, 2, 10, 13), (7, 7)),
                                      ((1, 2, 5, 5), (7, 7)), ((2, 2, 9, 8), (3, None)), ((2, 2, 9, 8), 4)])
def test_adaptive_avg_pool2d(size: tuple, out: Any) -> None:
    fn = lambda x: Fn(x).adaptive_avg_pool2d(x, out)  # noqa: E731
    parity_op(fn, None, [size], op="AdaptiveAvgPool2d", **F64)
    parity_op(fn, None, [size], op="AdaptiveAvgPool2d", dtype=np.float32, **F32_POOL)


@covers("Pad")
def test_pad() -> None:
    parity_op(lambda x: Fn(x).pad(x, (1, 2, 0, 3)), None, [(2, 3, 4, 5)], op="Pad", **F64)
    parity_op(lambda x: Fn(x).pad(x, (2, 1), value=0.5), None, [(3, 4)], op="Pad", **F64)


# --------------------------------------------------------------------------- layers with copied weights
@pytest.mark.parametrize("copy_from", ["torch", "minidl"])
def test_conv_layers_state_dict_and_parity(copy_from: str) -> None:
    for t, m, shape in [
        (torch.nn.Conv2d(3, 8, 5, padding=2), mnn.Conv2d(3, 8, 5, padding=2), (2, 3, 8, 8)),
        (torch.nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False), mnn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False),
         (2, 4, 9, 9)),
        (torch.nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1), mnn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
         (2, 4, 5, 5)),
    ]:
        assert repr(m) == repr(t)
        parity_module(t.double(), m.double(), [shape], copy_from=copy_from, **F64)


def test_pool_and_dropout_module_reprs_match_torch() -> None:
    pairs = [(torch.nn.MaxPool2d(2), mnn.MaxPool2d(2)), (torch.nn.MaxPool2d(3, 2, ceil_mode=True), mnn.MaxPool2d(3, 2, ceil_mode=True)),
             (torch.nn.AvgPool2d(2), mnn.AvgPool2d(2)), (torch.nn.AdaptiveAvgPool2d((7, 7)), mnn.AdaptiveAvgPool2d((7, 7))),
             (torch.nn.Dropout2d(0.2), mnn.Dropout2d(0.2)), (torch.nn.BatchNorm2d(8), mnn.BatchNorm2d(8)),
             (torch.nn.BatchNorm1d(5, momentum=None, affine=False), mnn.BatchNorm1d(5, momentum=None, affine=False))]
    for t, m in pairs:
        assert repr(m) == repr(t)


BN_CASES = [
    ("BatchNorm2d", dict(), (4, 3, 5, 6)),
    ("BatchNorm2d", dict(momentum=None), (4, 3, 5, 6)),
    ("BatchNorm2d", dict(affine=False), (4, 3, 5, 6)),
    ("BatchNorm2d", dict(track_running_stats=False), (4, 3, 5, 6)),
    ("BatchNorm1d", dict(eps=1e-3, momentum=0.3), (8, 5)),
    ("BatchNorm1d", dict(), (4, 5, 7)),
]


@covers("BatchNorm")
@pytest.mark.parametrize("name,kw,shape", BN_CASES, ids=lambda v: str(v))
def test_batch_norm_train_then_eval(name: str, kw: dict, shape: tuple) -> None:
    """Training mode over 3 batches (running statistics and num_batches_tracked compared after each),
    then evaluation mode, forward and backward each time."""
    t = getattr(torch.nn, name)(shape[1], **kw).double()
    m = getattr(mnn, name)(shape[1], **kw).double()
    if kw.get("affine", True):
        with torch.no_grad():
            t.weight.uniform_(0.5, 1.5)
            t.bias.uniform_(-0.5, 0.5)
    for step in range(3):
        parity_module(t, m, [shape], seed=step, **F64)  # copies torch's weights and buffers, compares buffers
    t.eval()
    m.eval()
    parity_module(t, m, [shape], seed=7, **F64)
    t32, m32 = getattr(torch.nn, name)(shape[1], **kw), getattr(mnn, name)(shape[1], **kw)
    parity_module(t32, m32, [shape], dtype=np.float32, **F32_BN)


@covers("BatchNorm")
def test_batch_norm_gradcheck_training_mode() -> None:
    """Finite differences through the batch statistics (the three-term input gradient)."""
    rm, rv = np.zeros(3), np.ones(3)

    def fn(x: Any, w: Any, b: Any) -> Any:
        lib = torch if isinstance(x, torch.Tensor) else minidl
        return Fn(x).batch_norm(x, lib.tensor(rm.copy()), lib.tensor(rv.copy()), w, b, training=True)
    parity_op(fn, None, [(4, 3, 2, 2), (3,), (3,)], op="BatchNorm", **F64)


def test_batch_norm_errors_like_torch() -> None:
    with pytest.raises(ValueError):
        torch.nn.BatchNorm2d(3)(torch.zeros(1, 3, 1, 1))
    with pytest.raises(ValueError):
        mnn.BatchNorm2d(3)(minidl.zeros(1, 3, 1, 1))
    with pytest.raises(ValueError):
        torch.nn.BatchNorm2d(3)(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError):
        mnn.BatchNorm2d(3)(minidl.zeros(2, 3, 4))


@covers("Dropout")
def test_dropout2d_drops_whole_channels() -> None:
    p = 0.25
    x_np = np.random.default_rng(0).uniform(0.5, 1.5, size=(64, 32, 3, 3))
    x = minidl.tensor(x_np, requires_grad=True)
    y = MF.dropout2d(x, p)
    out = y.detach().numpy()
    kept = (out != 0).reshape(64, 32, 9)
    assert np.all(kept.all(axis=2) | ~kept.any(axis=2)), "a channel was partly dropped"
    mask = kept[:, :, :1].reshape(64, 32, 1, 1).astype(np.float64)
    yt = torch.tensor(x_np, requires_grad=True)
    ref = yt * torch.tensor(mask) / (1 - p)
    assert_close(y, ref, atol=1e-12, rtol=1e-12, what="dropout2d forward")
    g = np.random.default_rng(1).normal(size=x_np.shape)
    y.backward(minidl.tensor(g))
    ref.backward(torch.tensor(g))
    assert_close(x.grad, yt.grad, atol=1e-12, rtol=1e-12, what="dropout2d backward")
    n, dropped = mask.size, mask.size - mask.sum()
    assert abs(dropped - n * p) < 5 * np.sqrt(n * p * (1 - p))
    np.testing.assert_array_equal(mnn.Dropout2d(p).eval()(x).detach().numpy(), x_np)
