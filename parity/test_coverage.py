"""Coverage, enforced: every op in minidl's registry has a parity test, and every public callable (the
``minidl.*`` functions, ``Tensor`` methods, ``nn.functional``, ``nn`` modules, ``nn.init``, ``nn.utils``,
optimisers, schedulers, ``linalg``, ``autograd``) is called by an executed parity test.

A new ``Function`` subclass, or a new public function / method / module that torch also has, fails here
until a parity test exercises it; the failure message lists every missing name."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

from minidl.autograd import OPS
from parity import coverage
from parity.coverage import DECLARED

HERE = Path(__file__).parent


def _import_everything() -> None:
    for path in sorted(HERE.glob("test_*.py")):
        importlib.import_module(f"parity.{path.stem}")  # declaring coverage happens at import
    # import everything that registers ops, so that ops defined anywhere in minidl are counted
    import minidl
    for mod in sorted(Path(minidl.__file__).parent.rglob("*.py")):
        rel = mod.relative_to(Path(minidl.__file__).parent.parent).with_suffix("")
        if "kernels" in rel.parts or rel.name.startswith("__main__"):
            continue
        importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))


def test_registry_coverage() -> None:
    _import_everything()
    missing = sorted(set(OPS) - DECLARED)
    assert not missing, f"ops without a parity test: {missing}"
    unknown = sorted(DECLARED - set(OPS))
    assert not unknown, f"parity tests declare ops that do not exist: {unknown}"


def _mentioned(qual: str, sources: str) -> bool:
    """Static stand-in for a partial run: the name occurs as a word in some parity test's text (a name
    that does not even occur there is certainly untested; one that occurs may still be, see below)."""
    name = qual.rsplit(".", 1)[1]
    return re.search(rf"\b{re.escape(name)}\b", sources) is not None


def test_public_callables_covered() -> None:
    """Runs last (parity/conftest.py). After a full parity run: the callables that no test called. After a
    partial run (one file, -k): only a static check that each name is called in some parity test's text."""
    _import_everything()
    public = coverage.public_callables()
    assert len(public) > 300, f"only {len(public)} public callables found: the enumeration is broken"
    all_files = {p.resolve() for p in HERE.glob("test_*.py")}
    if all_files <= coverage.COLLECTED_FILES:
        missing = coverage.uncovered()
        how = "no parity test called them"
    else:
        sources = "\n".join(p.read_text() for p in sorted(all_files))
        missing = sorted(q for q in public if not _mentioned(q, sources))
        how = "partial run: no parity test even mentions them (run the whole parity suite for the real check)"
    assert not missing, f"{len(missing)} of {len(public)} public callables without a parity test ({how}): {missing}"
