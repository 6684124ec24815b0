"""Resizing: ``F.interpolate`` and ``nn.Upsample`` (nearest, nearest-exact, linear, bilinear, area).

Every mode is separable: the output along one spatial axis depends only on that axis's coordinate,
so a 2-D resize is a 1-D resize of the rows followed by one of the columns. For output index j along
an axis of input size n and output size m, with scale s = n / m (or 1 / scale_factor when given):

    nearest        i = min(floor(j s), n - 1)
    nearest-exact  i = min(floor((j + 1/2) s), n - 1)            (pixel centres, as PIL/OpenCV)
    linear         u = (j + 1/2) s - 1/2, clamped at 0           align_corners=False (pixel centres)
                   u = j (n - 1) / (m - 1)                       align_corners=True  (corner pixels match)
                   i0 = floor(u), i1 = min(i0 + 1, n - 1), l = u - i0,
                   y_j = (1 - l) x_i0 + l x_i1

So each axis is a gather with fixed indices and weights: the backward (a scatter-add of the weighted
gradient) comes from the indexing op. Coordinates are computed in the input's precision, as torch does,
so the chosen indices agree at the boundaries. ``area`` is adaptive average pooling.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl.nn.module import Module
from minidl.tensor import Tensor

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "area")


def _axis_index(x: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    return x[(slice(None),) * axis + (idx,)]


def _scale(n: int, m: int, scale_factor: float | None, align_corners: bool, dt: np.dtype) -> Any:
    """torch's area_pixel_compute_scale, in the dtype the kernel uses."""
    if align_corners:
        return dt.type((n - 1) / (m - 1)) if m > 1 else dt.type(0)
    if scale_factor is not None and scale_factor > 0:
        return dt.type(1.0 / scale_factor)
    return dt.type(n) / dt.type(m)


def _nearest_axis(x: Tensor, axis: int, m: int, scale_factor: float | None, exact: bool) -> Tensor:
    n = x.shape[axis]
    # torch's nearest kernels compute the source index in float32 whatever the input dtype
    s = _scale(n, m, scale_factor, False, np.dtype(np.float32))
    j = np.arange(m, dtype=np.float32)
    src = np.floor(((j + np.float32(0.5)) if exact else j) * s)
    idx = np.minimum(src.astype(np.int64), n - 1)
    return _axis_index(x, axis, idx)


def _linear_axis(x: Tensor, axis: int, m: int, scale_factor: float | None, align_corners: bool) -> Tensor:
    n = x.shape[axis]
    dt = np.dtype(x.dtype)
    s = _scale(n, m, scale_factor, align_corners, dt)
    j = np.arange(m, dtype=dt)
    u = j * s if align_corners else np.maximum((j + dt.type(0.5)) * s - dt.type(0.5), dt.type(0))
    i0 = np.minimum(np.floor(u).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = np.clip(u - i0.astype(dt), 0, 1).astype(dt)
    shape = [1] * x.ndim
    shape[axis] = m
    lam_t = Tensor(lam.reshape(shape))
    one_minus = Tensor((dt.type(1) - lam).reshape(shape))
    return _axis_index(x, axis, i0) * one_minus + _axis_index(x, axis, i1) * lam_t


def _output_size(x: Tensor, size: Any, scale_factor: Any) -> tuple[list[int], list[float] | None]:
    d = x.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * d
        if len(sizes) != d:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                             f"with spatial dimensions of {list(x.shape[2:])} and output size of {sizes}. Please "
                             "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                             "(o1, o2, ...,oK) format.")
        return [int(v) for v in sizes], None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * d
    if len(scales) != d:
        raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {list(x.shape[2:])} and scale_factor of shape {scales}.")
    return [math.floor(float(n) * float(f)) for n, f in zip(x.shape[2:], scales)], [float(f) for f in scales]


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize ``input: (N, C, L)`` or ``(N, C, H, W)`` to ``size`` or by ``scale_factor`` (torch's rules)."""
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented (minidl has {', '.join(_MODES)})")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"interpolate: input {tuple(input.shape)} must be 3-D (N, C, L) or 4-D (N, C, H, W) "
                                  "in minidl")
    if mode == "linear" and input.ndim != 3:
        raise NotImplementedError(f"Got {input.ndim}D input, but linear mode needs 3D input")
    if mode == "bilinear" and input.ndim != 4:
        raise NotImplementedError(f"Got {input.ndim}D input, but bilinear mode needs 4D input")
    out_size, scales = _output_size(input, size, scale_factor)
    if recompute_scale_factor:
        scales = None
    if any(v <= 0 for v in out_size):
        raise RuntimeError(f"interpolate: output size {out_size} for input {tuple(input.shape)} must be positive")
    if mode == "area":
        from minidl.nn.functional import adaptive_avg_pool2d
        if input.ndim == 3:
            return adaptive_avg_pool2d(input.unsqueeze(2), (1, out_size[0])).squeeze(2)
        return adaptive_avg_pool2d(input, tuple(out_size))
    y = input
    for k, m in enumerate(out_size):
        f = None if scales is None else scales[k]
        if mode in ("nearest", "nearest-exact"):
            y = _nearest_axis(y, 2 + k, m, f, mode == "nearest-exact")
        else:
            y = _linear_axis(y, 2 + k, m, f, bool(align_corners))
    return y


class Upsample(Module):
    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = (tuple(float(f) for f in scale_factor) if isinstance(scale_factor, (tuple, list))
                             else float(scale_factor) if scale_factor is not None else None)
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
