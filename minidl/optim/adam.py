"""Adam and AdamW, with torch's update rule and state names (``step``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``).

For each parameter w with gradient g, at step t = 1, 2, ... (lr = gamma, betas = (b1, b2)):

    g <- -g                                         if maximize
    w <- w * (1 - lr * wd)                          AdamW (decoupled weight decay), before the moments
    g <- g + wd * w                                 Adam  (L2 penalty folded into the gradient)
    m <- m + (1 - b1) (g - m)                       first moment, i.e. b1 m + (1 - b1) g (torch's lerp)
    v <- b2 v + (1 - b2) g^2                        second moment
    v_max <- max(v_max, v)                          amsgrad only: the largest v seen so far
    w <- w - (lr / (1 - b1^t)) * m / (sqrt(v') / sqrt(1 - b2^t) + eps)       v' = v_max or v

The order is torch's (single-tensor CPU path, ``capturable=False``), because it decides the rounding:
the bias corrections are scalars, ``lr / (1 - b1^t)`` multiplies m *before* the division, and eps is
added *after* dividing sqrt(v) by sqrt(1 - b2^t) (so eps is not bias-corrected). In torch 2.x the
amsgrad maximum is taken over the *raw* second moments v (not the bias-corrected ones), and it is
this maximum, not v, that is bias-corrected in the denominator.

Floating point: torch's vectorised CPU kernels fuse ``a + b * c`` into one FMA and take square roots
with a vectorised routine that is not always correctly rounded, while NumPy rounds every product and
computes exact square roots. The trajectories therefore agree to a few ulps, not bit for bit.

Scalars stay Python floats so that, under NumPy's promotion rules, a float32 parameter is updated in
float32 (the scalar is rounded to float32, as torch does).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from minidl.optim.optimizer import Optimizer, check_betas


def lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start + weight * (end - start)``, evaluated as torch's ``lerp`` does.

    torch switches formula at |weight| = 0.5 so that the result is exact at both ends:
    ``start + w (end - start)`` for |w| < 0.5, and ``end - (end - start)(1 - w)`` otherwise.
    ``weight`` is rounded to the arrays' dtype first (float32 parameters use a float32 weight).
    """
    w = start.dtype.type(weight)
    diff = end - start
    if abs(w) < 0.5:
        return start + w * diff
    return end - diff * (1 - w)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015); ``amsgrad=True`` gives AMSGrad (Reddi et al., 2018).

    ``weight_decay`` adds ``wd * w`` to the gradient (an L2 penalty that flows through the moments);
    ``decoupled_weight_decay=True`` (what :class:`AdamW` sets) shrinks the weights directly instead.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError("betas must be either both floats or both Tensors")  # torch's message
        super().__init__(params, dict(lr=lr, betas=(float(betas[0]), float(betas[1])), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd, amsgrad = group["weight_decay"], group["amsgrad"]
            for p, w, g in self._with_grads(group):
                state = self.state.setdefault(p, {})
                if not state:  # lazy initialisation, on the first step that sees a gradient
                    state["step"] = 0.0
                    state["exp_avg"] = np.zeros_like(w)
                    state["exp_avg_sq"] = np.zeros_like(w)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(w)
                state["step"] += 1.0
                t = state["step"]

                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        w *= 1 - lr * wd
                    else:
                        g = g + wd * w
                # first and second moments, v as torch's addcmul: b2 v + ((1 - b2) g) g
                m = state["exp_avg"] = lerp(state["exp_avg"], g, 1 - beta1)
                v = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + ((1 - beta2) * g) * g

                bias_correction1 = 1 - beta1 ** t
                bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
                step_size = lr / bias_correction1
                if amsgrad:
                    v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
                denom = np.sqrt(v) / bias_correction2_sqrt + eps
                w += (-step_size * m) / denom  # torch's addcdiv: w + (value * m) / denom
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019): ``w <- w (1 - lr wd)`` before the
    Adam step, so the decay is not rescaled by the adaptive denominator. Default ``weight_decay=1e-2``."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # as torch: AdamW always decouples, whatever was saved
            group["decoupled_weight_decay"] = True
