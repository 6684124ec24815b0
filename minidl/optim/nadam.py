"""NAdam (Dozat, 2016): Adam with Nesterov momentum, with torch's update rule and state names
(``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``).

For each parameter w with gradient g, at step t = 1, 2, ... (betas = (b1, b2), psi = momentum_decay):

    g <- g + wd * w                  (or w <- w (1 - lr wd) with decoupled_weight_decay)
    mu_t     = b1 (1 - 0.96^(t psi) / 2)           a momentum coefficient that warms up with t
    mu_{t+1} = b1 (1 - 0.96^((t+1) psi) / 2)
    P_t = mu_1 mu_2 ... mu_t                       mu_product
    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
    d = sqrt(v / (1 - b2^t)) + eps
    w <- w - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d

The second term is Adam's momentum step taken with the *next* step's coefficient (Nesterov's look
ahead); the first puts the current gradient in directly.

Rounding as torch: ``mu_product`` is kept as a float32 scalar tensor in torch (its default scalar
dtype), so minidl rounds it to float32 after every product too; the two updates are two separate
addcdiv's, ``w + (value * x) / d``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from minidl.optim.adam import lerp
from minidl.optim.optimizer import Optimizer, check_betas


class NAdam(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=(float(betas[0]), float(betas[1])), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd, psi = group["weight_decay"], group["momentum_decay"]
            for p, w, g in self._with_grads(group):
                state = self.state.setdefault(p, {})
                if not state:  # lazy initialisation, on the first step that sees a gradient
                    state.update(step=0.0, mu_product=1.0, exp_avg=np.zeros_like(w), exp_avg_sq=np.zeros_like(w))
                state["step"] += 1.0
                t = state["step"]
                bias_correction2 = 1 - beta2 ** t
                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        w *= 1 - lr * wd
                    else:
                        g = g + wd * w
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
                mu_product = state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
                m = state["exp_avg"] = lerp(state["exp_avg"], g, 1 - beta1)
                v = state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + ((1 - beta2) * g) * g
                denom = np.sqrt(v / bias_correction2) + eps
                mu_product_next = mu_product * mu_next
                w += ((-lr * (1.0 - mu) / (1.0 - mu_product)) * g) / denom
                w += ((-lr * mu_next / (1.0 - mu_product_next)) * m) / denom
        return loss
