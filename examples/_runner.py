"""Shared plumbing for the chapters: command-line arguments, the run directory, the run report.

Every chapter follows the same conventions (DESIGN.md section 7)::

    python -m examples <name> [--quick] [--data-dir DIR] [--out DIR] [--seed N]
                              [--backend minidl|torch] [--device cpu|cuda]
                              [--train-dir DIR --test-dir DIR]

A run writes its figures (PNG), ``metrics.json`` (flat snake_case keys, always ``data``) and a
short ``summary.md`` to its run directory, and its last printed line names that directory and
the headline metric. Nothing here is chapter-specific; chapters stay readable top to bottom.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window
import matplotlib.pyplot as plt  # noqa: E402


class UserError(Exception):
    """A mistake in how a chapter was called (missing data, an empty image folder, a weights file that
    does not fit, a bad option value). ``python -m examples`` prints its message and exits with status 2,
    without a traceback (``--debug`` shows one). Bugs raise other exceptions and keep their traceback.
    """


def make_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The arguments every chapter accepts; chapters add their own on the returned parser."""
    p = argparse.ArgumentParser(prog=f"python -m examples {name}", description=description)
    p.add_argument("--quick", action="store_true", help="small, fast run (used by `python -m examples all`)")
    p.add_argument("--data-dir", default=None,
                   help="folder of real datasets (default: $MINIDL_DATA; without either, embedded data)")
    p.add_argument("--out", default=None, help=f"run directory (default: runs/{name})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["minidl", "torch"], default="minidl")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda needs --backend torch)")
    p.add_argument("--train-dir", default=None, help="image folder (one sub-folder per class) to train on")
    p.add_argument("--test-dir", default=None, help="image folder (one sub-folder per class) to test on")
    return p


def data_dir(args: argparse.Namespace) -> Path | None:
    """``--data-dir`` if given, else ``$MINIDL_DATA``, else None (embedded data)."""
    d = args.data_dir or os.environ.get("MINIDL_DATA")
    return Path(d) if d else None


class Run:
    """A run directory with its metrics, figures and report.

    >>> run = Run("circles_mlp", args)
    >>> run.metrics["test_accuracy"] = 0.95
    >>> run.savefig(fig, "loss")           # runs/circles_mlp/loss.png
    >>> run.finish("test_accuracy")        # metrics.json + summary.md + last line
    """

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.path = Path(args.out) if args.out else Path("runs") / name
        self.path.mkdir(parents=True, exist_ok=True)
        self.metrics: dict[str, Any] = {}
        self.figures: list[str] = []
        self.notes: list[str] = []
        self._t0 = time.perf_counter()

    def savefig(self, fig: "plt.Figure", stem: str) -> Path:
        """Save ``fig`` as ``<run>/<stem>.png`` and close it."""
        out = self.path / f"{stem}.png"
        fig.savefig(out, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(out.name)
        return out

    def note(self, line: str) -> None:
        """A sentence for summary.md (what to look at, what data was used...)."""
        self.notes.append(line)
        print(line)

    def finish(self, headline: str) -> dict[str, Any]:
        """Write metrics.json and summary.md; print the closing line naming the run directory."""
        self.metrics.setdefault("wall_time_s", round(time.perf_counter() - self._t0, 2))
        if "data" not in self.metrics:
            raise KeyError("metrics must say which data was used (key 'data')")
        tmp = self.path / "metrics.json.tmp"
        tmp.write_text(json.dumps(_jsonable(self.metrics), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path / "metrics.json")
        lines = [f"# {self.name}", "", f"Data: {self.metrics['data']}", ""]
        lines += [f"- {n}" for n in self.notes]
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(self.metrics.items()) if not isinstance(v, (list, dict))]
        lines += ["", "Figures:", ""] + [f"![{f}]({f})" for f in self.figures]
        (self.path / "summary.md").write_text("\n".join(lines) + "\n")
        value = self.metrics.get(headline)
        print(f"[{self.name}] run directory: {self.path}  {headline}={_fmt(value)}")
        return self.metrics


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars and arrays into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj
