"""``minidl.nn.functional`` (import as ``F``): the functional forms, with torch's names and arguments.

Losses take ``reduction`` = ``"mean"`` | ``"sum"`` | ``"none"``. Cross-entropy is ``nll_loss`` after
``log_softmax``; its gradient with respect to the logits is softmax(x) - y (divided by N for the mean),
the course's dL/dy~ = y^ - y.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.ops import (dropout, leaky_relu, log_softmax, logsumexp, matmul, relu,  # noqa: F401
                        sigmoid, softmax, tanh)
from minidl.ops import mean as _mean
from minidl.ops import sum as _sum
from minidl.ops._util import as_tensor
from minidl.ops.loss import BinaryCrossEntropy, BinaryCrossEntropyWithLogits, NLLLoss
from minidl.ops.shape import unsqueeze
from minidl.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, for ``x: (*, in)``, ``W: (out, in)``, ``b: (out,)``."""
    if x.shape[-1] != weight.shape[-1]:
        sx = "x".join(map(str, (int(np.prod(x.shape[:-1])), x.shape[-1]))) if x.ndim > 1 else str(x.shape[0])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sx} and "
                           f"{weight.shape[1]}x{weight.shape[0]}): linear input {tuple(x.shape)}, "
                           f"weight {tuple(weight.shape)}")
    y = matmul(x, weight.t())
    return y if bias is None else y + bias


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` class indices under log-probabilities ``input``.

    input: (N, C) or (N, C, d1, ...) or (C,);  target: (N,) or (N, d1, ...) or () of class indices.
    The mean divides by the summed weights of the non-ignored targets, as torch does.
    """
    target = as_tensor(target)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long but found {target.dtype} (nll_loss target must hold "
                           "class indices; pass probabilities to cross_entropy instead)")
    if input.ndim == 1:
        return nll_loss(unsqueeze(input, 0), unsqueeze(target, 0), weight, ignore_index, reduction)
    if input.ndim < 1 or target.shape != (input.shape[0],) + tuple(input.shape[2:]):
        raise ValueError(f"Expected target of shape {(input.shape[0],) + tuple(input.shape[2:])} for input "
                         f"{tuple(input.shape)}, got target {tuple(target.shape)}")
    C = input.shape[1]
    t = target._data
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"Target {int(t[bad].flat[0])} is out of bounds (input {tuple(input.shape)} has {C} classes).")
    if weight is not None and tuple(weight.shape) != (C,):
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    w_class = np.ones(C, dtype=input.dtype) if weight is None else weight._data.astype(input.dtype)
    w = np.where(valid, w_class[np.where(valid, t, 0)], 0).astype(input.dtype)
    loss = NLLLoss.apply(input, target=t, weight=w)
    if reduction == "mean":
        return _sum(loss) / np.asarray(w.sum(), dtype=input.dtype)
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input: (N, C, ...)`` against class indices or class probabilities.

    With probabilities ``y`` (same shape as ``input``): l_n = -sum_c w_c y_nc log softmax(x_n)_c,
    and the mean divides by N (times the spatial size), as torch does.
    """
    target = as_tensor(target)
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, dim=class_dim)
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise RuntimeError(f"cross_entropy: class-probability target {tuple(target.shape)} must have the "
                               f"input's shape {tuple(input.shape)}")
        prod = logp * target
        if weight is not None:
            shape = [1] * input.ndim
            shape[class_dim] = input.shape[class_dim]
            prod = prod * weight.reshape(tuple(shape))
        return _reduce(-_sum(prod, dim=class_dim), reduction)
    return nll_loss(logp, target, weight, ignore_index, reduction)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(x - y)^2, reduced.   d/dx = 2 (x - y) (/ n for the mean)."""
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    return _reduce((input - target).abs(), reduction)


def _check_same_size(input: Tensor, target: Tensor, name: str) -> Tensor:
    target = as_tensor(target, like=input)
    if target.shape != input.shape:
        raise ValueError(f"{name}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    return target


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-[y log x + (1 - y) log(1 - x)] for probabilities ``x`` in [0, 1]."""
    target = _check_same_size(input, target, "binary_cross_entropy")
    x = input._data
    if np.any((x < 0) | (x > 1)) or np.any(np.isnan(x)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    w = None if weight is None else np.broadcast_to(as_tensor(weight)._data, x.shape).astype(x.dtype)
    loss = BinaryCrossEntropy.apply(input, target=target._data.astype(x.dtype), weight=w)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step (finite for logits of +-100)."""
    target = _check_same_size(input, target, "binary_cross_entropy_with_logits")
    dt = input.dtype
    w = None if weight is None else np.broadcast_to(as_tensor(weight)._data, input.shape).astype(dt)
    pw = None if pos_weight is None else np.broadcast_to(as_tensor(pos_weight)._data, input.shape).astype(dt)
    loss = BinaryCrossEntropyWithLogits.apply(input, target=target._data.astype(dt), weight=w, pos_weight=pw)
    return _reduce(loss, reduction)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    t = as_tensor(tensor)._data
    k = int(t.max()) + 1 if num_classes < 0 else num_classes
    if t.size and (t.min() < 0 or t.max() >= k):
        raise RuntimeError(f"Class values must be smaller than num_classes ({k}) and non-negative.")
    return Tensor(np.eye(k, dtype=np.int64)[t])


__all__ = ["linear", "relu", "tanh", "sigmoid", "leaky_relu", "softmax", "log_softmax", "logsumexp",
           "dropout", "nll_loss", "cross_entropy", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "one_hot"]
