"""RMSprop (Hinton's lecture 6e; the centred variant of Graves, 2013), with torch's update rule and state
names (``step``, ``square_avg``, ``grad_avg``, ``momentum_buffer``).

For each parameter w with gradient g (alpha is the smoothing constant, mu the momentum):

    g <- -g                                           if maximize
    g <- g + wd * w                                   weight decay (L2 penalty)
    s <- alpha s + (1 - alpha) g^2                    square_avg: running mean of g^2
    a <- a + (1 - alpha) (g - a)                      grad_avg (centered only): running mean of g
    d <- sqrt(s - a^2) + eps   if centered            an estimate of the gradient's std,
    d <- sqrt(s) + eps         otherwise              or of its root mean square
    b <- mu b + g / d,  w <- w - lr b                 with momentum (mu > 0; b starts at 0)
    w <- w - lr g / d                                 without

Unlike Adam there is no bias correction: s starts at zero, so the first steps are large
(|step| ~ lr / sqrt(1 - alpha)). eps is added outside the square root, as torch does.
The order of operations is torch's single-tensor CPU path; see ``minidl/optim/adam.py`` for why the
result agrees with torch to a few ulps rather than bit for bit.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from minidl.optim.adam import lerp
from minidl.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, mu, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p, w, g in self._with_grads(group):
                state = self.state.setdefault(p, {})
                if not state:  # lazy initialisation, on the first step that sees a gradient
                    state["step"] = 0.0
                    state["square_avg"] = np.zeros_like(w)
                    if mu > 0:
                        state["momentum_buffer"] = np.zeros_like(w)
                    if centered:
                        state["grad_avg"] = np.zeros_like(w)
                state["step"] += 1.0

                if wd != 0:
                    g = g + wd * w
                # s as torch's addcmul: alpha s + ((1 - alpha) g) g
                s = state["square_avg"] = state["square_avg"] * alpha + ((1 - alpha) * g) * g
                if centered:
                    a = state["grad_avg"] = lerp(state["grad_avg"], g, 1 - alpha)
                    denom = np.sqrt(s - a * a) + eps
                else:
                    denom = np.sqrt(s) + eps
                if mu > 0:
                    buf = state["momentum_buffer"] = state["momentum_buffer"] * mu + g / denom
                    w += -lr * buf
                else:
                    w += (-lr * g) / denom  # torch's addcdiv: w + (value * g) / denom
        return loss
