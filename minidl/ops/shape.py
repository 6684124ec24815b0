"""Shape ops: reshape/view, flatten, squeeze, unsqueeze (all reshapes), permute/transpose, expand,
cat, stack, and indexing. None of them changes a number; their backward only moves gradients.
Backwards are written once for ndarrays and Tensors (``xp = ctx.xp``, see ``minidl.autograd``)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, cast, index_arrays, normalize_dim
from minidl.ops._xp import scatter_add
from minidl.tensor import Tensor


class Reshape(Function):
    """z = x with a new shape.   dL/dx = dL/dz reshaped back."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return g.reshape(ctx.in_shape)


class Permute(Function):
    """z = x with its axes reordered by ``dims``.   dL/dx = dL/dz with the inverse order."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dims: tuple[int, ...]) -> np.ndarray:
        ctx.inverse = tuple(np.argsort(dims))
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return ctx.xp.transpose(g, ctx.inverse)


class Expand(Function):
    """z = x broadcast to a larger shape (a view).   dL/dx = sum of dL/dz over the copies; the
    engine's broadcast reduction does exactly that, so backward passes ``g`` through."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return g


class Cat(Function):
    """z = [x_1, x_2, ...] joined along ``dim``.   dL/dx_k = the slice of dL/dz that x_k filled."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, dim: int) -> np.ndarray:
        ctx.dim = dim
        ctx.splits = np.cumsum([x.shape[dim] for x in xs])[:-1]
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(ctx.xp.split(g, ctx.splits, axis=ctx.dim))


class Stack(Function):
    """z = x_1, x_2, ... stacked along a new axis ``dim``.   dL/dx_k = dL/dz[..., k, ...]."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, dim: int) -> np.ndarray:
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(ctx.xp.take(g, k, axis=ctx.dim) for k in range(g.shape[ctx.dim]))


class GetItem(Function):
    """z = x[index] (ints, slices, None, Ellipsis, integer or boolean arrays).

    dL/dx is zero except where ``index`` read from; an element read several times (repeated
    integer indices) receives the sum of its gradients, hence ``np.add.at`` (unbuffered add).
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, index: Any) -> np.ndarray:
        ctx.index, ctx.shape = index, x.shape
        out = x[index]
        return out if isinstance(out, np.ndarray) else np.asarray(out)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> np.ndarray:
        return ctx.xp.scatter_index(ctx.shape, ctx.index, g)


class ScatterAdd(Function):
    """z = zeros(shape) with g added at ``index`` (an element hit twice gets both): GetItem's backward
    as an op of its own, so that a recorded backward through indexing can be differentiated again.

    It is linear in g, and its adjoint is reading at ``index``: dL/dg = dL/dz[index].
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, *, shape: tuple[int, ...], index: Any) -> np.ndarray:
        ctx.index = index
        return scatter_add(shape, index, g)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> np.ndarray:
        return grad[ctx.index]


# --------------------------------------------------------------------------- user-facing functions
def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(int(s) for s in shape)
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    n = x.numel()
    bad = shape.count(-1) > 1 or any(s < -1 for s in shape) or (
        (n != known) if -1 not in shape else (known == 0 or n % known))
    if bad:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n} (input shape {tuple(x.shape)})")
    return Reshape.apply(x, shape=shape)


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_dim(start_dim, x.ndim), normalize_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = tuple(x.shape)
    return reshape(x, shp[:s] + (int(np.prod(shp[s:e + 1], dtype=np.int64)),) + shp[e + 1:])


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    if dim is None:
        dims = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = {normalize_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if x.ndim and x.shape[d] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in dims))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = normalize_dim(dim, x.ndim + 1)
    shp = tuple(x.shape)
    return reshape(x, shp[:d] + (1,) + shp[d:])


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    dims = tuple(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(): number of dims don't match: input {tuple(x.shape)} has {x.ndim} "
                           f"dims but the permutation {dims} has {len(dims)}")
    axes = tuple(normalize_dim(d, x.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute(): duplicate dims are not allowed, got {dims}")
    return Permute.apply(x, dims=axes)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    if x.ndim == 0:
        return x
    a, b = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return Permute.apply(x, dims=tuple(order))


swapaxes = transpose


def t(x: Tensor) -> Tensor:
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def expand(x: Tensor, sizes: Sequence[int]) -> Tensor:
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({x.ndim})")
    lead = len(sizes) - x.ndim
    target = []
    for i, s in enumerate(sizes):
        have = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if have is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = have
        elif have is not None and have != 1 and have != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({have}) "
                               f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  "
                               f"Tensor sizes: {list(x.shape)}")
        target.append(s)
    return Expand.apply(x, shape=tuple(target))


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    return expand(x, shape)


def _common(tensors: Sequence[Any]) -> list[Tensor]:
    """The tensors of a cat/stack, cast to one dtype (NumPy's promotion)."""
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise RuntimeError("expected a non-empty list of Tensors")
    dt = np.result_type(*[t.dtype for t in ts])
    return [cast(t, dt) for t in ts]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _common(tensors)
    d = normalize_dim(dim, ts[0].ndim)
    ref = ts[0].shape
    for k, t in enumerate(ts[1:], start=1):
        if t.ndim != len(ref):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(ref)} and {t.ndim}")
        for i, (a, b) in enumerate(zip(ref, t.shape)):
            if i != d and a != b:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size {a} "
                                   f"but got size {b} for tensor number {k} in the list.")
    return Cat.apply(*ts, dim=d)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _common(tensors)
    for k, t in enumerate(ts[1:], start=1):
        if t.shape != ts[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ts[0].shape)} "
                               f"at entry 0 and {list(t.shape)} at entry {k}")
    return Stack.apply(*ts, dim=normalize_dim(dim, ts[0].ndim + 1))


def getitem(x: Tensor, index: Any) -> Tensor:
    return GetItem.apply(x, index=index_arrays(index))
