"""NumPy's argument names that torch also accepts: ``axis`` for ``dim`` and ``keepdims`` for ``keepdim``
(``x.sum(axis=0)``, ``minidl.mean(x, axis=1, keepdims=True)``). One wrapper renames them, so each
reduction keeps a single, torch-named signature."""
from __future__ import annotations

import functools
from typing import Any, Callable

ALIASES = {"axis": "dim", "keepdims": "keepdim"}


def numpy_names(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` accepting ``axis=`` / ``keepdims=`` as aliases of ``dim=`` / ``keepdim=`` (not both at once)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for alias, name in ALIASES.items():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}() got both '{name}' and its alias '{alias}'")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)
    return wrapper
