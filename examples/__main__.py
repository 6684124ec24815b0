"""``python -m examples <chapter> [options]``, or ``python -m examples all`` for every chapter in quick mode."""
from __future__ import annotations

import os as _os

# OpenBLAS's idle threads spin for ~2^28 cycles after each GEMM and steal cores from Numba's kernels;
# a short timeout (2^4 cycles) puts them to sleep at once. Read when NumPy loads, so set it first.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib
import sys
import time
from pathlib import Path

# chapter name -> module; the order is the course's order, and the order of `all`.
CHAPTERS: dict[str, str] = {
    "circles_mlp": "examples.circles_mlp",
    "circles_svm": "examples.circles_svm",
    "bow": "examples.bow",
    "cnn": "examples.cnn",
    "transfer": "examples.transfer",
    "visualize": "examples.visualize",
    "dann": "examples.dann",
    "gan": "examples.gan",
    "bayes_linear": "examples.bayes_linear",
    "bayes_nn": "examples.bayes_nn",
    "uncertainty": "examples.uncertainty",
}


def _available() -> dict[str, str]:
    here = Path(__file__).parent
    return {k: m for k, m in CHAPTERS.items() if (here / (m.split(".")[-1] + ".py")).exists()}


def run_all(argv: list[str]) -> int:
    """Every chapter with --quick on embedded data, then runs/index.md linking their outputs."""
    out_root = Path("runs")
    rows = []
    for name, module in _available().items():
        t0 = time.perf_counter()
        print(f"\n=== {name} (quick) ===")
        metrics = importlib.import_module(module).main(["--quick", "--out", str(out_root / name), *argv])
        rows.append((name, metrics or {}, time.perf_counter() - t0))
    lines = ["# minidl: all chapters (quick mode)", "",
             "| chapter | data | test accuracy | time (s) | report | figures |", "|---|---|---|---|---|---|"]
    for name, m, dt in rows:
        acc = m.get("test_accuracy")
        acc_s = f"{acc:.3f}" if isinstance(acc, (int, float)) else "-"
        figs = " ".join(f"[{p.stem}]({name}/{p.name})" for p in sorted((out_root / name).glob("*.png")))
        lines.append(f"| {name} | {m.get('data', '?')} | {acc_s} | {dt:.1f} | [summary]({name}/summary.md), "
                     f"[metrics]({name}/metrics.json) | {figs} |")
    out_root.mkdir(exist_ok=True)
    (out_root / "index.md").write_text("\n".join(lines) + "\n")
    print(f"\nall chapters done: figures and metrics under {out_root}/, index at {out_root / 'index.md'}")
    return 0


def main() -> int:
    chapters = _available()
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("chapters:", ", ".join(chapters), "| all")
        return 0
    name, argv = sys.argv[1], sys.argv[2:]
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if name != "all" and name not in chapters:
        print(f"unknown chapter {name!r}; choose one of: {', '.join(chapters)}, all", file=sys.stderr)
        return 2
    from examples._runner import UserError
    try:
        if name == "all":
            return run_all(argv)
        importlib.import_module(chapters[name]).main(argv)
    except UserError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
