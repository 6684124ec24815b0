"""The robust-regression and distribution losses of ``nn.functional``: smooth_l1_loss, huber_loss, kl_div.

With d = x - y (elementwise):

    smooth_l1(d; beta) = d^2 / (2 beta)         if |d| < beta      d/dx: d / beta
                       = |d| - beta / 2         otherwise          d/dx: sign(d)
    huber(d; delta)    = d^2 / 2                if |d| < delta     d/dx: d
                       = delta (|d| - delta/2)  otherwise          d/dx: delta sign(d)

so huber = delta * smooth_l1 with beta = delta: quadratic near 0 (smooth gradient), linear in the tails
(an outlier's pull is bounded). beta = 0 gives the L1 loss.

    kl_div(x, y) = y (log y - x)      x: log-probabilities (the model), y: probabilities (the target)
                 = e^y (y - x)        with log_target=True (y given as log-probabilities)

with 0 log 0 = 0. Summed over classes and averaged over the batch ("batchmean") it is KL(y || p).
"""
from __future__ import annotations

import warnings

import numpy as np

from minidl.ops import exp, log, where
from minidl.ops import sum as _sum
from minidl.ops._util import as_tensor
from minidl.tensor import Tensor


def _prepare(input: Tensor, target: Tensor) -> Tensor:
    from minidl.nn.functional import _warn_size
    target = as_tensor(target, like=input)
    _warn_size(input, target)
    return target


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    from minidl.nn.functional import _reduce as reduce
    return reduce(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    target = _prepare(input, target)
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    loss = where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    target = _prepare(input, target)
    d = input - target
    ad = d.abs()
    loss = where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: None = None, reduce: None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise y (log y - x); ``reduction="batchmean"`` divides the sum by input.size(0) (the KL
    divergence per sample); "mean" divides by the number of elements, and warns as torch does."""
    target = as_tensor(target, like=input)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        positive = target > 0
        safe = where(positive, target, Tensor(np.ones((), dtype=target.dtype)))
        ylogy = where(positive, target * log(safe), Tensor(np.zeros((), dtype=target.dtype)))
        loss = ylogy - target * input
    if reduction == "batchmean":
        total = _sum(loss)
        return total / float(input.shape[0]) if input.ndim > 0 else total
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return _reduce(loss, reduction)
