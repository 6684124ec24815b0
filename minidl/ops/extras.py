"""More of torch's everyday functions, all compositions of existing ops or index arithmetic: square, sgn,
copysign, float_power, fmax / fmin, rsub, take, ravel, rot90, atleast_1d/2d/3d, hstack / vstack / dstack /
column_stack, block_diag, msort, trapezoid, index_add / index_fill / index_copy / masked_scatter, frac,
logit, nansum / nanmean, kthvalue, quantile, unflatten, amax over several dims, clamp with tensor bounds,
addmm / baddbmm, empty_like, logspace. (The index-valued and bitwise functions are in ``discrete.py``.)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from minidl import autograd
from minidl.ops._util import as_tensor, binary_operands, normalize_dim
from minidl.tensor import Tensor


def _ops() -> Any:
    from minidl import ops
    return ops


def square(x: Tensor) -> Tensor:
    return x * x


def sgn(x: Tensor) -> Tensor:
    return _ops().sign(x)


def copysign(a: Any, b: Any) -> Tensor:
    """|a| with the sign of b (including the sign of a zero b, as the C function)."""
    A, B = binary_operands(a, b)
    A = A if A.dtype.kind == "f" else A.to(autograd.get_default_dtype())
    flip = Tensor(np.signbit(A._data) != np.signbit(np.broadcast_to(B._data, np.broadcast_shapes(A.shape, B.shape))))
    # b's gradient is 0 (as torch's); a where() that never selects b keeps b in the graph to receive it
    none = Tensor(np.zeros(flip.shape, dtype=bool))
    return _ops().where(flip, -A, A) + _ops().where(none, B, Tensor(np.zeros((), dtype=A.dtype)))


def float_power(a: Any, b: Any) -> Tensor:
    """a ** b computed in float64, as torch's float_power."""
    A = as_tensor(a).to(np.float64)
    return _ops().pow(A, b.to(np.float64) if isinstance(b, Tensor) else float(b))


def fmax(a: Any, b: Any) -> Tensor:
    """The elementwise maximum, ignoring NaN (NaN only where both are NaN)."""
    A, B = binary_operands(a, b)
    m = _ops().maximum(A, B)
    return _ops().where(Tensor(np.isnan(A._data)), B.expand(*m.shape), _ops().where(Tensor(np.isnan(B._data)),
                                                                                   A.expand(*m.shape), m))


def fmin(a: Any, b: Any) -> Tensor:
    A, B = binary_operands(a, b)
    m = _ops().minimum(A, B)
    return _ops().where(Tensor(np.isnan(A._data)), B.expand(*m.shape), _ops().where(Tensor(np.isnan(B._data)),
                                                                                   A.expand(*m.shape), m))


def rsub(a: Any, b: Any, alpha: float = 1.0) -> Tensor:
    """b - alpha * a (torch's reflected subtraction)."""
    return _ops().sub(b, a * alpha if alpha != 1 else a)


def take(x: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened ``x`` at ``index`` (an output shaped like ``index``)."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    n = x.numel()
    if idx.size and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"take(): index out of range for a tensor of {n} elements (shape {tuple(x.shape)})")
    return x.reshape(-1)[Tensor(np.where(idx < 0, idx + n, idx).astype(np.int64))]


def ravel(x: Tensor) -> Tensor:
    return x.reshape(-1)


def rot90(x: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees k times in the plane ``dims``, from the first axis towards the second."""
    d0, d1 = (normalize_dim(d, x.ndim) for d in dims)
    k %= 4
    if k == 1:
        return x.flip(d1).transpose(d0, d1)
    if k == 2:
        return x.flip(d0, d1)
    if k == 3:
        return x.transpose(d0, d1).flip(d1)
    return x.clone()


def atleast_1d(x: Tensor) -> Tensor:
    return x.reshape(1) if x.ndim == 0 else x


def atleast_2d(x: Tensor) -> Tensor:
    x = atleast_1d(x)
    return x.unsqueeze(0) if x.ndim == 1 else x


def atleast_3d(x: Tensor) -> Tensor:
    if x.ndim == 0:
        return x.reshape(1, 1, 1)
    if x.ndim == 1:
        return x.reshape(1, -1, 1)
    return x.unsqueeze(-1) if x.ndim == 2 else x


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    ts = [atleast_1d(t) for t in tensors]
    return _ops().cat(ts, dim=0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    return _ops().cat([atleast_2d(t) for t in tensors], dim=0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    return _ops().cat([atleast_3d(t) for t in tensors], dim=2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    return hstack([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors])


def block_diag(*tensors: Tensor) -> Tensor:
    """The matrices on the diagonal of a larger zero matrix (0-d and 1-d inputs are rows)."""
    ms = [atleast_2d(as_tensor(t)) for t in tensors]
    cols = sum(m.shape[1] for m in ms)
    rows, left = [], 0
    dtype = np.result_type(*[m.dtype for m in ms])
    for m in ms:
        m = m.to(dtype)
        parts = [Tensor(np.zeros((m.shape[0], left), dtype)), m,
                 Tensor(np.zeros((m.shape[0], cols - left - m.shape[1]), dtype))]
        rows.append(_ops().cat(parts, dim=1))
        left += m.shape[1]
    return _ops().cat(rows, dim=0)


def msort(x: Tensor) -> Tensor:
    return _ops().sort(x, dim=0).values


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float = 1.0, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: sum of (y_i + y_{i+1}) / 2 times the spacing."""
    d = normalize_dim(dim, y.ndim)
    lead = (slice(None),) * d
    avg = (y[lead + (slice(1, None),)] + y[lead + (slice(None, -1),)]) * 0.5
    if x is None:
        return avg.sum(d) * dx
    return (avg * _ops().diff(x, dim=-1 if x.ndim == 1 else d)).sum(d)


trapz = trapezoid


# --------------------------------------------------------------------------- index_* (differentiable in x and source)
def _vector_index(index: Any, n: int, name: str) -> np.ndarray:
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"{name}(): Index is supposed to be a vector of integers, got {idx.dtype} {tuple(idx.shape)}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{name}(): index out of range for a dimension of size {n}")
    return np.where(idx < 0, idx + n, idx).reshape(-1).astype(np.int64)


def _along_dim_index(x: Tensor, dim: int, idx: np.ndarray, src_shape: tuple[int, ...]) -> np.ndarray:
    """The gather/scatter index (src's shape) that sends src's slice k to x's slice idx[k] along ``dim``."""
    shape = [1] * len(src_shape)
    shape[dim] = len(idx)
    return np.broadcast_to(idx.reshape(shape), src_shape).copy()


def index_add(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1.0) -> Tensor:
    """x with ``alpha * source[k]`` added to slice ``index[k]`` along ``dim`` (repeats add up)."""
    d = normalize_dim(dim, x.ndim)
    idx = _vector_index(index, x.shape[d], "index_add")
    src = source * alpha if alpha != 1 else source
    return _ops().scatter_add(x, d, Tensor(_along_dim_index(x, d, idx, tuple(source.shape))), src)


def index_copy(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    idx = _vector_index(index, x.shape[d], "index_copy")
    return _ops().scatter(x, d, Tensor(_along_dim_index(x, d, idx, tuple(source.shape))), source)


def index_fill(x: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    idx = _vector_index(index, x.shape[d], "index_fill")
    mask = np.zeros(x.shape[d], dtype=bool)
    mask[idx] = True
    shape = [1] * x.ndim
    shape[d] = x.shape[d]
    return _ops().masked_fill(x, Tensor(mask.reshape(shape)), value)


def masked_scatter(x: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """x with the True positions of ``mask`` filled, in order, by the first elements of ``source``."""
    m = np.broadcast_to(mask._data, tuple(x.shape))
    k = int(m.sum())
    if k > source.numel():
        raise RuntimeError(f"masked_scatter: expected source to have at least {k} elements, got {source.numel()}")
    flat_pos = np.flatnonzero(m)
    filled = _ops().scatter(x.reshape(-1), 0, Tensor(flat_pos.astype(np.int64)), source.reshape(-1)[:k])
    return filled.reshape(*x.shape)


# --------------------------------------------------------------------------- constructors
def empty_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Like torch: uninitialised in principle; here zeros (deterministic)."""
    return Tensor(np.zeros(x.shape, dtype=dtype or x.dtype), requires_grad=requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    dt = dtype or autograd.get_default_dtype()
    return Tensor(np.logspace(start, end, steps, base=base).astype(dt), requires_grad=requires_grad)


# --------------------------------------------------------------------------- a few more compositions
def frac(x: Tensor) -> Tensor:
    """x - trunc(x): the fractional part, with the sign of x."""
    return x - _ops().trunc(x)


def logit(x: Tensor, eps: float | None = None) -> Tensor:
    if eps is not None:
        x = _ops().clamp(x, eps, 1 - eps)
    return (x / (1 - x)).log()


def nansum(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    zero = Tensor(np.zeros((), dtype=x.dtype))
    return _ops().where(Tensor(np.isnan(x._data)), zero, x).sum(dim, keepdim)


def nanmean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    count = Tensor(np.sum(~np.isnan(x._data), axis=None if dim is None else dim, keepdims=keepdim).astype(x.dtype))
    return nansum(x, dim, keepdim) / count


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The k-th smallest value along ``dim`` (k from 1) and its index."""
    from minidl.ops.composite import ValuesIndices
    d = normalize_dim(dim, x.ndim)
    if not 1 <= k <= x.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d} of shape {tuple(x.shape)}")
    order = np.argsort(x._data, axis=d, kind="stable")
    index = np.take(order, [k - 1], axis=d)
    values = _ops().gather(x, d, Tensor(index))
    if not keepdim:
        values, index = values.squeeze(d), np.squeeze(index, d)
    return ValuesIndices(values, Tensor(index.astype(np.int64)))


def quantile(x: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The q-quantile (linear interpolation between the two nearest ranks, torch's default)."""
    if interpolation != "linear":
        raise NotImplementedError(f"quantile(interpolation={interpolation!r}) is not implemented in minidl")
    qs = np.atleast_1d(np.asarray(q._data if isinstance(q, Tensor) else q, dtype=np.float64))
    if np.any((qs < 0) | (qs > 1)):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    src = x.reshape(-1) if dim is None else x
    d = 0 if dim is None else normalize_dim(dim, x.ndim)
    s = _ops().sort(src, dim=d).values
    n = s.shape[d]
    pos = qs * (n - 1)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    w = Tensor((pos - lo).astype(x.dtype))
    outs = []
    for i in range(len(qs)):
        a, b = _ops().select(s, d, int(lo[i])), _ops().select(s, d, int(hi[i]))
        v = a + (b - a) * w[i]
        if keepdim:
            v = v.unsqueeze(d) if dim is not None else v.reshape(*([1] * x.ndim))
        outs.append(v)
    if np.ndim(q._data if isinstance(q, Tensor) else q) == 0:
        return outs[0]
    return _ops().stack(outs, dim=0)


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    return x.reshape(*x.shape[:d], *sizes, *x.shape[d + 1:])


def amax_dims(x: Tensor, dim: Any, keepdim: bool, take_min: bool) -> Tensor:
    """amax / amin over several dims: move them last, flatten them, reduce once (ties share the gradient
    only within that flattened block, as torch's)."""
    from minidl.ops._util import normalize_dims
    dims = normalize_dims(dim, x.ndim)
    rest = [i for i in range(x.ndim) if i not in dims]
    moved = x.permute(*rest, *dims).reshape(*[x.shape[i] for i in rest], -1)
    out = (moved.min(-1) if take_min else moved.max(-1)).values
    if keepdim:
        out = out.reshape(*[1 if i in dims else x.shape[i] for i in range(x.ndim)])
    return out


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002  (torch's names)
    """clamp with tensor bounds too: max(min(x, max), min), elementwise and broadcasting."""
    from minidl.ops.elementwise import clamp as clamp_scalar
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return clamp_scalar(x, min, max)
    if min is not None:
        x = _ops().maximum(x, min)
    if max is not None:
        x = _ops().minimum(x, max)
    return x


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: expected 2-D matrices, got shapes {tuple(mat1.shape)} and {tuple(mat2.shape)}")
    return input * beta + (mat1 @ mat2) * alpha


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError(f"baddbmm: expected 3-D tensors, got shapes {tuple(batch1.shape)} and {tuple(batch2.shape)}")
    return input * beta + (batch1 @ batch2) * alpha
