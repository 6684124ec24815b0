"""Index-valued and bitwise functions, outside the graph (integer or bool results, as in torch):
searchsorted, bucketize, isin, signbit, isposinf, isneginf, triu_indices, tril_indices, cartesian_prod,
combinations, and bitwise and / or / xor / not / shifts (also the operators ``& | ^ ~ << >>``)."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from minidl.ops._util import as_tensor, binary_operands
from minidl.tensor import Tensor


def searchsorted(sorted_sequence: Tensor, values: Any, *, right: bool = False, side: str | None = None) -> Tensor:
    side = side or ("right" if right else "left")
    seq = sorted_sequence._data
    v = as_tensor(values)._data
    if seq.ndim == 1:
        return Tensor(np.searchsorted(seq, v, side=side).astype(np.int64))
    out = np.stack([np.searchsorted(s, vv, side=side) for s, vv in zip(seq.reshape(-1, seq.shape[-1]),
                                                                         v.reshape(-1, v.shape[-1]))])
    return Tensor(out.reshape(v.shape).astype(np.int64))


def bucketize(x: Any, boundaries: Tensor, *, right: bool = False) -> Tensor:
    return Tensor(np.searchsorted(boundaries._data, as_tensor(x)._data, side="right" if right else "left")
                  .astype(np.int64))


def isin(elements: Any, test_elements: Any, *, invert: bool = False) -> Tensor:
    return Tensor(np.isin(as_tensor(elements)._data, as_tensor(test_elements)._data, invert=invert))


def signbit(x: Tensor) -> Tensor:
    return Tensor(np.signbit(x._data))


def isposinf(x: Tensor) -> Tensor:
    return Tensor(np.isposinf(x._data) if x.dtype.kind == "f" else np.zeros(x.shape, bool))


def isneginf(x: Tensor) -> Tensor:
    return Tensor(np.isneginf(x._data) if x.dtype.kind == "f" else np.zeros(x.shape, bool))


def triu_indices(row: int, col: int, offset: int = 0, **_: Any) -> Tensor:
    return Tensor(np.stack(np.triu_indices(row, offset, col)).astype(np.int64))


def tril_indices(row: int, col: int, offset: int = 0, **_: Any) -> Tensor:
    return Tensor(np.stack(np.tril_indices(row, offset, col)).astype(np.int64))


def cartesian_prod(*tensors: Tensor) -> Tensor:
    if len(tensors) == 1:
        return tensors[0].clone()
    rows = list(itertools.product(*[t._data.tolist() for t in tensors]))
    return Tensor(np.asarray(rows, dtype=np.result_type(*[t.dtype for t in tensors])))


def combinations(x: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(pick(x._data.tolist(), r))
    return Tensor(np.asarray(rows, dtype=x.dtype).reshape(len(rows), r))


def _int_or_bool(a: Any, b: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    A, B = binary_operands(a, b)
    if A.dtype.kind not in "biu" or B.dtype.kind not in "biu":
        raise RuntimeError(f"\"{name}_cpu\" not implemented for '{A.dtype if A.dtype.kind not in 'biu' else B.dtype}'")
    return A._data, B._data


def bitwise_and(a: Any, b: Any) -> Tensor:
    return Tensor(np.bitwise_and(*_int_or_bool(a, b, "bitwise_and")))


def bitwise_or(a: Any, b: Any) -> Tensor:
    return Tensor(np.bitwise_or(*_int_or_bool(a, b, "bitwise_or")))


def bitwise_xor(a: Any, b: Any) -> Tensor:
    return Tensor(np.bitwise_xor(*_int_or_bool(a, b, "bitwise_xor")))


def bitwise_not(a: Tensor) -> Tensor:
    if a.dtype.kind not in "biu":
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{a.dtype}'")
    return Tensor(np.invert(a._data))


def bitwise_left_shift(a: Any, b: Any) -> Tensor:
    return Tensor(np.left_shift(*_int_or_bool(a, b, "lshift")))


def bitwise_right_shift(a: Any, b: Any) -> Tensor:
    return Tensor(np.right_shift(*_int_or_bool(a, b, "rshift")))
