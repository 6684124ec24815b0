"""Stochastic gradient descent, with torch's update rule exactly.

For each parameter w with gradient g, at step t:

    g <- g + wd * w                                   (weight decay, an L2 penalty wd/2 ||w||^2)
    b <- g                           if t = 1         (momentum buffer)
    b <- mu * b + (1 - dampening) g  otherwise
    g <- g + mu * b  if nesterov, else  g <- b        (only when mu != 0)
    w <- w - lr * g                                   (w + lr * g when maximize)
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from minidl.optim.optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, w, g in self._with_grads(group):
                if wd != 0:
                    g = g + wd * w
                if mu != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = np.array(g, copy=True)
                    else:
                        buf = mu * buf + (1 - damp) * g
                    state["momentum_buffer"] = buf
                    g = g + mu * buf if nesterov else buf
                w -= np.asarray(lr, dtype=w.dtype) * g
        return loss
