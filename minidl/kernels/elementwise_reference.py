"""Plain-NumPy references of the elementwise kernels in ``elementwise.py`` (read these first).

ReLU keeps a boolean mask ``positive = x > 0`` for its backward; the output and the gradient are the
input multiplied by that mask (``True`` as 1, ``False`` as 0), so a negative input gives ``-0.0`` and a
NaN stays NaN, exactly as the NumPy expressions give them.
"""
from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x -> (z = x * (x > 0), positive = x > 0)."""
    positive = x > 0
    return x * positive, positive


def mask_multiply(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """g * mask (mask boolean, same shape): ReLU's backward, g where the input was positive, else g * 0."""
    return g * mask


def leaky_relu_forward(x: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    """x -> (z = x if x > 0 else a x, positive = x > 0); ``a`` is cast to x's dtype first."""
    positive = x > 0
    return np.where(positive, x, x * np.asarray(a, x.dtype)), positive


def leaky_mask_multiply(g: np.ndarray, mask: np.ndarray, a: float) -> np.ndarray:
    """LeakyReLU's backward: g where the input was positive, else g * a (``a`` in g's dtype)."""
    return np.where(mask, g, g * np.asarray(a, g.dtype))
