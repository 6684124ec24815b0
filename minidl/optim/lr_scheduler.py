"""Learning-rate schedulers with torch's semantics: ``StepLR``, ``MultiStepLR``, ``ExponentialLR``,
``CosineAnnealingLR``, ``LambdaLR`` (and, from ``lr_scheduler_more.py``, ``LinearLR``, ``SequentialLR``,
``CosineAnnealingWarmRestarts``, ``OneCycleLR``, ``ReduceLROnPlateau``).

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.95)
    for epoch in range(epochs):
        train_one_epoch(model, opt)      # opt.step() inside
        sched.step()                     # after the optimiser, once per epoch

How they work (as in torch). Building a scheduler records each group's ``initial_lr`` (the base lr
eta_0) and performs an initial step to epoch 0. Each ``step()`` then increments ``last_epoch`` (t)
and writes the new lr into every parameter group. Most schedulers are *chainable*: they compute
the new lr from the group's current lr rather than from a closed form, so two schedulers on one
optimiser compose, and the rounding matches torch's lr for lr:

    StepLR             eta_t = eta_{t-1} * gamma          when t > 0 and t % step_size == 0
    MultiStepLR        eta_t = eta_{t-1} * gamma^k        when t is a milestone listed k times
    ExponentialLR      eta_t = eta_{t-1} * gamma          (t > 0)
    CosineAnnealingLR  eta_t = eta_min + (eta_{t-1} - eta_min)
                               * (1 + cos(pi t / T)) / (1 + cos(pi (t - 1) / T))
                       and, where that ratio would divide by zero (t - 1 = T mod 2T), the additive
                       form eta_t = eta_{t-1} + (eta_0 - eta_min)(1 - cos(pi / T)) / 2. Past T_max the
                       lr rises again along the same cosine (period 2 T_max), exactly as in torch.
    LambdaLR           eta_t = eta_0 * lr_lambda(t)       (not chainable: a closed form)

The recursion follows the closed form eta_min + (eta_0 - eta_min)(1 + cos(pi t / T)) / 2 up to
rounding. ``step(epoch)`` (deprecated in torch) jumps to ``epoch`` using the closed form.

Not replicated: torch's warnings about calling ``scheduler.step()`` before ``optimizer.step()`` and
about calling ``get_lr()`` directly, and tensor-valued learning rates.
"""
from __future__ import annotations

import math
import types
import warnings
from collections import Counter
from typing import Any, Callable, Iterable

from minidl.optim.optimizer import Optimizer


class LRScheduler:
    """Base class. Subclasses implement ``get_lr()`` (the lrs for the new ``last_epoch``) and may
    implement ``_get_closed_form_lr()`` (used by ``step(epoch)``)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   "scheduler with last_epoch >= 0 (load the optimizer's state first)")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._get_lr_called_within_step = False  # unused here; kept so state_dict's keys are torch's
        # the initial step, to epoch last_epoch + 1 (0 for a new run); get_lr() sees _is_initial = True
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and take the initial step (``get_lr()`` sees ``_is_initial = True``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:  # pragma: no cover
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The lr of each parameter group, as set by the last ``step()``."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (call it after ``optimizer.step()``) and write the new lrs into the groups."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn("The epoch parameter in `scheduler.step()` is deprecated (as in torch); "
                          "call `scheduler.step()` without it.", UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Move to the next epoch (recursive form) or jump to ``epoch`` (closed form), set the lrs."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimiser (torch's layout: ``last_epoch``, ``base_lrs``,
        ``_step_count``, ``_last_lr``, ... and the scheduler's own settings)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (a milestone listed twice applies gamma^2)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        passed = sum(n for m, n in self.milestones.items() if m <= self.last_epoch)  # torch's bisect_right
        return [base * self.gamma ** passed for base in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["milestones"] = dict(self.milestones)  # a plain {epoch: count} dict, so it saves anywhere
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(m): int(n) for m, n in dict(state_dict["milestones"]).items()})


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: eta_t = eta_0 gamma^t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from eta_0 to ``eta_min`` over ``T_max`` epochs (SGDR without restarts), in
    torch's recursive form (see the module docstring); past ``T_max`` it climbs back, as torch's does."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and t > 0:  # first step of a scheduler built with last_epoch >= 0
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # at the bottom of the cosine: the ratio below would be 0/0
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._group_lrs(), strict=True)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        return [eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2 for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """eta_t = eta_0 * lr_lambda(t); ``lr_lambda`` is one function or a list with one per group.

    ``state_dict`` cannot save functions: like torch, it stores ``None`` for plain functions and
    lambdas, and the ``__dict__`` of callable objects (so their settings are restored)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = {key: value for key, value in state_dict.items() if key != "lr_lambdas"}
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, state_dict["lr_lambdas"]):
            if saved is not None:
                fn.__dict__.update(saved)


# the warm-up, restart, one-cycle and plateau schedulers live in their own file
from minidl.optim.lr_scheduler_more import (CosineAnnealingWarmRestarts, LinearLR, OneCycleLR,  # noqa: E402,F401
                                            ReduceLROnPlateau, SequentialLR)
