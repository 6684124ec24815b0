"""The autograd engine: grad mode, ``Function`` + ``Context``, and reverse-mode backward.

How it works, in three sentences. Every differentiable op is a ``Function`` subclass whose
``forward`` computes the output and whose ``backward`` maps the gradient of the output to the
gradients of the inputs. ``Function.apply`` runs ``forward`` and, when some input requires a
gradient, stores a ``Context`` (the graph node) on the output tensor's ``grad_fn``. The engine
(``_run_backward``) walks the nodes in reverse topological order, calls each ``backward`` once
with the summed gradient of its output, and accumulates into the leaves' ``.grad``.

Broadcasting: an op like ``x + b`` with ``x: (N, D)`` and ``b: (D,)`` returns a gradient of shape
``(N, D)`` for ``b``. Ops never deal with that: ``_unbroadcast`` (the one place) sums it back
to ``(D,)``.

Two kinds of Function
---------------------
* **Built-in ops** (``minidl/ops``) work on ndarrays: ``forward(ctx, x: ndarray) -> ndarray``. This is
  the fast path: no Tensor wrapper is built for intermediate values, and in a first-order backward
  nothing is recorded, so a training step costs what the NumPy/Numba arithmetic costs.
* **Your own Functions** are written exactly as for torch: ``forward(ctx, x: Tensor, ...) -> Tensor``
  and ``backward(ctx, grad: Tensor) -> Tensor | None`` per input, with ``ctx.save_for_backward``,
  ``ctx.saved_tensors``, ``ctx.needs_input_grad`` and ``ctx.mark_non_differentiable``. A subclass
  defined outside the ``minidl`` package is such a Function (set ``tensor_io = True/False`` to choose
  explicitly); it is not put in the op registry ``OPS``.

Higher-order gradients: one backward, two array types
-----------------------------------------------------
``grad(..., create_graph=True)`` (and ``backward(create_graph=True)``) must *record* the backward
pass, so that the gradient is itself a function in the graph that can be differentiated again
(a Hessian, a gradient penalty). We do not keep two copies of each derivative. Each built-in
``backward`` is written once, against an array namespace ``xp = ctx.xp`` (the idea of the Python
array API, as in CuPy and array-api-compat):

* first-order (``create_graph=False``, the usual case): ``g`` is an ndarray, ``ctx.saved`` holds the
  ndarrays the forward saved, and ``xp`` is NumPy (plus the Numba kernels). The engine runs under
  ``no_grad``: nothing is recorded, no Tensor is allocated, the speed is unchanged.
* recording (``create_graph=True``): ``g`` is a ``Tensor``, ``ctx.saved`` returns the op's *input and
  output tensors* in place of the arrays the forward saved (the engine recognises them by identity;
  any other saved array is a constant such as a mask or an index), and ``xp`` has the same function
  names implemented with minidl's differentiable ops. The same lines of ``backward`` then build graph
  nodes, and the engine runs with grad mode on.

Operators (``g * y``, ``g / y``, ``-g``, ``g.reshape(s)``, ``g[index]``) already work on both types,
so most backwards read like the maths. A backward that needs an array computed from the inputs
(batch-norm's x^, say) recomputes it from ``ctx.saved`` when ``ctx.create_graph`` is set, so that
it depends on the inputs in the recorded graph. A few linear maps (scatter for indexing, the
weight gradient of a convolution, the backward of average pooling) are themselves registered ops,
so their own gradients are known. An op whose backward is written this way says
``twice_differentiable = True``; for any other op, ``create_graph=True`` still gives the correct
first derivative, and differentiating it again raises an error naming the op.

Freed graphs, ``retain_graph`` (default: ``create_graph``) and the exception types follow torch.
"""
from __future__ import annotations

import contextlib
import functools
import threading
import traceback
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


# --------------------------------------------------------------------------- anomaly detection
class _AnomalyMode(threading.local):
    enabled: bool = False


_anomaly = _AnomalyMode()


def is_anomaly_enabled() -> bool:
    return _anomaly.enabled


class set_detect_anomaly(contextlib.ContextDecorator):
    """Turn anomaly detection on or off (context manager / decorator)."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_anomaly.enabled)
        _anomaly.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _anomaly.enabled = self._prev.pop()


class detect_anomaly(set_detect_anomaly):
    """``with minidl.autograd.detect_anomaly():`` -- each op remembers where its forward was called, and
    the engine checks every gradient a backward returns: the first NaN or inf raises a RuntimeError
    naming the op (``'DivBackward' returned nan values in its 1th output``) and that forward call."""

    def __init__(self) -> None:
        super().__init__(True)


# --------------------------------------------------------------------------- Function
OPS: dict[str, type["Function"]] = {}
"""The op registry: every built-in ``Function`` subclass, by class name. The parity suite checks that
each one has a parity test against torch (and a Hessian test, or a listed reason it has none)."""

_apply_hooks: list[Callable[[type["Function"]], None]] = []
"""Called with the op class on each ``apply``; the parity suite uses this to see which ops a test ran."""


class Context:
    """What a ``Function`` remembers between forward and backward; it is also the graph node.

    ``save_for_backward(*values)`` keeps arrays (built-in ops) or tensors (your Functions) for
    backward; they are read back as ``ctx.saved`` / ``ctx.saved_tensors`` and freed after backward
    (unless ``retain_graph=True``). Small non-array settings (a ``dim``, a shape) can be stored as
    plain attributes.
    """

    fn: type["Function"]
    inputs: tuple["Tensor | None", ...]
    needs_input_grad: tuple[bool, ...]
    n_outputs: int = 1
    create_graph: bool = False          # True while its backward is being recorded
    _out_hooks: dict[int, list[Callable[..., Any]]] | None = None   # hooks of non-leaf outputs
    _stack: list[str] | None = None     # where forward was called (anomaly mode)
    _outs: tuple[np.ndarray | None, ...] | None = None   # the output arrays (recognised by identity)
    _non_differentiable: frozenset[int] | set[int] = frozenset()

    def __init__(self) -> None:
        self._saved: tuple[Any, ...] | None = ()
        self._had_saved = False

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values
        self._had_saved = bool(values)

    def mark_non_differentiable(self, *tensors: "Tensor") -> None:
        """Outputs that get no gradient (indices, masks): they are returned with requires_grad=False."""
        self._non_differentiable = set(self._non_differentiable) | {id(t) for t in tensors}

    @property
    def saved(self) -> tuple[Any, ...]:
        if self._saved is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or directly access saved tensors "
                f"after they have already been freed): {self.fn.__name__}'s saved values were freed by the "
                f"first backward. Specify retain_graph=True if you need to backward a second time.")
        if not self.create_graph or self.fn.tensor_io:
            return self._saved
        return tuple(self._as_graph_value(v) for v in self._saved)

    saved_tensors = saved

    def _as_graph_value(self, v: Any) -> Any:
        """A saved array as the tensor it came from (an input or the output), else a constant."""
        if not isinstance(v, np.ndarray):
            return v
        for inp in self.inputs:
            if inp is not None and inp._data is v:
                return inp
        if self._outs is not None:
            for i, out in enumerate(self._outs):
                if out is v:
                    return self._output_tensor(i)
        return v

    def _output_tensor(self, i: int) -> "Tensor":
        """The i-th output, rebuilt: a tensor on these numbers whose grad_fn is this node."""
        t = Tensor(self._outs[i])  # type: ignore[index]
        t.requires_grad, t.grad_fn, t._out_index = True, self, i
        return t

    @property
    def xp(self) -> Any:
        """The array namespace of ``backward``: NumPy, or minidl's ops while recording (module docstring)."""
        return _XP[1] if self.create_graph else _XP[0]

    def free(self) -> None:
        if self._had_saved:
            self._saved = None

    def name(self) -> str:
        return f"{self.fn.__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class Function:
    """One differentiable op: ``forward(ctx, *inputs, **settings)`` and ``backward(ctx, *grad_outputs)``
    returning one gradient per positional input (None where there is none).

    Built-in ops (defined in ``minidl``) receive and return ndarrays and register themselves in
    ``OPS``; subclasses defined elsewhere receive and return Tensors, as torch's do. Call them through
    ``Cls.apply(...)``: positional ``Tensor`` arguments are the graph inputs, everything else is passed
    through unchanged.
    """

    differentiable: bool = True
    tensor_io: bool = True
    twice_differentiable: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "tensor_io" not in cls.__dict__:
            cls.tensor_io = not cls.__module__.startswith("minidl.")
        if cls.tensor_io:
            cls.twice_differentiable = True  # its backward is made of Tensor ops, which are recorded
            return
        if cls.__name__ in OPS and OPS[cls.__name__] is not cls:
            raise TypeError(f"two ops are named {cls.__name__}")
        OPS[cls.__name__] = cls

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        if cls.tensor_io:
            return cls._apply_tensors(args, kwargs)
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
            ctx._outs = (out,)
            if _anomaly.enabled:
                ctx._stack = traceback.format_stack(limit=8)[:-1]
            result.grad_fn = ctx
        return result

    @classmethod
    def _apply_tensors(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """torch's protocol: forward sees Tensors (and records nothing), returns a Tensor or a tuple."""
        ctx = Context()
        ctx.fn = cls
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx.needs_input_grad = needs
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        for hook in _apply_hooks:
            hook(cls)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        track = _grad_mode.enabled and any(needs)
        results: list[Any] = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                continue
            r = Tensor(o._data)  # a new tensor: an input returned as is keeps its own grad_fn
            if track and id(o) not in ctx._non_differentiable and o.dtype.kind in "fc":
                r.requires_grad, r.grad_fn, r._out_index = True, ctx, i
            results.append(r)
        if track:
            ctx.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
            ctx.n_outputs = len(outs)
            ctx._outs = tuple(r._data if isinstance(r, Tensor) else None for r in results)
            # a saved output must be the output in the graph (for double backward), not forward's copy
            ids = {id(o): i for i, o in enumerate(outs) if isinstance(o, Tensor)}
            if ctx._saved:
                ctx._saved = tuple(ctx._output_tensor(ids[id(v)]) if id(v) in ids else v for v in ctx._saved)
            if _anomaly.enabled:
                ctx._stack = traceback.format_stack(limit=8)[:-2]
        return results[0] if single else tuple(results)


class _NotTwiceDifferentiable(Function):
    """Stands for the recorded backward of an op that has no double backward: differentiating raises."""

    tensor_io = True

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        raise RuntimeError(f"the derivative of {ctx.op_name}'s backward is not implemented: {ctx.op_name} is not "
                           f"twice differentiable in minidl (see parity/test_higher_order.py)")


# --------------------------------------------------------------------------- hooks
class RemovableHandle:
    """Returned by ``register_hook``; ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: list[Callable[..., Any]], hook: Callable[..., Any]) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _output_hooks(node: Context, index: int) -> list[Callable[..., Any]]:
    if node._out_hooks is None:
        node._out_hooks = {}
    return node._out_hooks.setdefault(index, [])


def _run_hooks(hooks: list[Callable[..., Any]], g: Any) -> Any:
    """Each hook sees the gradient as a Tensor and may return a replacement."""
    wrapped = isinstance(g, np.ndarray)
    t = Tensor(g) if wrapped else g
    for hook in list(hooks):
        r = hook(t)
        if r is not None:
            if tuple(r.shape) != tuple(t.shape):
                raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' has changed the size of value: "
                                   f"expected {tuple(t.shape)}, got {tuple(r.shape)}")
            t = r
    return t._data if wrapped else t


# --------------------------------------------------------------------------- the engine
class _NumpyOps:
    """The two reductions the engine itself needs, on ndarrays (``ctx.xp`` has the full set)."""

    @staticmethod
    def sum(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def astype(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return a.astype(dtype)


def _unbroadcast(grad: Any, shape: tuple[int, ...], dtype: np.dtype, xp: Any = _NumpyOps) -> Any:
    """Sum ``grad`` down to ``shape``: the one place broadcasting is undone (ndarray or Tensor, see ``xp``).

    If ``y = f(x)`` broadcast ``x: (D,)`` to ``(N, D)``, every copy of ``x`` received a gradient;
    ``dL/dx`` is their sum. Leading dims that broadcasting added are summed away, and dims where
    ``x`` had size 1 are summed with keepdims.
    """
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = xp.sum(grad, axis=tuple(range(extra)))
        ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if ones:
            grad = xp.sum(grad, axis=ones, keepdims=True)
        if grad.shape != shape:  # a bug in some op's backward, not a user error
            raise RuntimeError(f"internal: gradient of shape {tuple(grad.shape)} cannot be reduced to {shape}")
    if grad.dtype != dtype:
        grad = xp.astype(grad, dtype)
    return grad


def _topological_order(roots: list[Context]) -> list[Context]:
    """Nodes reachable from ``roots``, each before every node it depends on (iterative DFS)."""
    order: list[Context] = []
    seen: set[int] = set()
    for root in roots:
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


def _leads_to(order: list[Context], targets: dict[Any, "Tensor"]) -> set[Context]:
    """The nodes from which some target can be reached (the others need no backward call)."""
    useful: set[Context] = set()
    for node in reversed(order):  # producers first
        for inp in node.inputs:
            if inp is None:
                continue
            if _key(inp) in targets or (inp.grad_fn is not None and inp.grad_fn in useful):
                useful.add(node)
                break
    return useful


def _slot(node: Context, index: int) -> Any:
    """Where the gradient of output ``index`` of ``node`` collects: the node (one output) or (node, index)."""
    return node if node.n_outputs == 1 else (node, index)


def _key(t: "Tensor") -> Any:
    """Where a tensor's gradient collects: the tensor itself (a leaf) or its node's slot."""
    return t if t.grad_fn is None else _slot(t.grad_fn, t._out_index)


def _call_backward(node: Context, grads: list[Any], create_graph: bool) -> tuple[Any, ...]:
    """One node's backward: ndarrays in and out, or (recording) Tensors in and out."""
    fn = node.fn
    if not create_graph and not fn.tensor_io:  # ndarrays, nothing recorded (the engine inlines this case)
        out = fn.backward(node, grads[0])
        return out if isinstance(out, tuple) else (out,)
    if fn.tensor_io:  # torch-style: Tensors in, Tensors out
        ts = [Tensor(g) if isinstance(g, np.ndarray) else g for g in grads]
        with set_grad_enabled(create_graph):
            out = fn.backward(node, *ts)
        out = out if isinstance(out, tuple) else (out,)
        n = len(node.inputs)
        if len(out) < n or any(o is not None for o in out[n:]):
            raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(out)})")
        conv = (lambda o: o) if create_graph else (lambda o: o._data)
        return tuple(None if o is None else conv(o if isinstance(o, Tensor) else Tensor(np.asarray(o)))
                     for o in out[:n])
    g = grads[0]
    if not fn.twice_differentiable:  # first derivative right, its own derivative refused
        with no_grad():
            out = fn.backward(node, g._data)
        out = out if isinstance(out, tuple) else (out,)
        guard = Context()
        guard.fn, guard.op_name = _NotTwiceDifferentiable, fn.__name__
        guard.inputs = (g,) + node.inputs
        guard.needs_input_grad = (True,) * len(guard.inputs)
        wrapped = []
        for o in out:
            if o is None:
                wrapped.append(None)
                continue
            t = Tensor(np.asarray(o), requires_grad=True)
            t.grad_fn = guard
            wrapped.append(t)
        return tuple(wrapped)
    node.create_graph = True
    try:
        with enable_grad():
            out = fn.backward(node, g)
    finally:
        node.create_graph = False
    return out if isinstance(out, tuple) else (out,)


def _check_anomaly(node: Context, grads: tuple[Any, ...]) -> None:
    for i, gi in enumerate(grads):
        if gi is None:
            continue
        a = gi._data if isinstance(gi, Tensor) else np.asarray(gi)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            what = "nan" if np.any(np.isnan(a)) else "inf"
            where = "".join(node._stack or ["(its forward ran before anomaly detection was enabled)\n"])
            raise RuntimeError(f"Function '{node.name()}' returned {what} values in its {i}th output.\n"
                               f"The forward call that created it:\n{where}")


def _run_backward(roots: list["Tensor"], seeds: list[Any], *, retain_graph: bool, create_graph: bool,
                  targets: list["Tensor"] | None = None, accumulate: bool = True) -> dict[Any, Any]:
    """Reverse-mode differentiation of ``roots`` with the seed gradients ``seeds`` (same shapes).

    ``targets=None``: accumulate into every leaf's ``.grad`` (``backward()``). Otherwise only the
    targets' gradients are computed, and either accumulated into their ``.grad``
    (``backward(inputs=...)``) or returned by ``_key`` (``grad(...)``, ``accumulate=False``).
    Seeds and gradients are ndarrays, or Tensors when ``create_graph`` records the backward pass.
    """
    wanted: dict[Any, "Tensor"] | None = None if targets is None else {_key(t): t for t in targets}
    found: dict[Any, Any] = {}
    pending: dict[Any, Any] = {}     # slot (see _slot) -> the gradient summed so far
    leaves: dict["Tensor", Any] = {}  # leaf -> its summed gradient (hooks run once, on the sum)
    xp = _TensorOps if create_graph else _NumpyOps

    for root, seed in zip(roots, seeds):
        key = _key(root)
        store = leaves if root.grad_fn is None else pending
        store[key] = seed if key not in store else store[key] + seed
    order = _topological_order([r.grad_fn for r in roots if r.grad_fn is not None])
    useful = None if wanted is None else _leads_to(order, wanted)
    with set_grad_enabled(create_graph):
        for node in order:
            if node.n_outputs == 1:
                g0 = pending.pop(node, None)
                if g0 is None:
                    continue  # reachable, but no gradient flows here (e.g. only through integer outputs)
                grads = [g0]
            else:
                grads = [pending.pop((node, i), None) for i in range(node.n_outputs)]
                if all(g is None for g in grads):
                    continue
            if node._out_hooks or wanted is not None:
                for i, g in enumerate(grads):
                    if g is not None and node._out_hooks and node._out_hooks.get(i):
                        grads[i] = g = _run_hooks(node._out_hooks[i], g)
                    if wanted is not None and g is not None and _slot(node, i) in wanted:
                        found[_slot(node, i)] = g
                if useful is not None and node not in useful:
                    continue
            if create_graph or node.fn.tensor_io or node.n_outputs > 1:
                in_grads = _call_backward(node, grads, create_graph)
            else:  # the first-order fast path, inlined: ndarray in, ndarrays out
                in_grads = node.fn.backward(node, grads[0])
                if not isinstance(in_grads, tuple):
                    in_grads = (in_grads,)
            if len(in_grads) != len(node.inputs):
                raise RuntimeError(f"internal: {node.name()} returned {len(in_grads)} gradients "
                                   f"for {len(node.inputs)} inputs")
            if _anomaly.enabled:
                _check_anomaly(node, in_grads)
            for inp, need, gi in zip(node.inputs, node.needs_input_grad, in_grads):
                if not need or gi is None:
                    continue
                if not create_graph and not isinstance(gi, np.ndarray):
                    gi = np.asarray(gi)
                if gi.shape != inp._data.shape or gi.dtype != inp._data.dtype:
                    gi = _unbroadcast(gi, tuple(inp.shape), inp.dtype, xp)
                producer = inp.grad_fn
                if producer is None:
                    leaves[inp] = gi if inp not in leaves else leaves[inp] + gi
                else:
                    key = producer if producer.n_outputs == 1 else (producer, inp._out_index)  # _slot, inlined
                    pending[key] = gi if key not in pending else pending[key] + gi
            if not retain_graph:
                node.free()
    for leaf, g in leaves.items():
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g)
        if wanted is None or (accumulate and leaf in wanted):
            _accumulate(leaf, g)
        elif leaf in wanted:
            found[leaf] = g
    if accumulate and wanted is not None:
        for key, t in wanted.items():
            if t.grad_fn is not None and key in found:
                _accumulate(t, found[key])
    return found


def _accumulate(t: "Tensor", g: Any) -> None:
    """``t.grad += g``, without ever aliasing or mutating an array the graph still holds."""
    if isinstance(g, Tensor):  # recorded (create_graph): .grad stays in the graph, as in torch
        t._grad = g if t._grad is None else t._grad + g
    elif t._grad is None:
        t._grad = Tensor(np.array(g, dtype=t.dtype, copy=True))
    else:
        t._grad = Tensor(t._grad._data + g)


_accumulate_leaf = _accumulate


def run_backward(root: "Tensor", grad: np.ndarray, retain_graph: bool = False) -> None:
    """``root.backward(grad)`` without the checks (kept for callers of the old engine entry point)."""
    _run_backward([root], [grad], retain_graph=retain_graph, create_graph=False)


def _seeds(outputs: list["Tensor"], grad_outputs: list[Any], create_graph: bool) -> list[Any]:
    """The gradient each output starts with: ones for scalars, else the given one (shape-checked)."""
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"element {k} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(this output has shape {tuple(out.shape)})")
            g = np.ones_like(out._data)
        else:
            if not isinstance(g, Tensor):
                g = np.asarray(g, dtype=out.dtype)
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of {tuple(g.shape)} "
                                   f"and output[{k}] has a shape of {tuple(out.shape)}.")
        if create_graph:
            seeds.append(g if isinstance(g, Tensor) else Tensor(g))
        else:
            seeds.append(g._data if isinstance(g, Tensor) else g)
    return seeds


def _as_list(x: Any) -> list[Any]:
    """A tensor (or None) as a one-element list; any other iterable (``model.parameters()``) as a list."""
    return [x] if x is None or isinstance(x, Tensor) else list(x)


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate d(tensors)/d(leaf) . grad_tensors into the leaves' ``.grad`` (torch.autograd.backward).

    ``create_graph=True`` records the backward pass (the ``.grad`` are then in the graph, for a
    second derivative); ``inputs=[...]`` restricts accumulation to those tensors.
    """
    if retain_graph is None:
        retain_graph = create_graph
    if isinstance(tensors, Tensor) and grad_tensors is None and inputs is None and not create_graph \
            and tensors.grad_fn is not None and tensors._data.size == 1:  # loss.backward(): the common case
        _run_backward([tensors], [np.ones_like(tensors._data)], retain_graph=retain_graph, create_graph=False)
        return
    outs = _as_list(tensors)
    gos = [None] * len(outs) if grad_tensors is None else _as_list(grad_tensors)
    targets = None
    if inputs is not None:
        targets = _as_list(inputs)
        if not targets:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        for t in targets:
            if not t.requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    _run_backward(outs, _seeds(outs, gos, create_graph), retain_graph=retain_graph,
                  create_graph=create_graph, targets=targets, accumulate=True)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, materialize_grads: bool = False
         ) -> tuple["Tensor | None", ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (torch.autograd.grad); ``.grad`` is untouched.

    ``create_graph=True`` records the backward pass, so that the returned gradients can be
    differentiated again: the Hessian's row i is ``grad(g[i], w)`` where ``g = grad(loss, w,
    create_graph=True)[0]``. Inputs the outputs do not depend on raise, unless ``allow_unused=True``
    (then their gradient is None, or zeros with ``materialize_grads=True``).
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    gos = [None] * len(outs) if grad_outputs is None else _as_list(grad_outputs)
    if len(gos) != len(outs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(gos)} for {len(outs)} outputs")
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad(): inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    found = _run_backward(outs, _seeds(outs, gos, create_graph), retain_graph=retain_graph,
                          create_graph=create_graph, targets=ins, accumulate=False)
    result: list[Tensor | None] = []
    for t in ins:
        g = found.get(_key(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            result.append(Tensor(np.zeros_like(t._data)) if materialize_grads else None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(np.array(g, dtype=t.dtype, copy=True)))
    return tuple(result)


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


from minidl.ops import _xp as _xp_module  # noqa: E402
_XP = (_xp_module.NUMPY, _xp_module.TENSOR)


class _TensorOps:
    """The engine's two reductions on Tensors, recorded (used when ``create_graph=True``)."""

    @staticmethod
    def sum(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        return a.sum(axis, keepdims)

    @staticmethod
    def astype(a: Tensor, dtype: np.dtype) -> Tensor:
        return a.to(dtype)


from minidl.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402,F401
