"""``Tensor``: an ndarray plus what autograd needs (``requires_grad``, ``.grad``, ``grad_fn``).

The numbers live in a plain NumPy array (``t.numpy()`` returns it, sharing memory, as torch does).
Every method below is a one-line call into ``minidl.ops``, where each op's forward and backward
sit side by side; nothing here differentiates anything.

Deliberate difference from torch, for teaching: there is only one device, ``"cpu"``; ``.to("cpu")``
is accepted, anything else raises.
"""
from __future__ import annotations

import weakref
from typing import Any, Iterator, Sequence

import numpy as np

from minidl import autograd


class Size(tuple):
    """``t.shape``: a tuple, printed like torch's ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"minidl.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class Tensor:
    """A multi-dimensional array that can record the ops applied to it.

    Build one with ``minidl.tensor(data)`` (or ``zeros``, ``randn``...). The constructor
    ``Tensor(array)`` wraps an ndarray as is (no copy, no dtype inference).
    """

    __array_priority__ = 1000
    __array_ufunc__ = None  # ndarray <op> Tensor defers to Tensor's reflected operators
    __hash__ = object.__hash__  # tensors are used as dict keys (optimiser state), compared by identity

    _out_index = 0          # which output of its grad_fn this tensor is (Functions may return several)
    _hooks: list | None = None   # gradient hooks of a leaf (a non-leaf keeps them on its grad_fn)

    def __init__(self, data: np.ndarray, requires_grad: bool = False) -> None:
        self._data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self._grad: Tensor | None = None
        self.grad_fn: autograd.Context | None = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @property
    def grad(self) -> "Tensor | None":
        """The accumulated gradient (a leaf, or a non-leaf after ``retain_grad()``); None before backward."""
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad {tuple(value.shape)}, "
                                   f"tensor {tuple(self.shape)}")
        self._grad = value

    # ------------------------------------------------------------------ basic attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return self.shape
        return self._data.shape[_ops.normalize_dim(dim, self.ndim)]

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        """A tensor sharing this one's numbers, outside the graph (torch's ``.data``)."""
        return Tensor(self._data.view())  # a new array object on the same memory: see detach

    @data.setter
    def data(self, value: "Tensor | np.ndarray") -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied). Like torch, refuses tensors that require grad."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def item(self) -> float | int | bool:
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} values is ambiguous")
        return bool(self._data.reshape(()))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (autograd.get_default_dtype(), np.dtype(np.int64), np.dtype(np.bool_)):
            extras.append(f"dtype=minidl.{self._data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point dtype can require gradients, "
                               f"got {self._data.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Ask backward to fill ``.grad`` of this non-leaf tensor too (accumulating, like a leaf's)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def retain(g: "Tensor") -> None:
            t = ref()
            if t is not None:
                g = g if g.requires_grad else Tensor(np.array(g._data, copy=True))
                t._grad = g if t._grad is None else t._grad + g
        retain._runs_last = True  # type: ignore[attr-defined]  (torch: after the user's hooks)
        autograd._output_hooks(self.grad_fn, self._out_index).append(retain)

    def register_hook(self, hook: Any) -> "autograd.RemovableHandle":
        """``hook(grad) -> Tensor | None`` runs when this tensor's gradient is computed; a returned tensor
        replaces the gradient (for a leaf: before it is accumulated into ``.grad``)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            hooks = autograd._output_hooks(self.grad_fn, self._out_index)
        hooks.insert(sum(not getattr(h, "_runs_last", False) for h in hooks), hook)
        return autograd.RemovableHandle(hooks, hook)

    def detach(self) -> "Tensor":
        """The same numbers, cut from the graph (shares memory). A new ndarray object (a view): the engine
        recognises an op's saved inputs by array identity, so a detached copy must not be mistaken for x."""
        return Tensor(self._data.view())

    def backward(self, gradient: "Tensor | np.ndarray | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) . gradient into every leaf's ``.grad`` (or only ``inputs``'),
        recording the backward pass when ``create_graph=True`` (see ``minidl.autograd.backward``)."""
        autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    # ------------------------------------------------------------------ in place (outside the graph)
    def _check_inplace(self) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            kind = "a leaf Variable that requires grad" if self.is_leaf else "a tensor in the graph"
            raise RuntimeError(f"{kind} is being used in an in-place operation; "
                               "wrap the update in `with minidl.no_grad():`")

    def _inplace(self, values: Any) -> "Tensor":
        self._check_inplace()
        src = values._data if isinstance(values, Tensor) else np.asarray(values)
        np.copyto(self._data, np.broadcast_to(src, self._data.shape), casting="unsafe")
        return self

    def zero_(self) -> "Tensor":
        return self._inplace(0)

    def fill_(self, value: float) -> "Tensor":
        return self._inplace(value)

    def copy_(self, src: "Tensor | np.ndarray") -> "Tensor":
        return self._inplace(src)

    def add_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        return self._inplace(self._data + alpha * _arr(other))

    def sub_(self, other: Any, alpha: float = 1.0) -> "Tensor":
        return self._inplace(self._data - alpha * _arr(other))

    def mul_(self, other: Any) -> "Tensor":
        return self._inplace(self._data * _arr(other))

    def div_(self, other: Any) -> "Tensor":
        return self._inplace(self._data / _arr(other))

    def clamp_(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return self._inplace(np.clip(self._data, min, max))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        return self._inplace(_random.generator().uniform(a, b, self._data.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        return self._inplace(_random.generator().normal(mean, std, self._data.shape))

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace()
        self._data[_ops.index_arrays(index)] = _arr(value)

    # Python's `w -= lr * g`: in place outside the graph (the manual SGD update); inside the
    # graph it falls back to the out-of-place op and rebinds the name, which is always correct.
    def _iop(self, other: Any, op: Any) -> "Tensor":
        if self.requires_grad and autograd.is_grad_enabled():
            if self.is_leaf:
                self._check_inplace()
            return NotImplemented
        return self._inplace(op(self._data, _arr(other)))

    def __iadd__(self, o: Any) -> "Tensor":
        return self._iop(o, np.add)

    def __isub__(self, o: Any) -> "Tensor":
        return self._iop(o, np.subtract)

    def __imul__(self, o: Any) -> "Tensor":
        return self._iop(o, np.multiply)

    def __itruediv__(self, o: Any) -> "Tensor":
        return self._iop(o, np.divide)

    # ------------------------------------------------------------------ dtype
    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """``.to(dtype)``, ``.to("cpu")``, ``.to(other_tensor)``; other devices are refused."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) or a is None:
                device = a
            else:
                dtype = a
        if device is not None and str(device) != "cpu":
            raise RuntimeError(f"minidl runs on the CPU only; got device {device!r} "
                               "(use the torch backend for GPUs)")
        return self if dtype is None else _ops.cast(self, dtype)

    def float(self) -> "Tensor":
        return _ops.cast(self, np.float32)

    def double(self) -> "Tensor":
        return _ops.cast(self, np.float64)

    def long(self) -> "Tensor":
        return _ops.cast(self, np.int64)

    def int(self) -> "Tensor":
        return _ops.cast(self, np.int32)

    def bool(self) -> "Tensor":
        return _ops.cast(self, np.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return _ops.cast(self, other.dtype)

    def cpu(self) -> "Tensor":
        return self

    def clone(self) -> "Tensor":
        return _ops.clone(self)

    def contiguous(self) -> "Tensor":
        """This tensor if its numbers are laid out row-major, else a row-major copy (in the graph)."""
        return self if self._data.flags.c_contiguous else _ops.clone(self)

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    # ------------------------------------------------------------------ operators
    def __add__(self, o: Any) -> "Tensor": return _ops.add(self, o)
    def __radd__(self, o: Any) -> "Tensor": return _ops.add(o, self)
    def __sub__(self, o: Any) -> "Tensor": return _ops.sub(self, o)
    def __rsub__(self, o: Any) -> "Tensor": return _ops.sub(o, self)
    def __mul__(self, o: Any) -> "Tensor": return _ops.mul(self, o)
    def __rmul__(self, o: Any) -> "Tensor": return _ops.mul(o, self)
    def __truediv__(self, o: Any) -> "Tensor": return _ops.div(self, o)
    def __rtruediv__(self, o: Any) -> "Tensor": return _ops.div(o, self)
    def __pow__(self, o: Any) -> "Tensor": return _ops.pow(self, o)
    def __rpow__(self, o: Any) -> "Tensor": return _ops.pow(o, self)
    def __matmul__(self, o: Any) -> "Tensor": return _ops.matmul(self, o)
    def __rmatmul__(self, o: Any) -> "Tensor": return _ops.matmul(o, self)
    def __neg__(self) -> "Tensor": return _ops.neg(self)
    def __pos__(self) -> "Tensor": return self
    def __abs__(self) -> "Tensor": return _ops.abs(self)
    def __floordiv__(self, o: Any) -> "Tensor": return _ops.floor_divide(self, o)
    def __mod__(self, o: Any) -> "Tensor": return _ops.remainder(self, o)
    def __getitem__(self, index: Any) -> "Tensor": return _ops.getitem(self, index)

    # comparisons give bool tensors outside the graph, as in torch
    def __eq__(self, o: Any) -> "Tensor": return _ops.compare(np.equal, self, o)  # type: ignore[override]
    def __ne__(self, o: Any) -> "Tensor": return _ops.compare(np.not_equal, self, o)  # type: ignore[override]
    def __lt__(self, o: Any) -> "Tensor": return _ops.compare(np.less, self, o)
    def __le__(self, o: Any) -> "Tensor": return _ops.compare(np.less_equal, self, o)
    def __gt__(self, o: Any) -> "Tensor": return _ops.compare(np.greater, self, o)
    def __ge__(self, o: Any) -> "Tensor": return _ops.compare(np.greater_equal, self, o)
    def __and__(self, o: Any) -> "Tensor": return _ops.bitwise_and(self, o)  # logical for bools (issue 8)
    def __or__(self, o: Any) -> "Tensor": return _ops.bitwise_or(self, o)
    def __invert__(self) -> "Tensor": return Tensor(~self._data)

    def eq(self, o: Any) -> "Tensor": return self == o
    def ne(self, o: Any) -> "Tensor": return self != o
    def lt(self, o: Any) -> "Tensor": return self < o
    def le(self, o: Any) -> "Tensor": return self <= o
    def gt(self, o: Any) -> "Tensor": return self > o
    def ge(self, o: Any) -> "Tensor": return self >= o

    # ------------------------------------------------------------------ named methods (torch's)
    def add(self, o: Any, alpha: float = 1.0) -> "Tensor": return _ops.add(self, o if alpha == 1 else o * alpha)
    def sub(self, o: Any, alpha: float = 1.0) -> "Tensor": return _ops.sub(self, o if alpha == 1 else o * alpha)
    def mul(self, o: Any) -> "Tensor": return _ops.mul(self, o)
    def div(self, o: Any, *, rounding_mode: str | None = None) -> "Tensor":
        return _ops.div(self, o, rounding_mode=rounding_mode)
    def pow(self, o: Any) -> "Tensor": return _ops.pow(self, o)
    def neg(self) -> "Tensor": return _ops.neg(self)
    def matmul(self, o: Any) -> "Tensor": return _ops.matmul(self, o)
    def mm(self, o: Any) -> "Tensor": return _ops.matmul(self, o)
    def exp(self) -> "Tensor": return _ops.exp(self)
    def log(self) -> "Tensor": return _ops.log(self)
    def log1p(self) -> "Tensor": return _ops.log1p(self)
    def sqrt(self) -> "Tensor": return _ops.sqrt(self)
    def abs(self) -> "Tensor": return _ops.abs(self)
    def sign(self) -> "Tensor": return _ops.sign(self)
    def square(self) -> "Tensor": return _ops.mul(self, self)
    def clamp(self, min: Any = None, max: Any = None) -> "Tensor": return _ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, o: Any) -> "Tensor": return _ops.maximum(self, o)
    def minimum(self, o: Any) -> "Tensor": return _ops.minimum(self, o)
    def tanh(self) -> "Tensor": return _ops.tanh(self)
    def sigmoid(self) -> "Tensor": return _ops.sigmoid(self)
    def relu(self) -> "Tensor": return _ops.relu(self)
    def softmax(self, dim: int) -> "Tensor": return _ops.softmax(self, dim)
    def log_softmax(self, dim: int) -> "Tensor": return _ops.log_softmax(self, dim)
    def logsumexp(self, dim: Any, keepdim: bool = False) -> "Tensor": return _ops.logsumexp(self, dim, keepdim)

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return _ops.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> "Tensor":
        return _ops.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> "Tensor":
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None) -> "Tensor":
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any: return _ops.max(self, dim, keepdim)
    def min(self, dim: Any = None, keepdim: bool = False) -> Any: return _ops.min(self, dim, keepdim)
    def argmax(self, dim: int | None = None, keepdim: bool = False) -> "Tensor": return _ops.argmax(self, dim, keepdim)
    def argmin(self, dim: int | None = None, keepdim: bool = False) -> "Tensor": return _ops.argmin(self, dim, keepdim)

    def reshape(self, *shape: Any) -> "Tensor": return _ops.reshape(self, _shape_args(shape))
    def view(self, *shape: Any) -> "Tensor":
        """``reshape`` that must not copy (torch's view): a transposed tensor cannot be flattened this way."""
        out = _ops.reshape(self, _shape_args(shape))
        if out._data.size and not np.may_share_memory(out._data, self._data):
            raise RuntimeError(f"view size is not compatible with input tensor's size and stride (at least one "
                               f"dimension spans across two contiguous subspaces): input {tuple(self.shape)}, "
                               f"view {tuple(out.shape)}. Use .reshape(...) instead.")
        return out

    def view_as(self, other: "Tensor") -> "Tensor": return self.view(tuple(other.shape))
    def reshape_as(self, other: "Tensor") -> "Tensor": return _ops.reshape(self, tuple(other.shape))
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor": return _ops.flatten(self, start_dim, end_dim)
    def transpose(self, dim0: int, dim1: int) -> "Tensor": return _ops.transpose(self, dim0, dim1)
    def t(self) -> "Tensor": return _ops.t(self)
    def permute(self, *dims: Any) -> "Tensor": return _ops.permute(self, _shape_args(dims))
    def squeeze(self, dim: Any = None) -> "Tensor": return _ops.squeeze(self, dim)
    def unsqueeze(self, dim: int) -> "Tensor": return _ops.unsqueeze(self, dim)
    def expand(self, *sizes: Any) -> "Tensor": return _ops.expand(self, _shape_args(sizes))
    def expand_as(self, other: "Tensor") -> "Tensor": return _ops.expand(self, tuple(other.shape))

    @property
    def T(self) -> "Tensor":
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    # ---- torch API breadth (issue 8): one-line calls into minidl.ops (math, compare, layout, indexing,
    # scan) and minidl.linalg; axis=/keepdims= aliases are added to the reductions below the class.
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
    def cholesky(self, upper: bool = False) -> "Tensor": return _linalg.cholesky(self, upper=upper)

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
    def bincount(self, weights: Any = None, minlength: int = 0) -> "Tensor": return _ops.bincount(self, weights, minlength)
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
    def index_fill(self, dim: int, index: "Tensor", value: Any) -> "Tensor": return _ops.index_fill(self, dim, index, value)
    def masked_scatter(self, mask: "Tensor", source: "Tensor") -> "Tensor": return _ops.masked_scatter(self, mask, source)
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
    # ---- end of the issue-8 block


def _shape_args(args: Sequence[Any]) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``, as torch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


from minidl import ops as _ops  # noqa: E402  (ops build Tensors; Tensor methods call ops)
from minidl import linalg as _linalg  # noqa: E402
from minidl.ops.aliases import numpy_names as _numpy_names  # noqa: E402

# issue 8: torch accepts NumPy's axis= / keepdims= wherever it takes dim= / keepdim= (x.sum(axis=0))
def _make_inplace(name: str) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return self._inplace_op(name, *args, **kwargs)
    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: ``t.{name}_(...)`` writes ``t.{name}(...)`` into ``t`` (issue 8)."
    return method


for _name in ("exp", "log", "abs", "neg", "sqrt", "pow", "sin", "cos", "tanh", "sigmoid", "relu", "floor", "ceil",
              "round", "trunc", "fmod", "remainder", "reciprocal", "rsqrt", "clamp_min", "clamp_max", "masked_fill",
              "scatter", "scatter_add", "index_add", "index_fill", "index_copy", "masked_scatter", "lerp", "addcmul",
              "addcdiv", "sign", "log1p", "expm1", "exp2", "log2", "log10", "sinh", "cosh", "tan", "atan", "asin",
              "acos", "nan_to_num", "tril", "triu", "cumsum", "cumprod", "logical_not", "copysign", "hypot", "atan2",
              "clip", "square"):
    if not hasattr(Tensor, _name + "_") and hasattr(Tensor, _name):
        setattr(Tensor, _name + "_", _make_inplace(_name))

for _name in ("sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp",
              "softmax", "log_softmax", "prod", "all", "any", "norm", "cumsum", "cumprod", "squeeze",
              "unsqueeze", "mode", "sort", "argsort", "topk"):
    setattr(Tensor, _name, _numpy_names(getattr(Tensor, _name)))
from minidl import random as _random  # noqa: E402
