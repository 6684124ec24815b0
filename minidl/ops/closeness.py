"""Elementwise tests, outside the graph (bool results, as in torch): isnan, isinf, isfinite, isclose,
and the whole-tensor answers allclose and equal.

``isclose(a, b)`` is ``|a - b| <= atol + rtol |b|`` (not symmetric: ``b`` is the reference), plus
``a == b`` so that equal infinities are close; NaN is close to NaN only with ``equal_nan=True``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.ops._util import as_tensor, binary_operands
from minidl.tensor import Tensor


def isnan(x: Tensor) -> Tensor:
    return Tensor(np.isnan(x._data) if x.dtype.kind in "fc" else np.zeros(x.shape, dtype=bool))


def isinf(x: Tensor) -> Tensor:
    return Tensor(np.isinf(x._data) if x.dtype.kind in "fc" else np.zeros(x.shape, dtype=bool))


def isfinite(x: Tensor) -> Tensor:
    return Tensor(np.isfinite(x._data) if x.dtype.kind in "fc" else np.ones(x.shape, dtype=bool))


def isclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol |other|`` (or equal); a bool tensor of the broadcast shape."""
    a, b = as_tensor(input), as_tensor(other, like=as_tensor(input))
    if isinstance(input, Tensor) and isinstance(other, Tensor) and input.dtype != other.dtype:
        raise RuntimeError(f"isclose(): {input.dtype} did not match {other.dtype} (input {tuple(input.shape)}, "
                           f"other {tuple(other.shape)})")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose(): rtol ({rtol}) and atol ({atol}) must be greater than or equal to zero")
    A, B = binary_operands(a, b)
    x, y = A._data, B._data
    if x.dtype.kind == "b":
        return Tensor(np.broadcast_to(x == y, np.broadcast_shapes(x.shape, y.shape)).copy())
    if x.dtype.kind in "iu":  # exact integer arithmetic as far as possible, like torch's
        x, y = x.astype(np.float64), y.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        close = (x == y) | (np.isfinite(x) & np.isfinite(y) & (np.abs(x - y) <= atol + rtol * np.abs(y)))
    if equal_nan:
        close = close | (np.isnan(x) & np.isnan(y))
    return Tensor(np.asarray(close))


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element is close (``isclose``); a Python bool, as in torch."""
    return bool(np.all(isclose(input, other, rtol, atol, equal_nan)._data))


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same values (a Python bool)."""
    return tuple(input.shape) == tuple(other.shape) and bool(np.array_equal(input._data, other._data))
