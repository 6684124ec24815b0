"""torch functions that are compositions of existing ops (so their gradients come for free): dot, mv,
outer, diag, trace, tile, movedim, narrow, select, masked_select, tensordot, kron, cross, cdist, diff,
lerp, addcmul, addcdiv, hypot, logaddexp, clamp_min / clamp_max, nan_to_num, median, cummax / cummin,
logcumsumexp, std_mean / var_mean; and the index-valued ones, outside the graph: nonzero, argwhere,
unique, bincount, count_nonzero, logical_*, meshgrid.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Sequence

import numpy as np

from minidl.ops._util import as_tensor, binary_operands, normalize_dim, normalize_dims
from minidl.tensor import Tensor

ValuesIndices = namedtuple("values_indices", ["values", "indices"])


def _ops() -> Any:
    from minidl import ops
    return ops


def dot(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors "
                           f"(shapes {tuple(a.shape)} and {tuple(b.shape)})")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have "
                           f"the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively")
    return a @ b


inner = dot


def mv(m: Tensor, v: Tensor) -> Tensor:
    if m.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {m.ndim}, {v.ndim} "
                           f"(shapes {tuple(m.shape)} and {tuple(v.shape)})")
    return m @ v


def outer(a: Tensor, b: Tensor) -> Tensor:
    return a.reshape(-1, 1) * b.reshape(1, -1)


ger = outer


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D input becomes a square matrix with it on the ``diagonal``; a 2-D input gives its diagonal."""
    from minidl.ops.layout import DiagonalEmbed
    if x.ndim == 1:
        n = x.shape[0] + abs(int(diagonal))
        return DiagonalEmbed.apply(x, shape=(n, n), offset=int(diagonal), dim1=0, dim2=1)
    if x.ndim == 2:
        return _ops().diagonal(x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D (shape {tuple(x.shape)})")


def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    from minidl.ops.layout import DiagonalEmbed
    n = x.shape[-1] + abs(int(offset))
    nd = x.ndim + 1
    d1, d2 = normalize_dim(dim1, nd), normalize_dim(dim2, nd)
    shape = list(x.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, n)
    return DiagonalEmbed.apply(x, shape=tuple(shape), offset=int(offset), dim1=d1, dim2=d2)


def trace(x: Tensor) -> Tensor:
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim} (shape {tuple(x.shape)})")
    return x.diagonal().sum()


def tile(x: Tensor, dims: Sequence[int]) -> Tensor:
    reps = tuple(int(d) for d in dims)
    reps = (1,) * (x.ndim - len(reps)) + reps
    return _ops().repeat(x, reps)


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same "
                           f"number of dims as destination ({dst} dims)")
    src = [normalize_dim(d, x.ndim) for d in src]
    dst = [normalize_dim(d, x.ndim) for d in dst]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x.permute(*order)


moveaxis = movedim


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    start = int(start) + (n if start < 0 else 0)
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}) "
                           f"of shape {tuple(x.shape)}")
    return x[(slice(None),) * d + (slice(start, start + int(length)),)]


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {tuple(x.shape)} at dimension {d}")
    return x[(slice(None),) * d + (int(index),)]


def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {m.dtype}")
    from minidl.ops._util import check_broadcast
    shape = check_broadcast(tuple(x.shape), tuple(m.shape))
    return x.expand(*shape)[Tensor(np.broadcast_to(m, shape).copy())]


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([dims[0]] if isinstance(dims[0], int) else list(dims[0]),
                  [dims[1]] if isinstance(dims[1], int) else list(dims[1]))
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[:a.ndim])
    sb = list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[normalize_dim(j, b.ndim)] = sa[normalize_dim(i, a.ndim)]
    contracted = {sa[normalize_dim(i, a.ndim)] for i in da}
    out = "".join(c for c in sa if c not in contracted) + "".join(c for c in sb if c not in contracted)
    return _ops().einsum(f"{''.join(sa)},{''.join(sb)}->{out}", a, b)


def kron(a: Tensor, b: Tensor) -> Tensor:
    nd = max(a.ndim, b.ndim)
    a = a.reshape(*((1,) * (nd - a.ndim) + tuple(a.shape)))
    b = b.reshape(*((1,) * (nd - b.ndim) + tuple(b.shape)))
    inter_a = sum(((s, 1) for s in a.shape), ())
    inter_b = sum(((1, s) for s in b.shape), ())
    return (a.reshape(*inter_a) * b.reshape(*inter_b)).reshape(*[x * y for x, y in zip(a.shape, b.shape)])


def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    A, B = binary_operands(a, b)
    if dim is None:
        dim = next((i for i, s in enumerate(np.broadcast_shapes(A.shape, B.shape)) if s == 3), -1)
    nd = max(A.ndim, B.ndim)
    d = normalize_dim(dim, nd)
    if np.broadcast_shapes(A.shape, B.shape)[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {tuple(A.shape)} and "
                           f"{tuple(B.shape)}")
    A = A.reshape(*((1,) * (nd - A.ndim) + tuple(A.shape)))
    B = B.reshape(*((1,) * (nd - B.ndim) + tuple(B.shape)))

    def c(t: Tensor, i: int) -> Tensor:
        return select(t, d, i)
    parts = [c(A, 1) * c(B, 2) - c(A, 2) * c(B, 1), c(A, 2) * c(B, 0) - c(A, 0) * c(B, 2),
             c(A, 0) * c(B, 1) - c(A, 1) * c(B, 0)]
    return _ops().stack(parts, dim=d)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return _ops().norm(diff, p=p, dim=-1)


def diff(x: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None, append: Tensor | None = None) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    if prepend is not None or append is not None:
        x = _ops().cat([t for t in (prepend, x, append) if t is not None], dim=d)
    for _ in range(n):
        lead = (slice(None),) * d
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


def lerp(start: Tensor, end: Any, weight: Any) -> Tensor:
    return start + (as_tensor(end, like=start) - start) * weight


def addcmul(x: Tensor, t1: Tensor, t2: Tensor, *, value: float = 1.0) -> Tensor:
    return x + value * t1 * t2


def addcdiv(x: Tensor, t1: Tensor, t2: Tensor, *, value: float = 1.0) -> Tensor:
    return x + value * t1 / t2


def hypot(a: Any, b: Any) -> Tensor:
    A, B = binary_operands(a, b)
    return (A * A + B * B).sqrt()


def logaddexp(a: Any, b: Any) -> Tensor:
    """log(e^a + e^b) = m + log(e^(a-m) + e^(b-m)) with m = max(a, b) (a constant), so that it never overflows."""
    A, B = binary_operands(a, b)
    m = _ops().maximum(A, B).detach()
    return m + ((A - m).exp() + (B - m).exp()).log()


def clamp_min(x: Tensor, min: float) -> Tensor:  # noqa: A002  (torch's names)
    return _ops().clamp(x, min=min)


def clamp_max(x: Tensor, max: float) -> Tensor:  # noqa: A002
    return _ops().clamp(x, max=max)


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf`` (default: the largest finite value), -inf -> ``neginf``; the
    replaced elements get a zero gradient, the others pass theirs through."""
    if x.dtype.kind != "f":
        return x.clone()
    info = np.finfo(x.dtype)
    d = x._data
    fill = np.where(np.isnan(d), nan, np.where(d > 0, info.max if posinf is None else posinf,
                                               info.min if neginf is None else neginf)).astype(x.dtype)
    return _ops().where(Tensor(~np.isfinite(d)), Tensor(fill), x)


def median(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (torch's: the element of rank (n-1)//2); with ``dim``, (values, indices)."""
    if dim is None:
        flat = x.reshape(-1)
        idx = int(np.argsort(flat._data, kind="stable")[(flat.shape[0] - 1) // 2])
        return flat[idx]
    d = normalize_dim(dim, x.ndim)
    order = np.argsort(x._data, axis=d, kind="stable")
    index = np.take(order, [(x.shape[d] - 1) // 2], axis=d)
    values = _ops().gather(x, d, Tensor(index))
    if not keepdim:
        values, index = values.squeeze(d), np.squeeze(index, d)
    return ValuesIndices(values, Tensor(index.astype(np.int64)))


def _cumext(x: Tensor, dim: int, take_max: bool) -> ValuesIndices:
    d = normalize_dim(dim, x.ndim)
    data = np.moveaxis(x._data, d, -1)
    idx = np.zeros(data.shape, dtype=np.int64)
    best = data[..., 0].copy()
    for i in range(1, data.shape[-1]):  # ties move to the later index, as torch does
        better = data[..., i] >= best if take_max else data[..., i] <= best
        better |= np.isnan(data[..., i])
        best = np.where(better, data[..., i], best)
        idx[..., i] = np.where(better, i, idx[..., i - 1])
    index = np.moveaxis(idx, -1, d)
    return ValuesIndices(_ops().gather(x, d, Tensor(index)), Tensor(index))


def cummax(x: Tensor, dim: int) -> ValuesIndices:
    return _cumext(x, dim, True)


def cummin(x: Tensor, dim: int) -> ValuesIndices:
    return _cumext(x, dim, False)


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """log sum_{j<=i} e^{x_j}, shifted by the (constant) maximum along ``dim`` to stay finite."""
    d = normalize_dim(dim, x.ndim)
    m = Tensor(np.max(x._data, axis=d, keepdims=True))
    return _ops().cumsum((x - m).exp(), d).log() + m


def var_mean(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: int | None = None) -> tuple[Tensor, Tensor]:
    return (_ops().var(x, dim, unbiased, keepdim, correction=correction),
            _ops().mean(x, dim, keepdim) if dim is not None else _ops().mean(x))


def std_mean(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: int | None = None) -> tuple[Tensor, Tensor]:
    return (_ops().std(x, dim, unbiased, keepdim, correction=correction),
            _ops().mean(x, dim, keepdim) if dim is not None else _ops().mean(x))


# --------------------------------------------------------------------------- index-valued, outside the graph
def nonzero(x: Tensor, *, as_tuple: bool = False) -> Any:
    nz = np.nonzero(x._data if x.ndim else x._data.reshape(1))
    if as_tuple:
        return tuple(Tensor(i.astype(np.int64)) for i in nz)
    return Tensor(np.stack(nz, axis=1).astype(np.int64) if x.ndim else np.zeros((len(nz[0]), 0), np.int64))


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


def count_nonzero(x: Tensor, dim: Any = None) -> Tensor:
    return Tensor(np.asarray(np.count_nonzero(x._data, axis=None if dim is None else normalize_dims(dim, x.ndim)),
                             dtype=np.int64))


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None) -> Any:
    if dim is not None:
        raise NotImplementedError("unique(dim=...) is not implemented in minidl")
    vals, inv, counts = np.unique(x._data, return_inverse=True, return_counts=True)
    out: list[Tensor] = [Tensor(vals)]
    if return_inverse:
        out.append(Tensor(inv.reshape(x.shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got {x.dtype} {tuple(x.shape)})")
    if x.numel() and x._data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = None if weights is None else weights._data
    out = np.bincount(x._data, weights=w, minlength=minlength)
    return Tensor(out.astype(np.int64) if w is None else out.astype(weights.dtype))


def _logical(fn: Any, a: Any, b: Any = None) -> Tensor:
    A = as_tensor(a)._data
    if b is None:
        return Tensor(fn(A))
    return Tensor(fn(A, as_tensor(b)._data))


def logical_and(a: Any, b: Any) -> Tensor:
    return _logical(np.logical_and, a, b)


def logical_or(a: Any, b: Any) -> Tensor:
    return _logical(np.logical_or, a, b)


def logical_xor(a: Any, b: Any) -> Tensor:
    return _logical(np.logical_xor, a, b)


def logical_not(a: Any) -> Tensor:
    return _logical(np.logical_not, a)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Grids from 1-D tensors (``indexing="ij"``: matrix order, torch's default; ``"xy"``: Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [as_tensor(t) for t in tensors]
    shape = [t.numel() for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        pos = i
        if indexing == "xy" and len(ts) >= 2 and i < 2:
            pos = 1 - i
        view = [1] * len(ts)
        view[pos] = t.numel()
        out.append(t.reshape(*view).expand(*shape))
    return tuple(out)
