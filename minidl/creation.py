"""Tensor constructors with torch's signatures: tensor, zeros, ones, full, arange, linspace, eye,
rand, randn, randint, randperm, from_numpy, and the ``*_like`` variants.

dtype inference follows torch: Python floats -> the default dtype (float32), Python ints -> int64,
bools -> bool; an ndarray keeps its dtype.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from minidl import autograd
from minidl import random as _random
from minidl.tensor import Tensor, _shape_args


def _infer_dtype(data: Any) -> np.dtype:
    arr = np.asarray(data)
    if arr.dtype.kind == "f" and not isinstance(data, np.ndarray) and not isinstance(data, np.floating):
        return autograd.get_default_dtype()
    if arr.dtype.kind == "i" and not isinstance(data, (np.ndarray, np.integer)):
        return np.dtype(np.int64)
    return arr.dtype


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (list, number, ndarray or tensor)."""
    _check_device(device)
    if isinstance(data, Tensor):
        data = data._data
    elif isinstance(data, (list, tuple)) and data and any(isinstance(d, Tensor) for d in _flat(data)):
        data = np.asarray([d._data if isinstance(d, Tensor) else d for d in data])
    dt = np.dtype(dtype) if dtype is not None else _infer_dtype(data)
    return Tensor(np.array(data, dtype=dt, copy=True), requires_grad=requires_grad)


def _flat(seq: Sequence[Any]) -> list[Any]:
    return [x for x in seq]


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        return Tensor(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return Tensor(array)


def _check_device(device: Any) -> None:
    if device is not None and str(device) != "cpu":
        raise RuntimeError(f"minidl runs on the CPU only; got device {device!r}")


def _float_dtype(dtype: Any) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()


def _make(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.zeros(_shape_args(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.ones(_shape_args(size), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    _check_device(device)
    dt = np.dtype(dtype) if dtype is not None else _infer_dtype(fill_value)
    return _make(np.full(tuple(size), fill_value, dtype=dt), requires_grad)


def zeros_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(x.shape, dtype=dtype or x.dtype), requires_grad)


def ones_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(x.shape, dtype=dtype or x.dtype), requires_grad)


def full_like(x: Tensor, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.full(x.shape, fill_value, dtype=dtype or x.dtype), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """``arange(5)``, ``arange(1, 5)``, ``arange(0, 1, 0.1)``; integer arguments give int64."""
    _check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if all_int else autograd.get_default_dtype()
    return _make(np.arange(start, end, step).astype(dtype), requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    _check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return _make(np.linspace(start, end, steps).astype(_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    _check_device(device)
    return _make(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    _check_device(device)
    return _make(_random.generator(generator).random(_shape_args(size)).astype(_float_dtype(dtype)), requires_grad)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal."""
    _check_device(device)
    return _make(_random.generator(generator).standard_normal(_shape_args(size)).astype(_float_dtype(dtype)),
                 requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), *, generator: Any = None,
            dtype: Any = None, device: Any = None) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    _check_device(device)
    if high is None or isinstance(high, (tuple, list)):
        if isinstance(high, (tuple, list)):
            size = high
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    arr = _random.generator(generator).integers(low, high, size=tuple(size))
    return Tensor(arr.astype(dtype or np.int64))


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    _check_device(device)
    return Tensor(_random.generator(generator).permutation(n).astype(dtype or np.int64))


def rand_like(x: Tensor, *, dtype: Any = None) -> Tensor:
    return rand(*x.shape, dtype=dtype or x.dtype)


def randn_like(x: Tensor, *, dtype: Any = None) -> Tensor:
    return randn(*x.shape, dtype=dtype or x.dtype)
