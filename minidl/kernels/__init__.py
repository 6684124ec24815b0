"""Numba kernels over plain ndarrays (no Tensor in here): convolution and pooling, forward and backward.

``conv``, ``pool`` and ``elementwise`` are the fast kernels; ``conv_reference``, ``pool_reference`` and
``elementwise_reference`` are readable plain-NumPy versions of the same functions, which the tests hold
the fast ones to.

The names below are loaded on first use (``minidl.kernels.conv2d_forward`` imports ``conv``, and with
it Numba), so that ``import minidl`` stays fast; ``shapes`` needs only NumPy.
"""
from __future__ import annotations

import importlib
from typing import Any

from .shapes import (adaptive_pool2d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape,
                     pool2d_output_shape)

_LAZY = {name: "conv" for name in ("conv2d_forward", "conv2d_backward", "conv_transpose2d_forward",
                                    "conv_transpose2d_backward")}
_LAZY.update({name: "pool" for name in ("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
                                         "avgpool2d_backward", "adaptive_avg_pool2d_forward",
                                         "adaptive_avg_pool2d_backward")})
_LAZY.update({name: "elementwise" for name in ("relu_forward", "relu_inplace", "mask_multiply",
                                                "leaky_relu_forward", "leaky_mask_multiply")})
_LAZY["empty_cache"] = "_outputs"     # drop the cached free output blocks (see _outputs.py)

__all__ = [*_LAZY, "conv2d_output_shape", "conv_transpose2d_output_shape", "pool2d_output_shape",
           "adaptive_pool2d_output_shape"]


def __getattr__(name: str) -> Any:
    """Import the kernel module that defines ``name`` on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
