"""Small helpers shared by the ops: argument checking with torch's error types and messages."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from minidl import autograd
from minidl.tensor import Tensor


def normalize_dim(dim: int, ndim: int) -> int:
    """A possibly negative ``dim`` as an axis in ``[0, ndim)``; IndexError (torch's type) otherwise."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return int(dim) % max(ndim, 1)


def normalize_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """``dim`` (None = all, an int, or a tuple/list) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    if len(axes) != len(dims):
        raise RuntimeError(f"dim {tuple(dims)} appears multiple times in the list of dims")
    return axes if ndim else ()


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """Wrap a Python number or ndarray as a constant tensor.

    Python numbers take the other operand's dtype (``float32_tensor * 2.0`` stays float32), as in
    torch; a float with an integer tensor gives the default float dtype.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, np.number, np.bool_)) and like is not None:
        if isinstance(x, (float, np.floating)) and like.dtype.kind in "biu":
            return Tensor(np.asarray(x, dtype=autograd.get_default_dtype()))
        if isinstance(x, (int, np.integer)) and like.dtype.kind == "b":
            return Tensor(np.asarray(x, dtype=np.int64))
        return Tensor(np.asarray(x, dtype=like.dtype))
    if isinstance(x, (list, tuple)) or isinstance(x, (float, int)):
        from minidl.creation import tensor
        return tensor(x)
    return Tensor(np.asarray(x))


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype, after checking that their shapes broadcast.

    Integer-with-float pairs are promoted to the float operand's dtype (torch's rule; NumPy would
    give float64). Otherwise NumPy's promotion applies.
    """
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    A = as_tensor(a, like=tb)
    B = as_tensor(b, like=ta if ta is not None else A)
    if A.dtype != B.dtype:
        ka, kb = A.dtype.kind, B.dtype.kind
        if ka in "biu" and kb == "f":
            A = cast(A, B.dtype)
        elif kb in "biu" and ka == "f":
            B = cast(B, A.dtype)
        elif ka == kb and (A.ndim == 0) != (B.ndim == 0):  # torch: a 0-d tensor does not promote within its kind
            A, B = (cast(A, B.dtype), B) if A.ndim == 0 else (A, cast(B, A.dtype))
    check_broadcast(A.shape, B.shape)
    return A, B


def check_broadcast(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast shape, or RuntimeError with torch's message naming both shapes."""
    if sa == sb:
        return tuple(sa)
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + tuple(sa), (1,) * (n - len(sb)) + tuple(sb)
    out = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                               f"non-singleton dimension {i} (shapes {tuple(sa)} and {tuple(sb)})")
        out.append(max(x, y) if min(x, y) != 0 else 0)
    return tuple(out)


def cast(x: Tensor, dtype: Any) -> Tensor:
    from minidl.ops.elementwise import cast as _cast
    return _cast(x, dtype)


def index_arrays(index: Any) -> Any:
    """Replace Tensors (and lists) inside an index by ndarrays NumPy understands."""
    def conv(i: Any) -> Any:
        if isinstance(i, Tensor):
            return i._data
        if isinstance(i, list):
            return np.asarray(i)
        return i
    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)
