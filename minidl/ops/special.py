"""Special functions needed by the nn layers: the error function (for the exact GELU).

Kept in its own file so that the elementwise ops stay the course's short list.
"""
from __future__ import annotations

import math

import numpy as np

from minidl.autograd import Context, Function
from minidl.tensor import Tensor


def _erf(x: np.ndarray) -> np.ndarray:
    """scipy.special.erf, imported on first use (scipy.special takes ~0.2 s to import)."""
    from scipy.special import erf
    return erf(x)


class Erf(Function):
    """z = erf(x) = 2/sqrt(pi) int_0^x e^{-t^2} dt.   dz/dx = 2/sqrt(pi) e^{-x^2}."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return _erf(x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        (x,) = ctx.saved
        return g * (ctx.xp.exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


def erf(x: Tensor) -> Tensor:
    if x.dtype.kind != "f":
        raise RuntimeError(f"erf: expected a floating-point tensor, got {x.dtype}")
    return Erf.apply(x)
