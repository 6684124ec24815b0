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
from minidl.tensor_api import TorchAPI


class Size(tuple):
    """``t.shape``: a tuple, printed like torch's ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"minidl.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class Tensor(TorchAPI):
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


def _shape_args(args: Sequence[Any]) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``, as torch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, Size)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


from minidl import ops as _ops  # noqa: E402  (ops build Tensors; Tensor methods call ops)
from minidl import tensor_api as _tensor_api  # noqa: E402
_tensor_api.finish(Tensor)  # issue 8: the torch API breadth (minidl/tensor_api.py)
from minidl import random as _random  # noqa: E402
