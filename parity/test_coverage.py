"""Every op in minidl's registry has a parity test. A new ``Function`` subclass without one fails here."""
from __future__ import annotations

import importlib
from pathlib import Path

from minidl.autograd import OPS
from parity.coverage import DECLARED


def test_registry_coverage() -> None:
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"parity.{path.stem}")  # declaring coverage happens at import
    # import everything that registers ops, so that ops defined anywhere in minidl are counted
    import minidl  # noqa: F401
    for mod in sorted(Path(minidl.__file__).parent.rglob("*.py")):
        rel = mod.relative_to(Path(minidl.__file__).parent.parent).with_suffix("")
        if "kernels" in rel.parts or rel.name.startswith("__main__"):
            continue
        importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))
    missing = sorted(set(OPS) - DECLARED)
    assert not missing, f"ops without a parity test: {missing}"
    unknown = sorted(DECLARED - set(OPS))
    assert not unknown, f"parity tests declare ops that do not exist: {unknown}"
