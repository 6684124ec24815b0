"""Second derivatives against torch (float64): every registered op's recorded backward.

``minidl.autograd.grad(loss, inputs, create_graph=True)`` records the backward pass; differentiating
the recorded gradient once more gives Hessian-vector products H v. Each case below computes, for the
same inputs on both libraries, the gradient g and H v for two random directions v, and compares them
at the house float64 tolerance (rtol 1e-7, atol 1e-9). Two course-style checks follow: the Laplace
Hessian built row by row (homework 4-b) and a WGAN-GP gradient penalty.

Coverage. ``test_hessian_coverage`` requires every op in ``minidl.autograd.OPS`` to be checked by a
second-derivative test (a case in ``CASES`` here, or ``declare_second_order`` + ``hvp_parity`` from
``parity/higher_order.py`` in any parity file) or to be listed in
``parity.higher_order.NOT_TWICE_DIFFERENTIABLE`` with the reason. A new op needs one case, or that entry.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from minidl.autograd import OPS
from parity.coverage import covers, declare
from parity.helpers import assert_close
from parity.higher_order import (ATOL, NOT_TWICE_DIFFERENTIABLE, RTOL, SECOND_ORDER, declare_second_order,
                                 hvp_parity)


def _weights(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _wsum(lib: Any, y: Any, seed: int = 7) -> Any:
    """sum(r * y) with fixed random r: a scalar whose Hessian has no accidental symmetry."""
    return (y * lib.tensor(_weights(tuple(y.shape), seed))).sum()


def _F(lib: Any) -> Any:
    return lib.nn.functional


R = np.random.default_rng(42)
A34, B34, B4 = R.standard_normal((3, 4)), R.standard_normal((3, 4)), R.standard_normal(4)
POS34 = R.uniform(0.5, 2.0, (3, 4))
V4, M45 = R.standard_normal(4), R.standard_normal((4, 5))


# Each case: (ops it checks, function of (lib, *tensors) -> scalar, input arrays)
CASES: dict[str, tuple[tuple[str, ...], Callable[..., Any], list[np.ndarray]]] = {
    "arithmetic_broadcast": (("Add", "Sub", "Mul", "Div", "Sum"),
                             lambda L, x, y: _wsum(L, (x + y) * (x - y) / (y * y + 1.5)), [A34, B4]),
    "neg": (("Neg",), lambda L, x: _wsum(L, (-x) * x.tanh()), [A34]),
    "pow_scalar": (("PowScalar",), lambda L, x: _wsum(L, x ** 3 + x ** 2.5), [POS34]),
    "pow_tensor": (("Pow",), lambda L, x, y: _wsum(L, x ** y), [POS34, B34 * 0.5]),
    "matmul_2d_1d": (("Matmul",), lambda L, a, b, v: _wsum(L, (a @ b).tanh()) + (v @ b).pow(2).sum()
                     + (a @ v).tanh().sum(), [A34, M45, V4]),
    "exp_log_log1p_sqrt": (("Exp", "Log", "Log1p", "Sqrt"),
                           lambda L, x: _wsum(L, x.exp() * x.log() + x.log1p() * x.sqrt()), [POS34]),
    "abs_sign": (("Abs", "Sign"), lambda L, x: _wsum(L, x.abs() * x * x + x.sign() * x ** 3), [A34]),
    "clamp": (("Clamp",), lambda L, x: _wsum(L, x.clamp(-0.5, 0.5) * x.tanh()), [A34]),
    "maximum_minimum": (("Maximum", "Minimum"),
                        lambda L, x, y: _wsum(L, L.maximum(x, y) * x + L.minimum(x, y) * y * y), [A34, B34]),
    "where": (("Where",), lambda L, x, y: _wsum(L, L.where(L.tensor(A34 > 0), x * x, y * x)), [A34, B34]),
    "cast_clone": (("Cast", "Clone"), lambda L, x: _wsum(L, x.float().double() ** 2 + x.clone() ** 3), [A34]),
    "mean_var_std": (("Mean", "Var", "Sqrt"),
                     lambda L, x: _wsum(L, x.mean(1) * x.var(0).sum() + x.std(1, keepdim=True).squeeze(1)
                                        + x.var(unbiased=False) * x.mean()), [A34]),
    "max_min_all_and_dim": (("MaxAll", "MaxDim"),
                            lambda L, x: x.max() ** 2 + _wsum(L, x.max(1).values ** 2) + _wsum(L, x.min(0).values ** 3),
                            [A34]),
    "shape_ops": (("Reshape", "Permute", "Expand", "Cat", "Stack"),
                  lambda L, x, y: _wsum(L, L.cat([x, y * x], 0).reshape(4, 6).permute(1, 0).tanh())
                  + _wsum(L, L.stack([x, y.exp()], 1).tanh()) + _wsum(L, (x[:1].expand(3, 4) * y) ** 2),
                  [A34, B34]),
    "indexing": (("GetItem", "ScatterAdd"),
                 lambda L, x: _wsum(L, x[1:, ::2] ** 3) + (x[L.tensor([0, 2, 0])] ** 2).tanh().sum()
                 + (x[L.tensor(A34 > 0.3)] ** 3).sum(), [A34]),
    "activations": (("Tanh", "Sigmoid", "ReLU", "LeakyReLU"),
                    lambda L, x: _wsum(L, x.tanh() * x.sigmoid() + L.relu(x) ** 2
                                       + _F(L).leaky_relu(x, 0.1) ** 3), [A34]),
    "softmax_family": (("Softmax", "LogSoftmax", "LogSumExp"),
                       lambda L, x: _wsum(L, x.softmax(1) * x + x.log_softmax(0) ** 2)
                       + (x.logsumexp(1) ** 2).sum() + x.logsumexp((0, 1), keepdim=True).sum() ** 2, [A34]),
    "linear_layer": (("Matmul", "Add"),
                     lambda L, x, w, b: _wsum(L, _F(L).linear(x, w, b).tanh()),
                     [A34, R.standard_normal((5, 4)), R.standard_normal(5)]),
    "cross_entropy": (("LogSoftmax", "NLLLoss"),
                      lambda L, x: _F(L).cross_entropy(x, L.tensor([1, 3, 0])) + _F(L).nll_loss(
                          x.log_softmax(1), L.tensor([2, 0, 1]), weight=L.tensor(np.array([1.0, 2.0, 0.5, 1.5])),
                          ignore_index=0), [A34]),
    "binary_cross_entropy": (("Sigmoid", "BinaryCrossEntropy"),
                             lambda L, x: _F(L).binary_cross_entropy(x.sigmoid(), L.tensor((A34 > 0) * 1.0),
                                                                      weight=L.tensor(POS34)), [B34]),
    "bce_with_logits": (("BinaryCrossEntropyWithLogits",),
                        lambda L, x: _F(L).binary_cross_entropy_with_logits(
                            x, L.tensor((A34 > 0) * 1.0), weight=L.tensor(POS34),
                            pos_weight=L.tensor(B4 ** 2 + 0.5)), [B34]),
}


X6 = R.standard_normal((2, 4, 6, 6))
W_G2, B_4 = R.standard_normal((4, 2, 3, 3)) * 0.3, R.standard_normal(4)
CASES.update({
    "conv2d_strided_grouped": (("Conv2d", "ConvTranspose2d", "Conv2dWeightGrad"),
                               lambda L, x, w, b: _wsum(L, _F(L).conv2d(x, w, b, stride=2, padding=1,
                                                                       groups=2).tanh()), [X6, W_G2, B_4]),
    "conv2d_dilated": (("Conv2d", "ConvTranspose2d", "Conv2dWeightGrad"),
                       lambda L, x, w: _wsum(L, _F(L).conv2d(x, w, padding=2, dilation=2) ** 2),
                       [X6[:1], R.standard_normal((3, 4, 3, 3)) * 0.3]),
    "conv_transpose2d": (("ConvTranspose2d", "Conv2d", "Conv2dWeightGrad"),
                         lambda L, x, w, b: _wsum(L, _F(L).conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                            output_padding=1, groups=2).tanh()),
                         [X6[:, :, :3, :3], W_G2, B_4]),
    "max_pool2d": (("MaxPool2d", "ScatterAdd"),
                   lambda L, x: _wsum(L, _F(L).max_pool2d(x, 2) ** 2)
                   + _wsum(L, _F(L).max_pool2d(x, 3, stride=2, padding=1) ** 3), [X6]),
    "avg_pool2d": (("AvgPool2d", "AvgPool2dBackward"),
                   lambda L, x: _wsum(L, _F(L).avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                          count_include_pad=False) ** 2), [X6]),
    "adaptive_avg_pool2d": (("AdaptiveAvgPool2d", "AdaptiveAvgPool2dBackward"),
                            lambda L, x: _wsum(L, _F(L).adaptive_avg_pool2d(x, (4, 3)) ** 2), [X6[:, :, :5]]),
    "pad": (("Pad",), lambda L, x: _wsum(L, _F(L).pad(x, (1, 2, 0, 1), value=0.5) ** 3), [X6[:1, :2]]),
    "batch_norm_train": (("BatchNorm",),
                         lambda L, x, w, b: _wsum(L, _F(L).batch_norm(x, None, None, w, b, training=True).tanh()),
                         [X6[:, :, :3, :3], R.uniform(0.5, 1.5, 4), B_4]),
    "batch_norm_eval": (("BatchNorm",),
                        lambda L, x, w, b: _wsum(L, _F(L).batch_norm(
                            x, L.tensor(B_4 * 0.1), L.tensor(POS34[0]), w, b, training=False) ** 2),
                        [X6[:, :, :3, :3], R.uniform(0.5, 1.5, 4), B_4]),
})


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives(name: str) -> None:
    ops, fn, arrays = CASES[name]
    hvp_parity(fn, arrays, name, ops)


declare_second_order(*[op for ops, _, _ in CASES.values() for op in ops])


# ops that exist for the recorded backward (and Sign): their first-order parity is the g above
declare("Sign", "ScatterAdd", "Conv2dWeightGrad", "AvgPool2dBackward", "AdaptiveAvgPool2dBackward")


@covers("Dropout")
def test_dropout_second_derivative_with_the_same_mask() -> None:
    """minidl draws the mask; torch applies the same mask by hand (x m / (1 - p) is torch's dropout)."""
    minidl.manual_seed(0)
    x = minidl.tensor(A34.copy(), requires_grad=True)
    y = _F(minidl).dropout(x, 0.4)
    mask = (y.detach().numpy() != 0) * 1.0
    assert 0 < mask.sum() < mask.size
    v = _weights(A34.shape, 3)
    out = []
    for lib, drop in ((minidl, lambda t: _F(minidl).dropout(t, 0.4)),
                      (torch, lambda t: t * torch.tensor(mask) / 0.6)):
        if lib is minidl:
            minidl.manual_seed(0)
        t = lib.tensor(A34.copy(), requires_grad=True)
        loss = _wsum(lib, drop(t).tanh())
        (g,) = lib.autograd.grad(loss, t, create_graph=True)
        (hv,) = lib.autograd.grad((g * lib.tensor(v)).sum(), t)
        out.append((g, hv))
    assert_close(out[0][0], out[1][0], atol=ATOL, rtol=RTOL, what="dropout: d/dx")
    assert_close(out[0][1], out[1][1], atol=ATOL, rtol=RTOL, what="dropout: H v")


def test_laplace_hessian_row_by_row_like_the_course() -> None:
    """Homework 4-b: g = grad(loss, w, create_graph=True)[0], then the gradient of each component of g.

    A logistic-regression negative log posterior with a Gaussian prior; its Hessian also has the closed
    form X^T diag(s (1 - s)) X + alpha I, a second independent reference."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((20, 4)), (rng.random(20) > 0.5) * 1.0
    w0, alpha = rng.standard_normal(4) * 0.5, 0.3
    hessians = []
    for lib in (torch, minidl):
        w = lib.tensor(w0.copy(), requires_grad=True)
        logits = lib.tensor(X) @ w
        loss = _F(lib).binary_cross_entropy_with_logits(logits, lib.tensor(y), reduction="sum") \
            + alpha / 2 * (w * w).sum()
        g = lib.autograd.grad(loss, w, create_graph=True)[0]
        H = np.stack([lib.autograd.grad(g[i], w, retain_graph=True)[0].detach().numpy() for i in range(4)])
        hessians.append(H)
    s = 1 / (1 + np.exp(-X @ w0))
    closed = X.T @ (X * (s * (1 - s))[:, None]) + alpha * np.eye(4)
    assert_close(hessians[1], hessians[0], atol=ATOL, rtol=RTOL, what="Laplace Hessian vs torch")
    assert_close(hessians[1], closed, atol=ATOL, rtol=RTOL, what="Laplace Hessian vs closed form")


def test_gradient_penalty_wgan_gp() -> None:
    """WGAN-GP: lambda (||d D(x^) / d x^||_2 - 1)^2 with a conv critic; the parameters' gradients of the
    penalty go through the recorded input gradient (conv, tanh, leaky ReLU, pooling, linear)."""
    rng = np.random.default_rng(9)
    xs = rng.standard_normal((3, 2, 6, 6))
    w1, b1 = rng.standard_normal((4, 2, 3, 3)) * 0.4, rng.standard_normal(4) * 0.1
    w2, b2 = rng.standard_normal((1, 36)) * 0.3, rng.standard_normal(1) * 0.1
    grads = []
    for lib in (torch, minidl):
        F = _F(lib)
        params = [lib.tensor(a.copy(), requires_grad=True) for a in (w1, b1, w2, b2)]
        x_hat = lib.tensor(xs.copy(), requires_grad=True)
        h = F.leaky_relu(F.conv2d(x_hat, params[0], params[1], padding=1).tanh(), 0.2)
        critic = F.linear(F.avg_pool2d(h, 2).reshape(3, -1), params[2], params[3])
        (gx,) = lib.autograd.grad(critic.sum(), x_hat, create_graph=True)
        norm = ((gx * gx).reshape(3, -1).sum(1) + 1e-12).sqrt()
        penalty = 10 * ((norm - 1) ** 2).mean()
        penalty.backward()
        grads.append([penalty] + [p.grad for p in params] + [x_hat.grad])
    for k, (m, t) in enumerate(zip(grads[1], grads[0])):
        assert_close(m, t, atol=ATOL, rtol=RTOL, what=f"gradient penalty: item {k}")


def test_hessian_coverage() -> None:
    """Every registered op has a second-derivative test here, or a stated reason in NOT_TWICE_DIFFERENTIABLE."""
    import importlib
    from pathlib import Path
    for path in sorted(Path(__file__).parent.glob("test_*.py")):  # other files' declarations
        importlib.import_module(f"parity.{path.stem}")
    for mod in sorted(Path(minidl.__file__).parent.rglob("*.py")):  # ops defined anywhere in minidl
        rel = mod.relative_to(Path(minidl.__file__).parent.parent).with_suffix("")
        if "kernels" in rel.parts or rel.name.startswith("__main__"):
            continue
        importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))
    missing = sorted(set(OPS) - SECOND_ORDER - set(NOT_TWICE_DIFFERENTIABLE))
    assert not missing, (f"ops without a second-derivative test: {missing}. Add a case to CASES in "
                         f"parity/test_higher_order.py (or declare_second_order + hvp_parity in your parity file), or list "
                         f"the op in parity.higher_order.NOT_TWICE_DIFFERENTIABLE with the reason")
    both = sorted(SECOND_ORDER & set(NOT_TWICE_DIFFERENTIABLE))
    assert not both, f"listed as not twice differentiable but tested: {both}"
    untested_claim = sorted(n for n in SECOND_ORDER if n in OPS and not OPS[n].twice_differentiable)
    assert not untested_claim, f"tested here but twice_differentiable is False: {untested_claim}"
    unknown = sorted((SECOND_ORDER | set(NOT_TWICE_DIFFERENTIABLE)) - set(OPS))
    assert not unknown, f"names that are not registered ops: {unknown}"


declare_second_order("Dropout")


def test_an_op_without_double_backward_refuses_to_be_differentiated_twice() -> None:
    """First derivative right, second refused with the op's name (torch's behaviour for such ops)."""
    from minidl.autograd import Context, Function

    class Cube(Function):
        """z = x^3.   dz/dx = 3 x^2 (written with NumPy only: no recorded backward)."""
        tensor_io = False

        @staticmethod
        def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
            (x,) = ctx.saved
            return g * 3 * np.square(x)
    try:
        x = minidl.tensor([1.0, 2.0], requires_grad=True)
        (g,) = minidl.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
        np.testing.assert_array_equal(g.detach().numpy(), [3.0, 12.0])
        with pytest.raises(RuntimeError, match="Cube"):
            g.sum().backward()
    finally:
        OPS.pop("Cube", None)
