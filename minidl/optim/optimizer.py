"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``.

Subclasses implement ``step()`` with torch's exact update rule. State arrays are plain ndarrays kept
per parameter (``self.state[p]["momentum_buffer"]``); ``state_dict`` numbers parameters 0, 1, ... in
group order, as torch does, so optimiser checkpoints have torch's layout.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np

from minidl.autograd import enable_grad
from minidl.tensor import Tensor


def check_betas(betas: tuple[float, float]) -> None:
    """The moment-decay rates of the Adam family must lie in [0, 1); torch's messages."""
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


class Optimizer:
    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):  # iterating would give its rows, each a non-leaf: refuse as torch
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got a single Tensor of shape {tuple(params.shape)} (write [tensor])")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(dict(g))

    def add_param_group(self, group: dict[str, Any]) -> None:
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad._data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        """torch's ``step(closure)``: re-evaluate the loss (with gradients on) before updating."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    @staticmethod
    def _with_grads(group: dict[str, Any]) -> Iterator[tuple[Tensor, np.ndarray, np.ndarray]]:
        """``(parameter, weights, gradient)`` for each parameter of ``group`` that has a gradient; the
        gradient is negated when the group maximises (every update rule below then descends)."""
        for p in group["params"]:
            if p.grad is not None:
                g = p.grad._data
                yield p, p._data, (-g if group.get("maximize") else g)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}``."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            entry = {k: v for k, v in g.items() if k != "params"}
            entry["params"] = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size "
                                 "of optimizer's group")
        self.state = {}
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = v
            for p, i in zip(mine["params"], theirs["params"]):
                saved = state_dict["state"].get(i, state_dict["state"].get(str(i)))
                if saved is None:
                    continue
                entry = {}
                for k, v in saved.items():
                    if isinstance(v, Tensor):
                        v = v._data
                    if isinstance(v, np.ndarray) and v.ndim > 0:
                        if v.shape != p.shape:
                            raise ValueError(f"optimizer state '{k}' has shape {v.shape} but its parameter "
                                             f"has shape {tuple(p.shape)}")
                        v = v.astype(p.dtype, copy=True)
                    elif isinstance(v, np.ndarray):
                        v = v.item()
                    entry[k] = v
                self.state[p] = entry

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
