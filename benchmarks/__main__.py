"""``python -m benchmarks <name> [--quick]``: side-by-side timings against the reference libraries.

Each benchmark module ``benchmarks/<name>.py`` measures minidl (or classical) and its reference in the
same process, alternating runs, and prints medians, ratios and the issue's target. Targets live here,
in printed output, never in timed unit tests.
"""
from __future__ import annotations

import os as _os

import importlib
import sys

# OpenBLAS's idle threads spin for ~2^28 cycles after each GEMM and steal cores from Numba's kernels;
# a short timeout (2^4 cycles) puts them to sleep at once. ``import minidl`` now applies both at run time
# as well; they are set here first so that a run does not depend on import order.  ``--plain`` sets
# nothing: it measures what a user's own script gets.
if "--plain" not in sys.argv:
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path


def _names() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))


def main() -> int:
    names = _names()
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(names))
        return 0
    name = sys.argv[1]
    if name not in names:
        print(f"unknown benchmark {name!r}; choose one of: {', '.join(names)}", file=sys.stderr)
        return 2
    importlib.import_module(f"benchmarks.{name}").main(sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
