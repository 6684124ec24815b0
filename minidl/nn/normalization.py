"""LayerNorm, GroupNorm, InstanceNorm2d and the vector normalisations F.normalize, F.cosine_similarity.

All three layers standardise x over some axes and then apply a learnt affine map:

    x^ = (x - mean) / sqrt(var + eps)          (biased variance, divided by n)
    y  = gamma x^ + beta

They differ only in the axes the statistics run over, for x: (N, C, H, W):

    LayerNorm(normalized_shape)    the last len(normalized_shape) dims of each sample; gamma, beta have
                                   normalized_shape (one per element, not per channel)
    GroupNorm(G, C)                each sample's channels split in G groups: stats over (C/G, H, W);
                                   gamma, beta: (C,)
    InstanceNorm2d(C)              each sample and channel alone: stats over (H, W); no affine by default

Unlike BatchNorm, the statistics never mix samples, so train and eval behave the same (InstanceNorm
with ``track_running_stats=True`` is the exception, and then behaves like BatchNorm per instance).
They are composed from mean/var/sqrt ops, so the backward (the usual three-term formula
dx = (g - mean(g) - x^ mean(g x^)) / sigma) comes from those ops.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from minidl import autograd
from minidl.nn.conv import _NormBase
from minidl.nn.module import Module, Parameter
from minidl.ops import clamp, sqrt
from minidl.ops import sum as _sum
from minidl.ops.shape import broadcast_to
from minidl.tensor import Tensor


def _standardise(x: Tensor, dims: tuple[int, ...], eps: float) -> Tensor:
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=False)
    return (x - mean) / sqrt(var + eps)


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing dims ``normalized_shape``; ``weight``/``bias`` have that shape."""
    shape = tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size {list(input.shape)}")
    y = _standardise(input, tuple(range(input.ndim - k, input.ndim)), eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """x: (N, C, *); statistics per sample and group of C / num_groups channels."""
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected at least 2D input (N, C, ...), got {tuple(input.shape)}")
    N, C = input.shape[0], input.shape[1]
    if C % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(input.shape)} and num_groups={num_groups}")
    grouped = input.reshape((N, num_groups, -1))
    y = _standardise(grouped, (2,), eps).reshape(tuple(input.shape))
    affine_shape = (C,) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(affine_shape)
    if bias is not None:
        y = y + bias.reshape(affine_shape)
    return y


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """x: (N, C, *): each (sample, channel) standardised over its spatial dims.

    With running statistics and ``use_input_stats``, they are updated (outside the graph) with the
    average over the batch of the per-instance mean and unbiased variance, as torch does; with
    ``use_input_stats=False`` the running statistics normalise instead.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *spatial), got {tuple(input.shape)}")
    dims = tuple(range(2, input.ndim))
    C = input.shape[1]
    stat_shape = (1, C) + (1,) * (input.ndim - 2)
    if use_input_stats:
        y = _standardise(input, dims, eps)
        if running_mean is not None and running_var is not None:
            x = input._data
            n = int(np.prod([x.shape[d] for d in dims]))
            mean = x.mean(axis=dims).mean(axis=0)
            var = x.var(axis=dims, ddof=1 if n > 1 else 0).mean(axis=0)
            running_mean._data[...] = (1 - momentum) * running_mean._data + momentum * mean
            running_var._data[...] = (1 - momentum) * running_var._data + momentum * var
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("instance_norm: running_mean and running_var are needed when use_input_stats=False")
        mean = running_mean._data.reshape(stat_shape)
        invstd = 1.0 / np.sqrt(running_var._data.reshape(stat_shape) + eps)
        y = (input - Tensor(mean.astype(input.dtype))) * Tensor(invstd.astype(input.dtype))
    if weight is not None:
        y = y * weight.reshape(stat_shape)
    if bias is not None:
        y = y + bias.reshape(stat_shape)
    return y


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``.

    The norm is computed as (max(sum |x|^p, eps^p))^(1/p), which equals max(||x||_p, eps) and keeps the
    gradient finite (zero through the norm) for an all-zero slice, as torch's does.
    """
    if p == 2:
        s = _sum(input * input, dim, keepdim=True)
        norm = sqrt(clamp(s, min=eps * eps))
    else:
        s = _sum(input.abs() ** p, dim, keepdim=True)
        norm = clamp(s, min=eps ** p) ** (1.0 / p)
    return input / norm


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1/||x1|| * x2/||x2||) along ``dim`` (after broadcasting x1 and x2).

    As torch, each norm is clamped to at least ``eps`` for the value only: the gradient flows through
    the unclamped norm.
    """
    shape = tuple(np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape)))
    x1, x2 = broadcast_to(x1, shape), broadcast_to(x2, shape)

    def clamped_norm(x: Tensor) -> Tensor:
        n = sqrt(_sum(x * x, dim, keepdim=True))
        shift = np.maximum(n._data, eps) - n._data  # a constant: the clamp does not enter the gradient
        return n + Tensor(shift.astype(n.dtype))
    return _sum((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2)), dim)


class LayerNorm(Module):
    """Standardise the trailing ``normalized_shape`` dims; ``weight`` (ones) and ``bias`` (zeros) have that shape."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype=dt))
            self.bias = Parameter(np.zeros(num_channels, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise RuntimeError(f"GroupNorm: input {tuple(input.shape)} has {input.shape[1]} channels, expected "
                               f"{self.num_channels}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.affine}"


class InstanceNorm2d(_NormBase):
    """Per-sample, per-channel standardisation of x: (N, C, H, W) or (C, H, W).

    Defaults as torch: ``affine=False``, ``track_running_stats=False`` (then no state at all).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"InstanceNorm2d: expected 3D or 4D input (got {input.ndim}D input of shape "
                             f"{tuple(input.shape)})")
        unbatched = input.ndim == 3
        x = input.unsqueeze(0) if unbatched else input
        if x.shape[1] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {x.shape[1]}.")
        use_input_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data += 1
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                          self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine}, track_running_stats={self.track_running_stats}")
