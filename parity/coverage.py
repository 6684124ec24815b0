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
