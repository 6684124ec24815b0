"""Module hooks: what ``Module.__call__`` runs around ``forward``, with torch's semantics and order.

Per module (``Module.register_*``) and global, for every module (``register_module_*``, for debugging and
profiling, as torch's ``torch.nn.modules.module.register_module_*``):

- **forward pre-hooks** ``hook(module, args) -> None | new args`` run before ``forward``; global ones first;
- **forward hooks** ``hook(module, args, output) -> None | new output`` run after it; global ones first.
  ``always_call=True`` also runs the hook when ``forward`` (or an earlier hook) raises: it then sees
  ``output=None`` (or the output so far), an exception of its own is turned into a warning, and the
  original exception propagates;
- **full backward pre-hooks** ``hook(module, grad_output) -> None | new grad_output`` run when the
  gradients w.r.t. the module's outputs are known;
- **full backward hooks** ``hook(module, grad_input, grad_output) -> None | new grad_input`` run when the
  gradients w.r.t. its positional tensor inputs are known (Grad-CAM reads ``grad_output`` here).

How the backward hooks find their moment (torch's ``BackwardHook``): the module's tensor inputs go through
an identity ``Function`` before ``forward``, and its outputs through another after it. Backward through the
output identity is the moment the module's output gradients are complete (pre-hooks); backward through the
input identity, after the whole module's backward, is when its input gradients are (hooks). An identity's
backward returns its incoming gradients -- possibly replaced by the hooks. If no input requires grad, the
full hooks fire at the output identity with ``grad_input`` all None (torch warns, and so do we).
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from minidl.autograd import Context, Function, is_grad_enabled
from minidl.tensor import Tensor

Hook = Callable[..., Any]

# the global hooks (torch.nn.modules.module's module-level dicts of the same names)
_global_forward_pre_hooks: "OrderedDict[int, Hook]" = OrderedDict()
_global_forward_hooks: "OrderedDict[int, Hook]" = OrderedDict()
_global_forward_hooks_with_kwargs: dict[int, bool] = {}
_global_forward_hooks_always_called: dict[int, bool] = {}
_global_backward_pre_hooks: "OrderedDict[int, Hook]" = OrderedDict()
_global_backward_hooks: "OrderedDict[int, Hook]" = OrderedDict()


def any_global_hook() -> bool:
    return bool(_global_forward_pre_hooks or _global_forward_hooks or _global_backward_pre_hooks
                or _global_backward_hooks)


class RemovableHandle:
    """What every ``register_*hook`` returns: ``handle.remove()`` takes the hook off again (twice is
    harmless), also usable as ``with module.register_forward_hook(f): ...``, as torch's handle. Ids come from
    one counter, so module and global hooks never share an id. ``extra_dict``: the side tables (with_kwargs,
    always_call) that also hold the id: one dict or a list of them."""

    _next_id = 0

    def __init__(self, hooks_dict: "dict[int, Any]", extra_dict: "dict[int, Any] | list | tuple | None" = None
                 ) -> None:
        self.hooks_dict = hooks_dict
        self.extra_dicts: list[dict[int, Any]] = (
            [] if extra_dict is None else list(extra_dict) if isinstance(extra_dict, (list, tuple)) else [extra_dict])
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)
        for d in self.extra_dicts:
            d.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def add_hook(store: "OrderedDict[int, Hook]", hook: Hook, prepend: bool = False,
             flags: "list[tuple[dict[int, bool], bool]] | None" = None) -> RemovableHandle:
    """Put ``hook`` in ``store`` (first if ``prepend``); ``flags``: (side table, on) pairs -- the id is
    marked in each table that is on, and ``remove()`` clears it from all of them."""
    handle = RemovableHandle(store, [table for table, _ in flags or []])
    store[handle.id] = hook
    if prepend:
        store.move_to_end(handle.id, last=False)
    for table, on in flags or []:
        if on:
            table[handle.id] = True
    return handle


# --------------------------------------------------------------------------- global registration
def register_module_forward_pre_hook(hook: Hook) -> RemovableHandle:
    """A forward pre-hook for every module, run before the module's own (torch: positional args only)."""
    return add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook: Hook, *, with_kwargs: bool = False, always_call: bool = False
                                 ) -> RemovableHandle:
    """A forward hook for every module, run before the module's own forward hooks."""
    handle = RemovableHandle(_global_forward_hooks,
                             [_global_forward_hooks_with_kwargs, _global_forward_hooks_always_called])
    _global_forward_hooks[handle.id] = hook
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook: Hook) -> RemovableHandle:
    """A backward pre-hook for every module, run before the module's own."""
    return add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook: Hook) -> RemovableHandle:
    """A full backward hook for every module, run before the module's own."""
    return add_hook(_global_backward_hooks, hook)


# --------------------------------------------------------------------------- backward hooks
class BackwardHookFunction(Function):
    """Identity on the module's tensor inputs (or outputs) whose backward hands the incoming gradients to
    ``on_backward`` and returns what it gives back. A user-style Function (``tensor_io``), not a registered
    op: it computes nothing, and its parity is the backward-hook tests'. Inputs that do not require grad
    come out marked non-differentiable, as in torch."""

    tensor_io = True

    @staticmethod
    def forward(ctx: Context, *tensors: Tensor, on_backward: Callable[[Context, tuple], tuple]) -> tuple:
        ctx.on_backward = on_backward
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        return ctx.on_backward(ctx, grads)


def _pack(index: list[int], values: tuple, size: int) -> tuple:
    out: list[Any] = [None] * size
    for i, v in zip(index, values):
        out[i] = v
    return tuple(out)


class BackwardHook:
    """One forward call's backward hooks (torch's ``torch.utils.hooks.BackwardHook``): wraps the inputs and
    outputs in identities and, in backward, calls the pre-hooks with ``grad_output`` and the hooks with
    ``(grad_input, grad_output)``, tuples with one entry per positional argument / output (None where it
    is not a tensor or has no gradient)."""

    def __init__(self, module: Any, hooks: list[Hook], pre_hooks: list[Hook]) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = self.n_outputs = -1
        self.input_index: list[int] | None = None
        self.output_index: list[int] | None = None

    @staticmethod
    def _wrap(values: tuple, on_backward: Callable[[Context, tuple], tuple]) -> tuple[tuple, list[int] | None]:
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        if not (is_grad_enabled() and any(values[i].requires_grad for i in index)):
            return values, None
        wrapped = BackwardHookFunction.apply(*[values[i] for i in index], on_backward=on_backward)
        out = list(values)
        for i, w in zip(index, wrapped):
            out[i] = w
        return tuple(out), index

    def setup_input_hook(self, args: tuple) -> tuple:
        new, self.input_index = self._wrap(args, self._input_grads)
        self.n_inputs = len(args)
        return new

    def setup_output_hook(self, result: Any) -> Any:
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        new, self.output_index = self._wrap(outs, self._output_grads)
        self.n_outputs = len(outs)
        return new[0] if single else new

    def _output_grads(self, ctx: Context, grads: tuple) -> tuple:
        """Backward of the output identity: the module's output gradients are complete."""
        assert self.output_index is not None
        self.grad_outputs = _pack(self.output_index, grads, self.n_outputs)
        for hook in self.pre_hooks:
            new = hook(self.module, self.grad_outputs)
            if new is None:
                continue
            new = (new,) if isinstance(new, Tensor) else new
            if len(new) != len(self.grad_outputs):
                raise RuntimeError(f"Backward pre hook returned an invalid number of grad_output, got {len(new)}, "
                                   f"but expected {len(self.grad_outputs)}")
            self.grad_outputs = tuple(new)
        grad_outputs = self.grad_outputs
        if self.input_index is None:          # no input requires grad: the hooks fire here, grad_input all None
            if self.hooks:
                warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                              "outputs since no inputs require gradients.", stacklevel=2)
                grad_inputs = (None,) * self.n_inputs
                for hook in self.hooks:
                    res = hook(self.module, grad_inputs, grad_outputs)
                    if res is not None and not (isinstance(res, tuple) and all(r is None for r in res)):
                        raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                           "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def _input_grads(self, ctx: Context, grads: tuple) -> tuple:
        """Backward of the input identity: the module's input gradients are complete. An input that requires
        grad but got none (unused by forward) gets zeros, as torch materialises them."""
        assert self.input_index is not None
        grads = tuple(Tensor(np.zeros_like(t._data)) if g is None and t.requires_grad else g
                      for g, t in zip(grads, ctx.inputs))
        if self.grad_outputs is None:         # the gradient reached the inputs without passing the outputs
            return grads
        res = _pack(self.input_index, grads, self.n_inputs)
        for hook in self.hooks:
            new = hook(self.module, res, self.grad_outputs)
            if new is None:
                continue
            if len(new) != len(res):
                raise RuntimeError(f"Backward hook returned an invalid number of grad_input, got {len(new)}, but "
                                   f"expected {len(res)}")
            res = tuple(new)
        self.grad_outputs = None
        return tuple(res[i] for i in self.input_index)


# --------------------------------------------------------------------------- the hooked call
def _always_call_after_error(module: Any, state: dict[str, Any], called: set[int]) -> None:
    """forward (or a hook) raised: run the ``always_call`` forward hooks that did not run yet. torch calls a
    global one as ``hook(module, args, output)`` even if it was registered ``with_kwargs`` (its quirk,
    kept); a hook that raises here becomes a warning, so the original error is the one the caller sees."""
    d = module.__dict__
    for where, table, flags, kw in (
            ("global module", _global_forward_hooks, _global_forward_hooks_always_called, {}),
            ("module", d["_forward_hooks"], d["_forward_hooks_always_called"], d["_hooks_with_kwargs"])):
        for hid, hook in list(table.items()):
            if hid not in flags or hid in called:
                continue
            try:
                r = (hook(module, state["args"], state["kwargs"], state["result"]) if kw.get(hid)
                     else hook(module, state["args"], state["result"]))
                if r is not None:
                    state["result"] = r
            except Exception as e:  # noqa: BLE001  (torch silences it with a warning)
                warnings.warn(f"{where} forward hook with ``always_call=True`` raised an exception that was "
                              f"silenced as another error was raised in forward: {e}", stacklevel=3)


def _call_hooked(module: Any, state: dict[str, Any], called: set[int]) -> Any:
    d = module.__dict__
    with_kwargs = d["_hooks_with_kwargs"]
    # which backward hooks this call will use is fixed now (removing one later does not affect this graph)
    pre_bw = [*_global_backward_pre_hooks.values(), *d["_backward_pre_hooks"].values()]
    full_bw = [*_global_backward_hooks.values(), *d["_backward_hooks"].values()]
    for hid, hook in (*_global_forward_pre_hooks.items(), *d["_forward_pre_hooks"].items()):
        if with_kwargs.get(hid):
            r = hook(module, state["args"], state["kwargs"])
            if r is not None:
                if not (isinstance(r, tuple) and len(r) == 2):
                    raise RuntimeError(f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {r}.")
                state["args"], state["kwargs"] = r
        else:
            r = hook(module, state["args"])
            if r is not None:
                state["args"] = r if isinstance(r, tuple) else (r,)
    bw = BackwardHook(module, full_bw, pre_bw) if (full_bw or pre_bw) else None
    if bw is not None:
        state["args"] = bw.setup_input_hook(state["args"])
    state["result"] = module.forward(*state["args"], **state["kwargs"])
    for hid, hook in (*_global_forward_hooks.items(), *d["_forward_hooks"].items()):
        if hid in d["_forward_hooks_always_called"] or hid in _global_forward_hooks_always_called:
            called.add(hid)
        if with_kwargs.get(hid) or hid in _global_forward_hooks_with_kwargs:
            r = hook(module, state["args"], state["kwargs"], state["result"])
        else:
            r = hook(module, state["args"], state["result"])
        if r is not None:
            state["result"] = r
    if bw is not None:
        if not isinstance(state["result"], (Tensor, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                          f"but received {type(state['result'])}", stacklevel=3)
        state["result"] = bw.setup_output_hook(state["result"])
    return state["result"]


def call_impl(module: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """``module(*args, **kwargs)`` with its hooks and the global ones (torch's ``Module._call_impl``)."""
    ensure_hook_tables(module)
    state: dict[str, Any] = {"args": args, "kwargs": kwargs, "result": None}
    called: set[int] = set()
    try:
        return _call_hooked(module, state, called)
    except Exception:
        _always_call_after_error(module, state, called)
        raise


def ensure_hook_tables(module: Any) -> None:
    """The per-module hook tables (a subclass may have skipped ``Module.__init__``, or predate a table)."""
    for name in ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks"):
        if name not in module.__dict__:
            object.__setattr__(module, name, OrderedDict())
    for name in ("_hooks_with_kwargs", "_forward_hooks_always_called"):
        if name not in module.__dict__:
            object.__setattr__(module, name, {})
