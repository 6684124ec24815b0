"""The loss ops that need their own backward: negative log-likelihood (the second half of
cross-entropy) and binary cross-entropy on probabilities or on logits. Each returns the
*unreduced* per-element loss; ``nn.functional`` applies the reduction with ``sum``/``mean``.
Backwards are written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``)."""
from __future__ import annotations

import numpy as np

from minidl.autograd import Context, Function


class NLLLoss(Function):
    """l_i = -w_{t_i} z_{i, t_i} for log-probabilities ``z: (N, C, *d)`` and targets ``t: (N, *d)``.

    dl_i/dz_{i,c} = -w_{t_i} if c = t_i else 0.  Targets equal to ``ignore_index`` get weight 0.
    Composed with ``log_softmax`` this is cross-entropy, whose gradient is softmax(x) - y.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, z: np.ndarray, *, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
        # weight: (N, *d), already zero where the target is ignored
        safe = np.where(weight != 0, target, 0)
        picked = np.take_along_axis(z, np.expand_dims(safe, 1), axis=1)  # (N, 1, *d)
        ctx.save_for_backward(safe, weight)
        ctx.shape = z.shape
        return -np.squeeze(picked, axis=1) * weight

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        safe, weight = ctx.saved
        xp = ctx.xp
        return xp.scatter_along(ctx.shape, np.expand_dims(safe, 1), xp.expand_dims(-g * weight, 1), 1)


class BinaryCrossEntropy(Function):
    """l = -w [y log x + (1 - y) log(1 - x)], each log clamped at -100 as torch does (so x = 0 or 1
    gives a finite loss).   dl/dx = w (x - y) / max(x (1 - x), 1e-12)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        loss = -(target * log_x + (1 - target) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, target, weight)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        x, y, w = ctx.saved
        gx = g * (x - y) / ctx.xp.maximum(x * (1 - x), np.asarray(1e-12, x.dtype))
        return gx if w is None else gx * w


class BinaryCrossEntropyWithLogits(Function):
    """l = w [(1 - y) x + c softplus(-x)] with c = 1 + (p - 1) y for ``pos_weight`` p.

    That is -w [p y log s(x) + (1 - y) log(1 - s(x))], written with softplus(-x) =
    log(1 + e^-|x|) + max(-x, 0) so that logits of +-100 stay finite.
    dl/dx = w [(1 - y) - c (1 - s(x))]  (= w (s(x) - y) when p = 1).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, target: np.ndarray, weight: np.ndarray | None,
                pos_weight: np.ndarray | None) -> np.ndarray:
        c = 1 + (pos_weight - 1) * target if pos_weight is not None else 1
        loss = (1 - target) * x + c * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, target, weight, pos_weight)
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        x, y, w, pw = ctx.saved
        c = 1 + (pw - 1) * y if pw is not None else 1
        gx = g * ((1 - y) - c * (1 - ctx.xp.sigmoid(x)))
        return gx if w is None else gx * w
