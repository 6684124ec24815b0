"""``nn.utils``: gradient clipping, and flattening parameters to one vector (torch's names).

clip_grad_norm_ rescales all the gradients together so that their joint norm is at most max_norm:

    total = || (||g_1||_p, ..., ||g_k||_p) ||_p          (= ||concat(g_1, ..., g_k)||_p)
    g_i <- g_i * min(1, max_norm / (total + 1e-6))

which keeps the update's direction (unlike clip_grad_value_, which clamps each entry to
[-clip_value, clip_value] and so can turn it). The 1e-6 and the order (norms of norms, one scale
applied to every gradient) are torch's.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from minidl.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients in place so that their total ``norm_type``-norm is at most ``max_norm``;
    returns the total norm before clipping (a 0-d tensor)."""
    params = _grads(parameters)
    norm_type = float(norm_type)
    if not params:
        return Tensor(np.zeros((), dtype=np.float32))
    grads = [p.grad._data for p in params]
    dt = grads[0].dtype
    if math.isinf(norm_type):
        per = np.array([np.max(np.abs(g)) if g.size else 0 for g in grads], dtype=dt)
        total = np.max(per)
    else:
        per = np.array([np.sum(np.abs(g) ** norm_type) ** (1.0 / norm_type) for g in grads], dtype=dt)
        total = np.sum(per ** norm_type) ** (1.0 / norm_type)
    total = np.asarray(total, dtype=dt)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = np.minimum(np.asarray(max_norm, dtype=dt) / (total + np.asarray(1e-6, dtype=dt)), dt.type(1.0))
    for p in params:
        p.grad._data *= coef.astype(p.grad._data.dtype)
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place."""
    c = float(clip_value)
    for p in _grads(parameters):
        np.clip(p.grad._data, -c, c, out=p.grad._data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters, flattened and concatenated (in the graph)."""
    from minidl.ops import cat
    return cat([p.reshape((-1,)) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (in place, outside the graph)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    offset = 0
    for p in parameters:
        n = p.numel()
        p._data[...] = vec._data[offset:offset + n].reshape(p.shape)
        offset += n


__all__: list[Any] = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
