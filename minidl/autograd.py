"""The autograd engine: grad mode, ``Function`` + ``Context``, and reverse-mode backward.

How it works, in three sentences. Every differentiable op is a ``Function`` subclass whose
``forward`` maps ndarrays to an ndarray and whose ``backward`` maps the gradient of the output to
the gradients of the inputs. ``Function.apply`` runs ``forward`` and, when some input requires a
gradient, stores a ``Context`` (the graph node) on the output tensor's ``grad_fn``. ``backward``
walks the nodes in reverse topological order, calls each ``backward`` once with the summed
gradient of its output, and accumulates into the leaves' ``.grad``.

Broadcasting: an op like ``x + b`` with ``x: (N, D)`` and ``b: (D,)`` returns a gradient of shape
``(N, D)`` for ``b``. Ops never deal with that: ``_unbroadcast`` (the one place) sums it back
to ``(D,)``.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from minidl.tensor import Tensor

# --------------------------------------------------------------------------- dtypes
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
long = int64
double = float64
half = float16
# torch spells it `float` too; we cannot shadow the builtin at module level, see minidl/__init__.py.

_default_dtype = float32


def get_default_dtype() -> np.dtype:
    """The dtype of tensors built from Python floats (float32, as in torch)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype used for Python floats: ``minidl.float32`` or ``minidl.float64``."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"only floating-point types are supported as the default type, got {dt}")
    _default_dtype = dt


# --------------------------------------------------------------------------- grad mode
class _GradMode(threading.local):
    enabled: bool = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _grad_mode.enabled = self._prev.pop()


class no_grad(set_grad_enabled):
    """``with minidl.no_grad():`` -- ops inside record no graph (evaluation, parameter updates)."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self) -> None:
        super().__init__(True)


# --------------------------------------------------------------------------- Function
OPS: dict[str, type["Function"]] = {}
"""The op registry: every ``Function`` subclass, by class name. The parity suite checks that each
one has a parity test against torch."""

_apply_hooks: list[Callable[[type["Function"]], None]] = []
"""Called with the op class on each ``apply``; the parity suite uses this to see which ops a test ran."""


class Context:
    """What a ``Function`` remembers between forward and backward; it is also the graph node.

    ``save_for_backward(*arrays)`` keeps arrays for backward; they are read back as ``ctx.saved``
    and freed after backward (unless ``retain_graph=True``). Small non-array settings (a ``dim``,
    a shape) can be stored as plain attributes.
    """

    fn: type["Function"]
    inputs: tuple["Tensor | None", ...]
    needs_input_grad: tuple[bool, ...]

    def __init__(self) -> None:
        self._saved: tuple[Any, ...] | None = ()
        self._had_saved = False

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values
        self._had_saved = bool(values)

    @property
    def saved(self) -> tuple[Any, ...]:
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or directly access saved tensors "
                f"after they have already been freed): {self.fn.__name__}'s saved values were freed by the "
                f"first backward. Specify retain_graph=True if you need to backward a second time.")
        return self._saved

    def free(self) -> None:
        if self._had_saved:
            self._saved = None

    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class Function:
    """One differentiable op: ``forward(ctx, *arrays, **settings) -> array`` and
    ``backward(ctx, grad_output) -> gradient per positional input`` (None where there is none).

    Subclasses register themselves in ``OPS``. Call them through ``Cls.apply(...)``: positional
    ``Tensor`` arguments are the graph inputs, everything else is passed through unchanged.
    """

    differentiable: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in OPS and OPS[cls.__name__] is not cls:
            raise TypeError(f"two ops are named {cls.__name__}")
        OPS[cls.__name__] = cls

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> Any:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> "Tensor":
        arrays = [a._data if isinstance(a, Tensor) else a for a in args]
        ctx = Context()
        out = cls.forward(ctx, *arrays, **kwargs)
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        for hook in _apply_hooks:
            hook(cls)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        track = _grad_mode.enabled and cls.differentiable and any(needs)
        result = Tensor(out, requires_grad=track)
        if track:
            ctx.fn = cls
            ctx.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            ctx.needs_input_grad = needs
            result.grad_fn = ctx
        return result


# --------------------------------------------------------------------------- the engine
def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the one place broadcasting is undone.

    If ``y = f(x)`` broadcast ``x: (D,)`` to ``(N, D)``, every copy of ``x`` received a gradient;
    ``dL/dx`` is their sum. Leading dims that broadcasting added are summed away, and dims where
    ``x`` had size 1 are summed with keepdims.
    """
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = grad.sum(axis=tuple(range(extra)))
        ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if ones:
            grad = grad.sum(axis=ones, keepdims=True)
        if grad.shape != shape:  # a bug in some op's backward, not a user error
            raise RuntimeError(f"internal: gradient of shape {grad.shape} cannot be reduced to {shape}")
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def _topological_order(root: Context) -> list[Context]:
    """Nodes reachable from ``root``, each before every node it depends on (iterative DFS)."""
    order: list[Context] = []
    seen: set[int] = set()
    stack: list[tuple[Context, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for inp in node.inputs:
            if inp is not None and inp.grad_fn is not None and id(inp.grad_fn) not in seen:
                stack.append((inp.grad_fn, False))
    order.reverse()  # post-order reversed = consumers before producers
    return order


def run_backward(root: "Tensor", grad: np.ndarray, retain_graph: bool = False) -> None:
    """Reverse-mode differentiation from ``root`` with seed gradient ``grad`` (same shape as root)."""
    if root.grad_fn is None:  # a leaf: d root / d root = seed
        _accumulate_leaf(root, grad)
        return
    pending: dict[int, np.ndarray] = {id(root.grad_fn): grad}
    with no_grad():
        for node in _topological_order(root.grad_fn):
            g = pending.pop(id(node), None)
            if g is None:  # reachable, but no gradient flows here (e.g. only through integer outputs)
                continue
            grads = node.fn.backward(node, g)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) != len(node.inputs):
                raise RuntimeError(f"internal: {node.name()} returned {len(grads)} gradients "
                                   f"for {len(node.inputs)} inputs")
            for inp, need, gi in zip(node.inputs, node.needs_input_grad, grads):
                if not need or gi is None:
                    continue
                gi = _unbroadcast(np.asarray(gi), inp.shape, inp.dtype)
                if inp.grad_fn is None:
                    _accumulate_leaf(inp, gi)
                else:
                    key = id(inp.grad_fn)
                    pending[key] = gi if key not in pending else pending[key] + gi
                    if inp._retains_grad:
                        _accumulate_leaf(inp, gi)
            if not retain_graph:
                node.free()


def _accumulate_leaf(t: "Tensor", g: np.ndarray) -> None:
    """``t.grad += g``, without ever aliasing or mutating an array the graph still holds."""
    if t.grad is None:
        t.grad = Tensor(np.array(g, dtype=t.dtype, copy=True))
    else:
        t.grad = Tensor(t.grad._data + g)


@contextlib.contextmanager
def record_ops() -> Iterator[set[str]]:
    """``with record_ops() as seen:`` collects the names of the ops applied inside the block."""
    seen: set[str] = set()
    hook = functools.partial(lambda s, cls: s.add(cls.__name__), seen)
    _apply_hooks.append(hook)
    try:
        yield seen
    finally:
        _apply_hooks.remove(hook)


from minidl.tensor import Tensor  # noqa: E402  (Tensor needs the engine above; the engine needs Tensor)
