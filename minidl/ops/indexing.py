"""Selecting along a dim with index tensors: gather, scatter, scatter_add, index_select, masked_fill,
and the orderings sort, argsort, topk.

``gather(x, dim, index)`` reads ``out[i][j][k] = x[i][index[i][j][k]][k]`` (dim = 1). Its adjoint writes
back: the gradient is ``g`` *added* at those positions (an index may repeat, and then its gradients
add up). ``_along(index, dim)`` turns ``index`` into a full NumPy advanced index, so both directions are
one line: ``x[_along(...)]`` and ``xp.scatter_index(shape, _along(...), g)`` (the registered
``ScatterAdd`` op when recording, so the backward is differentiable again).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import normalize_dim
from minidl.tensor import Tensor

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _along(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """``index`` along ``dim`` and the position itself along every other dim, as an advanced index."""
    grids = list(np.ix_(*[np.arange(n) for n in index.shape])) if index.ndim else []
    grids[dim] = index
    return tuple(grids)


class Gather(Function):
    """z = x[..., index, ...] along ``dim`` (``torch.gather``).   dL/dx = g added at those positions."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dim: int, index: np.ndarray) -> np.ndarray:
        ctx.shape, ctx.dim = x.shape, dim
        ctx.save_for_backward(index)  # saved (not kept as a setting) so that a freed graph refuses a 2nd backward
        return x[_along(index, dim)]

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (index,) = ctx.saved
        return ctx.xp.scatter_index(ctx.shape, _along(index, ctx.dim), g)


class Scatter(Function):
    """z = x with ``src`` written (``add=False``) or added (``add=True``) at ``index`` along ``dim``.

    Writing: dL/dx = g with the overwritten positions zeroed, dL/dsrc = g read at those positions.
    Adding: dL/dx = g, dL/dsrc = g read at those positions. ``src`` may be larger than ``index``: only
    its leading ``index.shape`` block is used, and the rest of its gradient is 0.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, src: np.ndarray, *, dim: int, index: np.ndarray, add: bool) -> np.ndarray:
        where = _along(index, dim)
        block = tuple(slice(0, n) for n in index.shape)
        ctx.dim, ctx.block, ctx.add, ctx.src_shape = dim, block, add, src.shape
        ctx.save_for_backward(index)
        out = x.copy()
        if add:
            np.add.at(out, where, src[block])
        else:
            out[where] = src[block]
            ctx.keep = np.ones(x.shape, dtype=bool)
            ctx.keep[where] = False
        return out

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        (index,) = ctx.saved
        xp = ctx.xp
        gx = g if ctx.add else xp.where(ctx.keep, g, 0.0)
        gsrc = None
        if ctx.needs_input_grad[1]:
            gsrc = xp.scatter_index(ctx.src_shape, ctx.block, g[_along(index, ctx.dim)])
        return gx, gsrc


# --------------------------------------------------------------------------- user-facing functions
def _index(index: Any, x: Tensor, dim: int, name: str) -> np.ndarray:
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {idx.dtype}")
    if idx.ndim != x.ndim and not (idx.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input tensor "
                           f"({name}: index {tuple(idx.shape)}, input {tuple(x.shape)})")
    for d in range(idx.ndim):
        if d != dim and idx.shape[d] > x.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {tuple(idx.shape)} to be "
                               f"smaller than self {tuple(x.shape)} apart from dimension {dim}")
    n = x.shape[dim] if x.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {n} "
                           f"({name}: input {tuple(x.shape)})")
    return np.where(idx < 0, idx + n, idx).astype(np.int64)


def gather(x: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = x[i][index[i][j]]`` for dim = 1 (an output the shape of ``index``)."""
    d = normalize_dim(dim, x.ndim)
    return Gather.apply(x, dim=d, index=_index(index, x, d, "gather"))


def _scatter(x: Tensor, dim: int, index: Tensor, src: Any, add: bool, name: str) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    idx = _index(index, x, d, name)
    if isinstance(src, Tensor):
        if src.dtype != x.dtype:
            raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype ({x.dtype} and {src.dtype})")
        if any(i > s for i, s in zip(idx.shape, src.shape)) or src.ndim != idx.ndim:
            raise RuntimeError(f"Expected index {tuple(idx.shape)} to be smaller than src {tuple(src.shape)}")
    else:
        src = Tensor(np.full(idx.shape, src, dtype=x.dtype))
    return Scatter.apply(x, src, dim=d, index=idx, add=add)


def scatter(x: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None) -> Tensor:
    """A copy of ``x`` with ``src`` (a tensor, or a number) written at ``index`` along ``dim``."""
    return _scatter(x, dim, index, value if src is None else src, False, "scatter")


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim`` (repeated indices add up)."""
    return _scatter(x, dim, index, src, True, "scatter_add")


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices ``index`` (a 1-D integer tensor) along ``dim``; their gradients add up where repeated."""
    d = normalize_dim(dim, x.ndim)
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {tuple(idx.shape)}")
    if idx.dtype.kind not in "iu":
        raise IndexError(f"index_select(): Expected dtype int32/int64 for index, got {idx.dtype}")
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index out of range in self (index_select: dim {d} of input {tuple(x.shape)} has size {n}, "
                         f"indices from {idx.min()} to {idx.max()})")
    return x[(slice(None),) * d + (idx.reshape(-1),)]


def masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``x`` with ``value`` where ``mask`` (bool, broadcastable to x) is True; the gradient there is 0."""
    from minidl.ops.elementwise import where
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {m.dtype}")
    from minidl.ops._util import check_broadcast
    if check_broadcast(tuple(m.shape), tuple(x.shape)) != tuple(x.shape):
        raise RuntimeError(f"The size of the mask {tuple(m.shape)} must be broadcastable to the input {tuple(x.shape)}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s)")
        v = value.to(x.dtype) if value.dtype != x.dtype else value
    else:
        v = Tensor(np.asarray(value, dtype=x.dtype))
    return where(Tensor(m), v, x)


def _order(x: Tensor, dim: int, descending: bool) -> np.ndarray:
    """A stable ordering along ``dim`` (descending: the largest first, ties keep their order)."""
    data = x._data if x.ndim else x._data.reshape(1)
    if descending:
        return _descending(data, dim)
    return np.argsort(data, axis=dim, kind="stable")


def _descending(data: np.ndarray, dim: int) -> np.ndarray:
    """Stable descending order: sort the negated keys (for bools and unsigned ints, the ranks)."""
    if data.dtype.kind in "fi":
        keys = -data
    else:
        keys = -np.argsort(np.argsort(data, axis=dim, kind="stable"), axis=dim, kind="stable")
    return np.argsort(keys, axis=dim, kind="stable")


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """(values, indices) sorted along ``dim``; ties keep their order (a stable sort)."""
    d = normalize_dim(dim, x.ndim)
    idx = _order(x, d if x.ndim else 0, descending)
    if not x.ndim:
        return SortResult(x.clone(), Tensor(np.asarray(0, dtype=np.int64)))
    return SortResult(Gather.apply(x, dim=d, index=idx), Tensor(idx.astype(np.int64)))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(x, dim, descending, stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, largest first."""
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (k = {k}, dim {d} of input {tuple(x.shape)} has size {n})")
    if not x.ndim:
        return TopkResult(x.clone(), Tensor(np.asarray(0, dtype=np.int64)))
    idx = np.take(_order(x, d, descending=largest), np.arange(k), axis=d)
    return TopkResult(Gather.apply(x, dim=d, index=idx), Tensor(idx.astype(np.int64)))


def take_along_dim(x: Tensor, indices: Tensor, dim: int) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    shape = np.broadcast_shapes(tuple(s if i != d else 1 for i, s in enumerate(x.shape)),
                                tuple(s if i != d else 1 for i, s in enumerate(idx.shape)))
    xb = x.expand(tuple(s if i != d else x.shape[d] for i, s in enumerate(shape)))
    ib = np.broadcast_to(idx, tuple(s if i != d else idx.shape[d] for i, s in enumerate(shape)))
    return gather(xb, d, Tensor(np.ascontiguousarray(ib)))
