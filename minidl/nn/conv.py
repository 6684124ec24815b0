"""Convolution, pooling, batch-norm and channel-dropout layers (torch's signatures, defaults and
state_dict keys). The math is in ``minidl/ops/conv.py`` and ``minidl/ops/norm.py``."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import autograd
from minidl.kernels.shapes import pair
from minidl.nn import functional as F
from minidl.nn import init
from minidl.nn.layers import Dropout
from minidl.nn.module import Module, Parameter
from minidl.tensor import Tensor


class _ConvNd(Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, weight_shape: tuple[int, ...], dtype: Any) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible "
                             f"by groups ({groups})")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = pair(kernel_size), pair(stride), pair(dilation)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        self.weight = Parameter(np.empty(weight_shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: W ~ kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same bound for b."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"  # torch prints padding=same, without quotes
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """y = conv2d(x, W) + b with ``W: (out_channels, in_channels // groups, kh, kw)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise NotImplementedError("Conv2d: only padding_mode='zeros' is implemented")
        k = pair(kernel_size)
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (out_channels, in_channels // groups) + k, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """y = conv1d(x, W) + b with ``W: (out_channels, in_channels // groups, k)`` for x: (N, C, L) or (C, L)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise NotImplementedError("Conv1d: only padding_mode='zeros' is implemented")
        k = _single(kernel_size)
        super().__init__(in_channels, out_channels, (1, k), 1, 0, 1, groups, bias,
                         (out_channels, in_channels // groups, k), dtype)
        # torch keeps 1-tuples: kernel_size=(k,), stride=(s,), padding=(p,) or a string, dilation=(d,)
        self.kernel_size, self.stride, self.dilation = (k,), (_single(stride),), (_single(dilation),)
        self.padding = padding if isinstance(padding, str) else (_single(padding),)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding}"  # torch prints padding=same, without quotes
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _single(v: Any) -> int:
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"expected an int or a 1-tuple, got {v!r}")
        v = v[0]
    return int(v)


class ConvTranspose2d(_ConvNd):
    """Transposed convolution with ``W: (in_channels, out_channels // groups, kh, kw)`` (torch's layout)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise NotImplementedError("ConvTranspose2d: only padding_mode='zeros' is implemented")
        k = pair(kernel_size)
        object.__setattr__(self, "output_padding", pair(output_padding))  # read by _ConvNd.extra_repr
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (in_channels, out_channels // groups) + k, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class MaxPool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Dropout2d(Dropout):
    """Zero whole channels with probability p during training (the identity in eval mode)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class _NormBase(Module):
    """What batch- and instance-norm share: learnable gamma (``weight``) and beta (``bias``) when ``affine``,
    running statistics as buffers when ``track_running_stats``: ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` (torch's state_dict keys; absent buffers are registered as None, as in torch)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dt))
            self.bias = Parameter(np.zeros(num_features, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)


class _BatchNorm(_NormBase):
    """Batch-norm: statistics over the batch (and space) per channel; torch's defaults (affine, tracked)."""

    expected_ndims: tuple[int, ...] = ()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.expected_ndims:
            raise ValueError(f"{type(self).__name__}: expected {' or '.join(f'{d}D' for d in self.expected_ndims)} "
                             f"input (got {x.ndim}D input of shape {tuple(x.shape)})")
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean if self.training or self.track_running_stats else None,
                            self.running_var if self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch, self.momentum, self.eps,
                            self.num_batches_tracked if self.training else None)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    expected_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    expected_ndims = (4,)
