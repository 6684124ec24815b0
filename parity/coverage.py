"""Registry coverage: which ops the parity suite tests.

A parity test declares the ops it covers (``@covers("Conv2d")`` on a test, or ``declare("Add")`` for
table-driven cases); while it runs, ``minidl.autograd.record_ops`` watches which ops were really
applied, and the test fails if a declared op never ran. ``test_registry_coverage`` then checks that
every op in ``minidl.autograd.OPS`` was declared somewhere, so a new op without a parity test fails.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

from minidl.autograd import record_ops

DECLARED: set[str] = set()


def declare(*ops: str) -> None:
    DECLARED.update(ops)


def assert_ran(ops: Iterable[str], seen: set[str], where: str = "") -> None:
    missing = set(ops) - seen
    if missing:
        raise AssertionError(f"{where}: declared coverage of {sorted(missing)} but those ops never ran "
                             f"(ran: {sorted(seen)})")


def covers(*ops: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: this test is the parity test of ``ops``; it must actually apply each of them."""
    declare(*ops)

    def wrap(test: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            with record_ops() as seen:
                out = test(*args, **kwargs)
            assert_ran(ops, seen, test.__name__)
            return out
        return run
    return wrap


# --------------------------------------------------------------------------- public callables
"""Coverage of the public API (issue 8): every callable a torch user can reach in minidl -- the
``minidl.*`` functions, ``Tensor`` methods, ``nn.functional``, ``nn`` modules, ``nn.init``, ``nn.utils``,
optimisers, schedulers, ``linalg``, ``autograd`` -- must be called by some executed parity test.

"Public" means: reachable under a public name in one of those namespaces AND present under the same
name in torch's matching namespace (only those have a torch behaviour to be compared with). At the
start of the parity session ``install_call_recorder`` wraps each of them (a function, a method, or a
class's ``__init__``) so that calls made while a parity test runs are recorded; ``test_coverage.py``
then lists every callable that no test called, by name. Aliases (``clip = clamp``) share one object,
and calling any of its names covers all of them.
"""
import inspect  # noqa: E402
import types  # noqa: E402

CALLED: set[int] = set()            # ids of the original objects called during a parity test
_RECORDING = [False]                # set by parity/conftest.py around each parity test
_INSTALLED: dict[str, Any] = {}     # qualified name -> original object


def namespaces() -> list[tuple[str, Any, Any]]:
    """(prefix, minidl namespace, torch namespace) pairs whose public callables are checked."""
    import torch

    import minidl
    import minidl.nn.init
    import minidl.nn.modules.module
    import minidl.nn.utils
    import torch.nn.modules.module
    import minidl.optim.lr_scheduler
    return [("minidl", minidl, torch), ("Tensor", minidl.Tensor, torch.Tensor),
            ("F", minidl.nn.functional, torch.nn.functional), ("nn", minidl.nn, torch.nn),
            ("nn.init", minidl.nn.init, torch.nn.init), ("nn.utils", minidl.nn.utils, torch.nn.utils),
            ("optim", minidl.optim, torch.optim), ("lr_scheduler", minidl.optim.lr_scheduler, torch.optim.lr_scheduler),
            ("linalg", minidl.linalg, torch.linalg), ("autograd", minidl.autograd, torch.autograd),
            ("nn.modules.module", minidl.nn.modules.module, torch.nn.modules.module)]   # the global module hooks


def _is_candidate(obj: Any) -> bool:
    if isinstance(obj, (types.ModuleType, property)) or not callable(obj):
        return False
    if inspect.isclass(obj):
        from minidl.autograd import Function
        if issubclass(obj, Function) and obj is not Function:  # registered ops: test_registry_coverage
            return False
        return (getattr(obj, "__module__", "") or "").startswith("minidl")
    return (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)
            or isinstance(obj, functools.partial))


def public_callables() -> dict[str, Any]:
    """'prefix.name' -> the minidl object, for every public name that torch's matching namespace also has."""
    out: dict[str, Any] = {}
    for prefix, ns, tns in namespaces():
        if inspect.isclass(ns):  # the class's own methods and those it inherits from minidl classes (TorchAPI)
            names = {}
            for klass in reversed(ns.__mro__):
                if klass.__module__.startswith("minidl"):
                    names.update(vars(klass))
        else:
            names = {n: getattr(ns, n) for n in dir(ns)}
        for name, obj in names.items():
            if name.startswith("_") or not hasattr(tns, name):
                continue
            if inspect.isclass(ns):
                if isinstance(obj, (staticmethod, classmethod)):
                    obj = obj.__func__
                if not inspect.isfunction(obj):
                    continue
            elif not _is_candidate(obj):
                continue
            out[f"{prefix}.{name}"] = obj
    return out


def _original(obj: Any) -> Any:
    return getattr(obj, "_parity_original", obj)


def _recording_function(fn: Any) -> Any:
    key = id(fn)

    @functools.wraps(fn)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        if _RECORDING[0]:
            CALLED.add(key)
        return fn(*args, **kwargs)
    recorded._parity_original = fn  # type: ignore[attr-defined]
    return recorded


BASES = {"Module", "Optimizer", "LRScheduler"}
"""Base classes covered by instantiating any subclass (a test's ``class Net(nn.Module)`` exercises Module)."""
_BY_ID: dict[int, Any] = {}


def _cover_instance(cls: type) -> None:
    """Record the most derived minidl class of an instance, and the listed base classes above it."""
    first = True
    for c in cls.__mro__:
        if id(c) in _BY_ID and (first or c.__name__ in BASES):
            CALLED.add(id(c))
            first = False


def _record_init(cls: type) -> None:
    own = vars(cls).get("__init__")

    def recorded_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if _RECORDING[0]:
            _cover_instance(type(self))
        if own is not None:
            own(self, *args, **kwargs)
        else:
            super(cls, self).__init__(*args, **kwargs)
    if own is not None:
        functools.update_wrapper(recorded_init, own)
    recorded_init._parity_original = own  # type: ignore[attr-defined]
    cls.__init__ = recorded_init  # type: ignore[misc]


def install_call_recorder() -> None:
    """Wrap every public callable (once) so that calls during parity tests are recorded in ``CALLED``."""
    if _INSTALLED:
        return
    import minidl
    wrapped: dict[int, Any] = {}
    spaces = {p: n for p, n, _ in namespaces()}
    for qual, obj in public_callables().items():
        prefix, name = qual.rsplit(".", 1)
        orig = _original(obj)
        _INSTALLED[qual] = orig
        if inspect.isclass(orig):
            if orig in (minidl.Tensor, minidl.Size, minidl.autograd.Function):
                CALLED.add(id(orig))  # used by every test; Functions are covered by test_registry_coverage
            elif id(orig) not in _BY_ID:
                _BY_ID[id(orig)] = orig
                _record_init(orig)
            continue
        if id(orig) not in wrapped:
            wrapped[id(orig)] = _recording_function(orig)
        setattr(spaces[prefix], name, wrapped[id(orig)])


def uncovered() -> list[str]:
    """Public callables (qualified names) that no parity test called in this session."""
    return sorted(q for q, o in _INSTALLED.items() if id(o) not in CALLED)


COLLECTED_FILES: set[Any] = set()
"""The parity test files of this session (set at collection): the check needs all of them to have run."""
