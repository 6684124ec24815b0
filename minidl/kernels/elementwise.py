"""Parallel elementwise kernels for large float arrays, bit-identical to ``elementwise_reference.py``.

NumPy runs ``x > 0``, ``x * mask`` and ``g * mask`` on one core; on the activations of a CNN (the CIFAR
net's first ReLU sees 4 M values at batch 128) that serial work is a large part of a training step on
a multi-core machine.  These kernels do the same arithmetic (the same multiplication by 1 or 0 of the
array's dtype, so ``-0.0`` and NaN come out as NumPy's do) in one pass, split over Numba's threads.

They are worth their start-up cost only on large arrays: ``relu_forward`` and ``mask_multiply`` call
the kernel for C-contiguous float32/float64 arrays of at least ``PARALLEL_MIN_SIZE`` elements and the
NumPy reference otherwise, so every call gives the reference's result.

Measured on a 2-core AMD EPYC (Zen 4, AVX-512), shared with other jobs: the ReLU forward and backward
of the CIFAR net's four activations at batch 128, alone, 8.5 -> 4.9 ms (min of 60 interleaved runs, 1 or 2
threads); inside the training step (cProfile, 1 thread) 43 -> 25 ms per step.
LeakyReLU (DCGAN's discriminator) gets the same treatment: ``where(x > 0, x, a x)`` and its backward
``where(positive, g, g a)`` in one pass; the DCGAN iteration (batch 64, 2 threads, idle) went from 1.69x
to 1.35-1.47x torch (3 runs).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import _outputs
from . import elementwise_reference as ref

__all__ = ["relu_forward", "relu_inplace", "mask_multiply", "leaky_relu_forward", "leaky_mask_multiply",
           "PARALLEL_MIN_SIZE"]

PARALLEL_MIN_SIZE = 1 << 17   # elements; about where two threads start to beat NumPy (the kernel wins at 1 thread)

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@njit(cache=True, parallel=True, boundscheck=False)
def _relu_fwd(x: np.ndarray, z: np.ndarray, positive: np.ndarray, one: float, zero: float) -> None:  # pragma: no cover - compiled
    """z = x * (1 if x > 0 else 0), positive = x > 0; flat arrays, one and zero of x's dtype."""
    for i in prange(x.size):
        v = x[i]
        p = v > 0
        positive[i] = p
        z[i] = v * (one if p else zero)


@njit(cache=True, parallel=True, boundscheck=False)
def _relu_inplace(x: np.ndarray, one: float, zero: float) -> None:  # pragma: no cover - compiled
    """x = x * (1 if x > 0 else 0) in place (the z of ``_relu_fwd``, without the mask); a flat array."""
    for i in prange(x.size):
        v = x[i]
        x[i] = v * (one if v > 0 else zero)


@njit(cache=True, parallel=True, boundscheck=False)
def _mask_mul(g: np.ndarray, mask: np.ndarray, out: np.ndarray, one: float, zero: float) -> None:  # pragma: no cover - compiled
    """out = g * (1 if mask else 0); flat arrays, one and zero of g's dtype."""
    for i in prange(g.size):
        out[i] = g[i] * (one if mask[i] else zero)


@njit(cache=True, parallel=True, boundscheck=False)
def _leaky_fwd(x: np.ndarray, z: np.ndarray, positive: np.ndarray, a: float) -> None:  # pragma: no cover - compiled
    """z = x if x > 0 else x * a, positive = x > 0; flat arrays, ``a`` of x's dtype (so x * a rounds as
    NumPy's ``x * np.asarray(a, x.dtype)``)."""
    for i in prange(x.size):
        v = x[i]
        p = v > 0
        positive[i] = p
        z[i] = v if p else v * a


@njit(cache=True, parallel=True, boundscheck=False)
def _leaky_mask_mul(g: np.ndarray, mask: np.ndarray, out: np.ndarray, a: float) -> None:  # pragma: no cover - compiled
    """out = g if mask else g * a; flat arrays, ``a`` of g's dtype."""
    for i in prange(g.size):
        out[i] = g[i] if mask[i] else g[i] * a


def _fast(a: np.ndarray) -> bool:
    return (isinstance(a, np.ndarray) and a.dtype in _FLOATS and a.size >= PARALLEL_MIN_SIZE
            and a.flags.c_contiguous)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x -> (z = x * (x > 0), positive = x > 0), as ``elementwise_reference.relu_forward``."""
    if not _fast(x):
        return ref.relu_forward(x)
    z = _outputs.empty_like(x)
    positive = _outputs.empty(x.shape, np.bool_)
    t = x.dtype.type
    _relu_fwd(x.reshape(-1), z.reshape(-1), positive.reshape(-1), t(1), t(0))
    return z, positive


def relu_inplace(x: np.ndarray) -> bool:
    """x = relu(x) in place, the same values as ``relu_forward(x)[0]``; returns False, leaving x as it
    was, where the fast path does not apply (small, non-contiguous or non-float arrays)."""
    if not (_fast(x) and x.flags.writeable):
        return False
    t = x.dtype.type
    _relu_inplace(x.reshape(-1), t(1), t(0))
    return True


def mask_multiply(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """g * mask for a boolean mask, as ``elementwise_reference.mask_multiply``."""
    if not (_fast(g) and isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == g.shape
            and mask.flags.c_contiguous):
        return ref.mask_multiply(g, mask)
    out = _outputs.empty_like(g)
    t = g.dtype.type
    _mask_mul(g.reshape(-1), mask.reshape(-1), out.reshape(-1), t(1), t(0))
    return out


def leaky_relu_forward(x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    """x -> (z = x if x > 0 else a x, positive = x > 0), as ``elementwise_reference.leaky_relu_forward``."""
    if not _fast(x):
        return ref.leaky_relu_forward(x, a)
    z = _outputs.empty_like(x)
    positive = _outputs.empty(x.shape, np.bool_)
    _leaky_fwd(x.reshape(-1), z.reshape(-1), positive.reshape(-1), x.dtype.type(a))
    return z, positive


def leaky_mask_multiply(g: np.ndarray, mask: np.ndarray, a: float) -> np.ndarray:
    """where(mask, g, g * a), as ``elementwise_reference.leaky_mask_multiply``."""
    if not (_fast(g) and isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == g.shape
            and mask.flags.c_contiguous):
        return ref.leaky_mask_multiply(g, mask, a)
    out = _outputs.empty_like(g)
    _leaky_mask_mul(g.reshape(-1), mask.reshape(-1), out.reshape(-1), g.dtype.type(a))
    return out
