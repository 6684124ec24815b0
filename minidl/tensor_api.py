"""The torch API breadth of ``Tensor`` (issue 8), kept out of ``minidl/tensor.py`` so that the engine's
file stays short: ``Tensor`` inherits these methods from ``TorchAPI``. Every method is a one-line call
into ``minidl.ops`` (math, closeness, layout, indexing, scan, unary, composite, extras) or
``minidl.linalg``, where each op's forward and backward sit side by side.

``finish(Tensor)`` runs once ``minidl.ops`` is importable (the end of ``minidl/tensor.py``). It binds
the modules these methods call, adds the in-place variants (``t.exp_()`` writes ``t.exp()`` into
``t``, outside the graph like the other in-place methods), and lets the reductions accept NumPy's
``axis=`` / ``keepdims=`` as torch does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from minidl.tensor import Tensor

_ops: Any = None          # minidl.ops, bound by finish()
_linalg: Any = None       # minidl.linalg
_shape_args: Any = None   # minidl.tensor._shape_args
_arr: Any = None          # minidl.tensor._arr


class TorchAPI:
    """Methods of ``Tensor`` that mirror torch's (see the module docstring)."""

    def sin(self) -> "Tensor": return _ops.sin(self)
    def cos(self) -> "Tensor": return _ops.cos(self)
    def floor(self) -> "Tensor": return _ops.floor(self)
    def ceil(self) -> "Tensor": return _ops.ceil(self)
    def round(self, *, decimals: int = 0) -> "Tensor": return _ops.round(self, decimals=decimals)
    def trunc(self) -> "Tensor": return _ops.trunc(self)
    fix = trunc
    def fmod(self, o: Any) -> "Tensor": return _ops.fmod(self, o)
    def remainder(self, o: Any) -> "Tensor": return _ops.remainder(self, o)
    def floor_divide(self, o: Any) -> "Tensor": return _ops.floor_divide(self, o)
    def divide(self, o: Any, *, rounding_mode: str | None = None) -> "Tensor":
        return _ops.div(self, o, rounding_mode=rounding_mode)
    true_divide = divide
    def isnan(self) -> "Tensor": return _ops.isnan(self)
    def isinf(self) -> "Tensor": return _ops.isinf(self)
    def isfinite(self) -> "Tensor": return _ops.isfinite(self)
    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> "Tensor":
        return _ops.isclose(self, other, rtol, atol, equal_nan)
    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return _ops.allclose(self, other, rtol, atol, equal_nan)
    def equal(self, other: "Tensor") -> bool: return _ops.equal(self, other)
    def flip(self, *dims: Any) -> "Tensor": return _ops.flip(self, _shape_args(dims))
    def fliplr(self) -> "Tensor": return _ops.fliplr(self)
    def flipud(self) -> "Tensor": return _ops.flipud(self)
    def roll(self, shifts: Any, dims: Any = None) -> "Tensor": return _ops.roll(self, shifts, dims)
    def tril(self, diagonal: int = 0) -> "Tensor": return _ops.tril(self, diagonal)
    def triu(self, diagonal: int = 0) -> "Tensor": return _ops.triu(self, diagonal)
    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> "Tensor":
        return _ops.diagonal(self, offset, dim1, dim2)
    def repeat(self, *sizes: Any) -> "Tensor": return _ops.repeat(self, *sizes)
    def split(self, split_size: Any, dim: int = 0) -> tuple["Tensor", ...]: return _ops.split(self, split_size, dim)
    def chunk(self, chunks: int, dim: int = 0) -> tuple["Tensor", ...]: return _ops.chunk(self, chunks, dim)
    def unbind(self, dim: int = 0) -> tuple["Tensor", ...]: return _ops.unbind(self, dim)
    def swapaxes(self, axis0: int, axis1: int) -> "Tensor": return _ops.transpose(self, axis0, axis1)
    swapdims = swapaxes
    def gather(self, dim: int, index: "Tensor") -> "Tensor": return _ops.gather(self, dim, index)
    def scatter(self, dim: int, index: "Tensor", src: Any = None, *, value: Any = None) -> "Tensor":
        return _ops.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        return _ops.scatter_add(self, dim, index, src)
    def index_select(self, dim: int, index: "Tensor") -> "Tensor": return _ops.index_select(self, dim, index)
    def masked_fill(self, mask: "Tensor", value: Any) -> "Tensor": return _ops.masked_fill(self, mask, value)
    def masked_fill_(self, mask: "Tensor", value: Any) -> "Tensor":
        return self._inplace(_ops.masked_fill(self.detach(), mask, value)._data)
    def where(self, condition: Any, other: Any) -> "Tensor": return _ops.where(condition, self, other)
    def take_along_dim(self, indices: "Tensor", dim: int) -> "Tensor": return _ops.take_along_dim(self, indices, dim)
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return _ops.sort(self, dim, descending, stable)
    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> "Tensor":
        return _ops.argsort(self, dim, descending, stable)
    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _ops.topk(self, k, dim, largest, sorted)
    def cumsum(self, dim: int, *, dtype: Any = None) -> "Tensor": return _ops.cumsum(self, dim, dtype=dtype)
    def cumprod(self, dim: int, *, dtype: Any = None) -> "Tensor": return _ops.cumprod(self, dim, dtype=dtype)
    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> "Tensor":
        return _ops.prod(self, dim, keepdim, dtype=dtype)
    def all(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return _ops.all(self, dim, keepdim)
    def any(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return _ops.any(self, dim, keepdim)
    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return _ops.norm(self, p, dim, keepdim, dtype)
    def amax(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        if isinstance(dim, (tuple, list)):
            return _ops.extras.amax_dims(self, dim, keepdim, take_min=False)
        return _ops.amax(self, dim, keepdim)
    def amin(self, dim: Any = None, keepdim: bool = False) -> "Tensor":
        if isinstance(dim, (tuple, list)):
            return _ops.extras.amax_dims(self, dim, keepdim, take_min=True)
        return _ops.amin(self, dim, keepdim)
    def frac(self) -> "Tensor": return _ops.frac(self)
    def addmm(self, mat1: "Tensor", mat2: "Tensor", *, beta: float = 1.0, alpha: float = 1.0) -> "Tensor":
        return _ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)
    def baddbmm(self, b1: "Tensor", b2: "Tensor", *, beta: float = 1.0, alpha: float = 1.0) -> "Tensor":
        return _ops.baddbmm(self, b1, b2, beta=beta, alpha=alpha)
    def logit(self, eps: float | None = None) -> "Tensor": return _ops.logit(self, eps)
    def nansum(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return _ops.nansum(self, dim, keepdim)
    def nanmean(self, dim: Any = None, keepdim: bool = False) -> "Tensor": return _ops.nanmean(self, dim, keepdim)
    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any: return _ops.kthvalue(self, k, dim, keepdim)
    def quantile(self, q: Any, dim: int | None = None, keepdim: bool = False) -> "Tensor":
        return _ops.quantile(self, q, dim, keepdim)
    def unflatten(self, dim: int, sizes: Any) -> "Tensor": return _ops.unflatten(self, dim, sizes)
    def element_size(self) -> int: return int(self._data.itemsize)
    def nelement(self) -> int: return int(self._data.size)
    def stride(self, dim: int | None = None) -> Any:
        """Strides in elements (minidl's arrays are C-contiguous unless a view says otherwise)."""
        st = tuple(int(b // self._data.itemsize) for b in self._data.strides)
        return st if dim is None else st[_ops.normalize_dim(dim, self.ndim)]
    def half(self) -> "Tensor": return _ops.cast(self, np.float16)
    def byte(self) -> "Tensor": return _ops.cast(self, np.uint8)
    def char(self) -> "Tensor": return _ops.cast(self, np.int8)
    def short(self) -> "Tensor": return _ops.cast(self, np.int16)
    def mode(self, dim: int = -1, keepdim: bool = False) -> Any: return _ops.mode(self, dim, keepdim)
    def einsum(self, equation: str, *others: Any) -> "Tensor": return _ops.einsum(equation, self, *others)
    def inverse(self) -> "Tensor": return _linalg.inv(self)
    def det(self) -> "Tensor": return _linalg.det(self)
    def slogdet(self) -> Any: return _linalg.slogdet(self)
    def logdet(self) -> "Tensor": return _linalg.logdet(self)

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        """A new tensor (copied) with this one's dtype unless ``dtype`` is given, as torch's."""
        return Tensor(np.array(_arr(data), dtype=dtype or self.dtype), requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        shape = _shape_args((size,) if isinstance(size, (int, np.integer)) else tuple(size))
        return Tensor(np.full(shape, fill_value, dtype=dtype or self.dtype), requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_shape_args(size), 0, dtype=dtype, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_shape_args(size), 1, dtype=dtype, requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> "Tensor":
        return self.new_full(_shape_args(size), 0, dtype=dtype, requires_grad=requires_grad)
    def tan(self) -> "Tensor": return _ops.tan(self)
    def asin(self) -> "Tensor": return _ops.asin(self)
    def acos(self) -> "Tensor": return _ops.acos(self)
    def atan(self) -> "Tensor": return _ops.atan(self)
    def sinh(self) -> "Tensor": return _ops.sinh(self)
    def cosh(self) -> "Tensor": return _ops.cosh(self)
    def asinh(self) -> "Tensor": return _ops.asinh(self)
    def atanh(self) -> "Tensor": return _ops.atanh(self)
    def log2(self) -> "Tensor": return _ops.log2(self)
    def log10(self) -> "Tensor": return _ops.log10(self)
    def exp2(self) -> "Tensor": return _ops.exp2(self)
    def expm1(self) -> "Tensor": return _ops.expm1(self)
    def rsqrt(self) -> "Tensor": return _ops.rsqrt(self)
    def reciprocal(self) -> "Tensor": return _ops.reciprocal(self)
    def trace(self) -> "Tensor": return _ops.trace(self)
    def argwhere(self) -> "Tensor": return _ops.argwhere(self)
    def logical_not(self) -> "Tensor": return _ops.logical_not(self)
    arcsin, arccos, arctan, arcsinh, arctanh = asin, acos, atan, asinh, atanh
    def atan2(self, other: Any) -> "Tensor": return _ops.atan2(self, other)
    arctan2 = atan2
    def dot(self, other: "Tensor") -> "Tensor": return _ops.dot(self, other)
    inner = dot
    def mv(self, vec: "Tensor") -> "Tensor": return _ops.mv(self, vec)
    def outer(self, other: "Tensor") -> "Tensor": return _ops.outer(self, other)
    def diag(self, diagonal: int = 0) -> "Tensor": return _ops.diag(self, diagonal)
    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> "Tensor":
        return _ops.diag_embed(self, offset, dim1, dim2)
    def tile(self, *dims: Any) -> "Tensor": return _ops.tile(self, _shape_args(dims))
    def movedim(self, source: Any, destination: Any) -> "Tensor": return _ops.movedim(self, source, destination)
    moveaxis = movedim
    def narrow(self, dim: int, start: int, length: int) -> "Tensor": return _ops.narrow(self, dim, start, length)
    def select(self, dim: int, index: int) -> "Tensor": return _ops.select(self, dim, index)
    def masked_select(self, mask: "Tensor") -> "Tensor": return _ops.masked_select(self, mask)
    def kron(self, other: "Tensor") -> "Tensor": return _ops.kron(self, other)
    def cross(self, other: "Tensor", dim: int | None = None) -> "Tensor": return _ops.cross(self, other, dim)
    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> "Tensor":
        return _ops.diff(self, n, dim, prepend, append)
    def lerp(self, end: Any, weight: Any) -> "Tensor": return _ops.lerp(self, end, weight)
    def addcmul(self, t1: "Tensor", t2: "Tensor", *, value: float = 1.0) -> "Tensor":
        return _ops.addcmul(self, t1, t2, value=value)
    def addcdiv(self, t1: "Tensor", t2: "Tensor", *, value: float = 1.0) -> "Tensor":
        return _ops.addcdiv(self, t1, t2, value=value)
    def hypot(self, other: Any) -> "Tensor": return _ops.hypot(self, other)
    def logaddexp(self, other: Any) -> "Tensor": return _ops.logaddexp(self, other)
    def clamp_min(self, min: float) -> "Tensor": return _ops.clamp_min(self, min)
    def clamp_max(self, max: float) -> "Tensor": return _ops.clamp_max(self, max)
    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> "Tensor":
        return _ops.nan_to_num(self, nan, posinf, neginf)
    def median(self, dim: int | None = None, keepdim: bool = False) -> Any: return _ops.median(self, dim, keepdim)
    def cummax(self, dim: int) -> Any: return _ops.cummax(self, dim)
    def cummin(self, dim: int) -> Any: return _ops.cummin(self, dim)
    def logcumsumexp(self, dim: int) -> "Tensor": return _ops.logcumsumexp(self, dim)
    def nonzero(self, *, as_tuple: bool = False) -> Any: return _ops.nonzero(self, as_tuple=as_tuple)
    def count_nonzero(self, dim: Any = None) -> "Tensor": return _ops.count_nonzero(self, dim)
    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
               dim: int | None = None) -> Any:
        return _ops.unique(self, sorted, return_inverse, return_counts, dim)
    def bincount(self, weights: Any = None, minlength: int = 0) -> "Tensor":
        return _ops.bincount(self, weights, minlength)
    def logical_and(self, other: Any) -> "Tensor": return _ops.logical_and(self, other)
    def logical_or(self, other: Any) -> "Tensor": return _ops.logical_or(self, other)
    def logical_xor(self, other: Any) -> "Tensor": return _ops.logical_xor(self, other)
    def __xor__(self, o: Any) -> "Tensor": return _ops.bitwise_xor(self, o)
    def __lshift__(self, o: Any) -> "Tensor": return _ops.bitwise_left_shift(self, o)
    def __rshift__(self, o: Any) -> "Tensor": return _ops.bitwise_right_shift(self, o)
    def __rand__(self, o: Any) -> "Tensor": return _ops.bitwise_and(o, self)
    def __ror__(self, o: Any) -> "Tensor": return _ops.bitwise_or(o, self)
    def __rxor__(self, o: Any) -> "Tensor": return _ops.bitwise_xor(o, self)
    def bitwise_and(self, o: Any) -> "Tensor": return _ops.bitwise_and(self, o)
    def bitwise_or(self, o: Any) -> "Tensor": return _ops.bitwise_or(self, o)
    def bitwise_xor(self, o: Any) -> "Tensor": return _ops.bitwise_xor(self, o)
    def bitwise_not(self) -> "Tensor": return _ops.bitwise_not(self)

    @property
    def mT(self) -> "Tensor":
        """The transpose of the last two dims (a batch of matrices)."""
        return _ops.transpose(self, -1, -2)

    def type(self, dtype: Any = None) -> Any:
        """``t.type(minidl.float64)`` casts; ``t.type()`` names the dtype."""
        return f"minidl.{self.dtype}" if dtype is None else _ops.cast(self, dtype)
    def square_(self) -> "Tensor": return self._inplace(self._data * self._data)
    def sgn(self) -> "Tensor": return _ops.sgn(self)
    def copysign(self, o: Any) -> "Tensor": return _ops.copysign(self, o)
    def float_power(self, o: Any) -> "Tensor": return _ops.float_power(self, o)
    def fmax(self, o: Any) -> "Tensor": return _ops.fmax(self, o)
    def fmin(self, o: Any) -> "Tensor": return _ops.fmin(self, o)
    def signbit(self) -> "Tensor": return _ops.signbit(self)
    def isposinf(self) -> "Tensor": return _ops.isposinf(self)
    def isneginf(self) -> "Tensor": return _ops.isneginf(self)
    def take(self, index: "Tensor") -> "Tensor": return _ops.take(self, index)
    def ravel(self) -> "Tensor": return _ops.ravel(self)
    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> "Tensor": return _ops.rot90(self, k, dims)
    def msort(self) -> "Tensor": return _ops.msort(self)
    def erf(self) -> "Tensor": return _ops.erf(self)
    def index_add(self, dim: int, index: "Tensor", source: "Tensor", *, alpha: float = 1.0) -> "Tensor":
        return _ops.index_add(self, dim, index, source, alpha=alpha)
    def index_copy(self, dim: int, index: "Tensor", source: "Tensor") -> "Tensor":
        return _ops.index_copy(self, dim, index, source)
    def index_fill(self, dim: int, index: "Tensor", value: Any) -> "Tensor":
        return _ops.index_fill(self, dim, index, value)
    def masked_scatter(self, mask: "Tensor", source: "Tensor") -> "Tensor":
        return _ops.masked_scatter(self, mask, source)
    def matrix_power(self, n: int) -> "Tensor": return _linalg.matrix_power(self, n)

    # in-place variants: the out-of-place result written into this tensor (outside the graph, as the others)
    def _inplace_op(self, name: str, *args: Any, **kwargs: Any) -> "Tensor":
        self._check_inplace()
        return self._inplace(getattr(self.detach(), name)(*args, **kwargs)._data)

    def _reshape_inplace(self, new: "Tensor") -> "Tensor":
        self._check_inplace()
        self._data = new._data
        return self

    def unsqueeze_(self, dim: int) -> "Tensor": return self._reshape_inplace(self.detach().unsqueeze(dim))
    def squeeze_(self, dim: Any = None) -> "Tensor": return self._reshape_inplace(self.detach().squeeze(dim))
    def t_(self) -> "Tensor": return self._reshape_inplace(self.detach().t().clone())
    def transpose_(self, d0: int, d1: int) -> "Tensor":
        return self._reshape_inplace(self.detach().transpose(d0, d1).clone())
    def index_put_(self, indices: Any, values: Any, accumulate: bool = False) -> "Tensor":
        self._check_inplace()
        idx = _ops.index_arrays(tuple(indices))
        if accumulate:
            np.add.at(self._data, idx, _arr(values))
        else:
            self._data[idx] = _arr(values)
        return self


def _make_inplace(name: str) -> Any:
    def method(self: "Tensor", *args: Any, **kwargs: Any) -> "Tensor":
        return self._inplace_op(name, *args, **kwargs)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: ``t.{name}_(...)`` writes ``t.{name}(...)`` into ``t`` (issue 8)."
    return method


INPLACE = ("exp", "log", "abs", "neg", "sqrt", "pow", "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil",
           "round", "trunc", "fmod", "remainder", "reciprocal", "rsqrt", "clamp_min", "clamp_max", "masked_fill",
           "scatter", "scatter_add", "index_add", "index_fill", "index_copy", "masked_scatter", "lerp", "addcmul",
           "addcdiv", "sign", "log1p", "expm1", "exp2", "log2", "log10", "sinh", "cosh", "tan", "atan", "asin",
           "acos", "nan_to_num", "tril", "triu", "cumsum", "cumprod", "logical_not", "copysign", "hypot", "atan2",
           "clip", "square")
AXIS_ALIASED = ("sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp",
                "softmax", "log_softmax", "prod", "all", "any", "norm", "cumsum", "cumprod", "squeeze",
                "unsqueeze", "mode", "sort", "argsort", "topk")


def finish(tensor_cls: type) -> None:
    """Bind the ops modules, add the in-place variants and the ``axis=`` / ``keepdims=`` aliases."""
    global _ops, _linalg, _shape_args, _arr
    from minidl import linalg, ops, tensor
    from minidl.ops.aliases import numpy_names
    _ops, _linalg, _shape_args, _arr = ops, linalg, tensor._shape_args, tensor._arr
    globals()["Tensor"] = tensor_cls  # new_tensor / new_full build plain Tensors
    for name in INPLACE:
        if not hasattr(tensor_cls, name + "_") and hasattr(tensor_cls, name):
            setattr(tensor_cls, name + "_", _make_inplace(name))
    for name in AXIS_ALIASED:  # torch accepts NumPy's axis= / keepdims= wherever it takes dim= / keepdim=
        setattr(tensor_cls, name, numpy_names(getattr(tensor_cls, name)))
