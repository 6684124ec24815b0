"""``Module`` and ``Parameter``: the containers that make a network out of tensors.

A Module owns Parameters (tensors to train), buffers (tensors to save but not train, e.g. batch-norm
running statistics) and sub-Modules, all registered by plain attribute assignment::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(2, 10)      # registered as a child module
        def forward(self, x):
            return self.hidden(x).tanh()

``state_dict`` keys are the attribute paths (``hidden.weight``), exactly as in torch, so weights can be
copied between the two libraries (``minidl.interop``).
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from minidl import autograd
from minidl.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


# RemovableHandle and the hook machinery live in minidl/nn/hooks.py (issue 9's hooks block below).
from minidl.nn import hooks as _hooks  # noqa: E402
from minidl.nn.hooks import RemovableHandle  # noqa: E402,F401


class Parameter(Tensor):
    """A tensor that a Module trains: ``requires_grad=True`` and listed by ``parameters()``."""

    def __init__(self, data: Tensor | np.ndarray | None = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.zeros(0, dtype=autograd.get_default_dtype())
        array = data._data if isinstance(data, Tensor) else np.asarray(data)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model (torch.nn.Module's API, for the parts minidl implements)."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        _hooks.ensure_hook_tables(self)   # forward/backward hook tables (see the hooks block)

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # ================================================================== hooks (issue 9) -- begin
    # The machinery (order, always_call, backward hooks, the global hooks) is in minidl/nn/hooks.py.
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` wrapped by the hooks, in torch's order: global then module forward pre-hooks (each may
        replace the positional inputs), ``forward``, global then module forward hooks (each may replace the
        output); backward hooks are set up around it. With no hook anywhere, just ``forward``.

        A pre-hook ``hook(module, args)`` returns None (keep the inputs) or new inputs (a non-tuple is
        wrapped in a 1-tuple); with ``with_kwargs=True`` it is ``hook(module, args, kwargs)`` and returns
        None or ``(args, kwargs)``. A forward hook ``hook(module, args, output)`` (``with_kwargs``:
        ``hook(module, args, kwargs, output)``) returns None (keep the output) or a replacement."""
        d = self.__dict__
        if not (d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks")
                or d.get("_backward_pre_hooks") or _hooks.any_global_hook()):
            return self.forward(*args, **kwargs)
        return _hooks.call_impl(self, args, kwargs)

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; it may return replacement inputs.
        ``prepend=True`` runs it before the hooks already registered (global hooks still come first).
        Returns a handle: ``handle.remove()``."""
        _hooks.ensure_hook_tables(self)
        return _hooks.add_hook(self._forward_pre_hooks, hook, prepend, [(self._hooks_with_kwargs, with_kwargs)])

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; it may return a replacement output.
        ``always_call=True``: also when forward raises (the hook then sees ``output=None``). The course uses
        it to read a layer's activations::

            feats = {}
            h = model.features[29].register_forward_hook(lambda m, args, out: feats.update(relu5=out))
            model(x); h.remove()
        """
        _hooks.ensure_hook_tables(self)
        return _hooks.add_hook(self._forward_hooks, hook, prepend, [(self._hooks_with_kwargs, with_kwargs),
                                                                    (self._forward_hooks_always_called, always_call)])

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients w.r.t. this module's outputs are known; it may
        return a replacement ``grad_output`` tuple (used for the rest of backward)."""
        _hooks.ensure_hook_tables(self)
        return _hooks.add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients w.r.t. this module's positional
        tensor inputs are known; it may return a replacement ``grad_input`` tuple. Grad-CAM keeps
        ``grad_output[0]`` of the last convolution (the gradient of the class score w.r.t. its feature maps)."""
        _hooks.ensure_hook_tables(self)
        return _hooks.add_hook(self._backward_hooks, hook, prepend)
    # ================================================================== hooks (issue 9) -- end

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call")
        for d in (self._parameters, self._buffers, self._modules):
            if name in d and not isinstance(value, (Parameter, Module, Tensor)) and value is not None:
                del d[name]
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            self._parameters[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for d in ("_parameters", "_buffers", "_modules"):
            store = self.__dict__.get(d)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}'")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        self._modules[name] = module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_prefix, m in mods:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members("_parameters", prefix, recurse)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every sub-module (children first), then on ``self`` -- e.g. custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and dtype
    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor(np.zeros_like(p._data))

    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """``to(minidl.float64)`` converts floating parameters and buffers in place; ``to("cpu")`` is a no-op."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, str) or a is None:
                if a is not None and a != "cpu":
                    raise RuntimeError(f"minidl runs on the CPU only; got device {a!r}")
            else:
                dtype = a
        device = kwargs.get("device")
        if device is not None and str(device) != "cpu":
            raise RuntimeError(f"minidl runs on the CPU only; got device {device!r}")
        if dtype is not None:
            dt = np.dtype(dtype)
            for t in [*self.parameters(), *self.buffers()]:
                if t._data.dtype.kind == "f":
                    t._data = t._data.astype(dt)
                    if t.grad is not None:
                        t.grad = Tensor(t.grad._data.astype(dt))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def cpu(self) -> "Module":
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Every parameter and persistent buffer, by dotted name (torch's keys), sharing memory."""
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict: "dict[str, Any]", strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's tensors; shapes must match (RuntimeError listing every problem)."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v._data if isinstance(v, Tensor) else np.asarray(v)
            if arr.shape != t._data.shape:
                errors.append(f"size mismatch for {k}: copying a param with shape {tuple(arr.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(t._data.shape)}.")
                continue
            t._data = np.array(arr, dtype=t._data.dtype, copy=True)
        if strict and (missing or unexpected):  # torch's order: missing, unexpected, then the size mismatches
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        if not lines:
            return main + ")"
        if len(lines) == 1 and not self._modules:
            return main + lines[0] + ")"
        return main + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))
