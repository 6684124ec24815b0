"""Adagrad (Duchi, Hazan and Singer, 2011), with torch's update rule and state names (``step``, ``sum``).

For each parameter w with gradient g, at step t = 1, 2, ...:

    g <- -g                                   if maximize
    g <- g + wd * w                           weight decay (L2 penalty)
    clr = lr / (1 + (t - 1) * lr_decay)       a slowly decaying lr (lr_decay = 0: constant)
    s <- s + g^2                              sum: every squared gradient so far (starts at
                                              initial_accumulator_value)
    w <- w - clr * g / (sqrt(s) + eps)

Each coordinate gets its own step size lr / sqrt(sum of its squared gradients): rarely-updated
coordinates keep large steps. Because s only grows, the steps shrink forever (what RMSprop's and
Adam's running averages fix).

As torch does, the state of every parameter is created by the constructor (not lazily at its first
gradient), so ``state_dict()`` lists all parameters from the start.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from minidl.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": 0.0,
                                 "sum": np.full_like(p._data, group["initial_accumulator_value"])}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
            for p, w, g in self._with_grads(group):
                state = self.state.setdefault(p, {})
                if not state:  # a parameter added after construction (add_param_group)
                    state.update(step=0.0, sum=np.full_like(w, group["initial_accumulator_value"]))
                state["step"] += 1.0
                t = state["step"]
                if wd != 0:
                    g = g + wd * w
                clr = lr / (1 + (t - 1) * lr_decay)
                s = state["sum"] = state["sum"] + g * g  # torch's addcmul with value 1
                w += (-clr * g) / (np.sqrt(s) + eps)      # torch's addcdiv: w + (value * g) / std
        return loss
