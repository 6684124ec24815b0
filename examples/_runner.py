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
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window
import matplotlib.pyplot as plt  # noqa: E402

from minidl.data import CorruptFileError, DownloadError, default_cache_dir  # noqa: E402


class UserError(Exception):
    """A mistake in how a chapter was called (missing data, an empty image folder, a weights file that
    does not fit, a bad option value). ``python -m examples`` prints its message and exits with status 2,
    without a traceback (``--debug`` shows one). Bugs raise other exceptions and keep their traceback.
    """


def make_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The arguments every chapter accepts; chapters add their own on the returned parser."""
    p = argparse.ArgumentParser(prog=f"python -m examples {name}", description=description)
    p.set_defaults(chapter=name)
    p.add_argument("--quick", action="store_true", help="small, fast run (used by `python -m examples all`)")
    p.add_argument("--data-dir", default=None,
                   help="folder of real datasets (default: $MINIDL_DATA; without either, embedded data)")
    p.add_argument("--out", default=None, help=f"run directory (default: runs/{name})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["minidl", "torch"], default="minidl")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda needs --backend torch)")
    p.add_argument("--train-dir", default=None, help="image folder (one sub-folder per class) to train on")
    p.add_argument("--test-dir", default=None, help="image folder (one sub-folder per class) to test on")
    p.add_argument("--download", action="store_true",
                   help="fetch the official MNIST / KMNIST / CIFAR-10 files the chapter needs (checksummed) into "
                        f"--data-dir (default: {default_cache_dir()})")
    p.add_argument("--distributed", action="store_true",
                   help="under torchrun: one process per device, DDP, the same global batch and lr (--backend torch)")
    p.add_argument("--scale-lr", action="store_true",
                   help="with --distributed: batch size per process and lr times the number of processes "
                        "(the linear scaling rule) instead of the one-process global batch and lr")
    return p


def data_dir(args: argparse.Namespace) -> Path | None:
    """``--data-dir`` if given, else ``$MINIDL_DATA``, else (with ``--download``) the per-user cache
    folder, else None (embedded data)."""
    d = args.data_dir or os.environ.get("MINIDL_DATA")
    download = getattr(args, "download", False)
    if not download:
        return Path(d) if d else None
    root = Path(d) if d else default_cache_dir()
    print(f"--download: data folder {root}" + ("" if d else " (--data-dir chooses another)"))
    for name in CHAPTER_DOWNLOADS.get(getattr(args, "chapter", ""), ()):
        fetch(args, name, root)
    return root


# What ``--download`` fetches for the chapters that read official files without asking for them
# by name (cnn fetches what --dataset names, through ``open_dataset``).
CHAPTER_DOWNLOADS: dict[str, tuple[str, ...]] = {"gan": ("mnist",), "dann": ("mnist",),
                                                  "uncertainty": ("mnist", "kmnist")}


def fetch(args: argparse.Namespace, name: str, root: Path) -> Path:
    """Download one official dataset (``mnist``, ``kmnist``, ``fashion_mnist``, ``cifar10``) into ``root``
    unless it is already there (checksums checked); returns the folder that holds its files."""
    from minidl.data import CIFAR10, KMNIST, MNIST, FashionMNIST
    cls = {"mnist": MNIST, "kmnist": KMNIST, "fashion_mnist": FashionMNIST, "cifar10": CIFAR10}[name]
    ns = argparse.Namespace(**{**vars(args), "download": True})
    open_dataset(ns, cls, root, train=False)
    folder = root / "cifar-10-batches-bin" if cls is CIFAR10 else root / cls.folder / "raw"
    print(f"{name}: official files in {folder}")
    return folder


def open_dataset(args: argparse.Namespace, cls: Callable[..., Any], root: Path, **kwargs: Any) -> Any:
    """``cls(root, download=args.download, **kwargs)`` for a dataset class of ``minidl.data`` (MNIST,
    KMNIST, CIFAR10...). What the user can fix becomes a ``UserError``: files not found (the message
    lists the paths looked at, and says how to point at data or download it), a corrupt file or a
    checksum mismatch (naming the file), a download that no mirror could serve."""
    download = bool(getattr(args, "download", False))
    try:
        return cls(root, download=download, **kwargs)
    except FileNotFoundError as e:
        raise UserError(f"{e}\nPoint --data-dir (or $MINIDL_DATA) at the folder that holds these files, or add "
                        f"--download to fetch the official ones (checksummed) into {root}.") from e
    except (CorruptFileError, DownloadError) as e:
        raise UserError(f"{e}" + ("" if download else "\n(--download fetches a fresh, checksummed copy)")) from e


class Run:
    """A run directory with its metrics, figures and report.

    >>> run = Run("circles_mlp", args)
    >>> run.metrics["test_accuracy"] = 0.95
    >>> run.savefig(fig, "loss", caption="the test loss stops falling after epoch 10")
    >>> run.finish("test_accuracy")        # metrics.json + summary.md + run.json + last line

    Besides the figures, ``metrics.json`` and ``summary.md``, a run writes ``run.json`` (the command,
    the headline metric, the figures with their captions, the time): what ``examples/_report.py``
    reads to build ``runs/index.html``. Captions are saved as each figure is (``figures.json``), so
    that a chapter that fails half-way still shows the figures it made.
    """

    def __init__(self, name: str, args: argparse.Namespace, write: bool = True) -> None:
        """``write=False``: a run that writes and prints nothing (ranks other than 0 under torchrun)."""
        if (int(os.environ.get("WORLD_SIZE", "1")) > 1 or getattr(args, "distributed", False)) and \
                not getattr(args, "supports_distributed", False):
            raise UserError(f"the {name} chapter does not train on several processes (no --distributed / "
                            "torchrun); run it as one process")
        self.name = name
        self.args = args
        self.write = write
        self.path = Path(args.out) if args.out else Path("runs") / name
        if write:
            self.path.mkdir(parents=True, exist_ok=True)
        self.metrics: dict[str, Any] = {}
        self.figures: list[str] = []
        self.captions: dict[str, str] = {}
        self.notes: list[str] = []
        self.command = COMMAND or f"examples.{name}.main(...) called from Python"
        self._t0 = time.perf_counter()

    def savefig(self, fig: "plt.Figure", stem: str, caption: str | None = None) -> Path:
        """Save ``fig`` as ``<run>/<stem>.png`` and close it. ``caption``: what to look at in it (shown
        under the figure in the HTML report and in summary.md)."""
        out = self.path / f"{stem}.png"
        if not self.write:
            plt.close(fig)
            return out
        fig.savefig(out, dpi=110, bbox_inches="tight")
        plt.close(fig)
        if out.name not in self.figures:
            self.figures.append(out.name)
        if caption:
            self.captions[out.name] = caption
        _write_json(self.path / "figures.json",
                    [{"file": f, "caption": self.captions.get(f, "")} for f in self.figures])
        return out

    def note(self, line: str) -> None:
        """A sentence for summary.md (what to look at, what data was used...)."""
        self.notes.append(line)
        if self.write:
            print(line)

    def finish(self, headline: str) -> dict[str, Any]:
        """Write metrics.json, summary.md and run.json; print the closing line naming the run directory."""
        self.metrics.setdefault("wall_time_s", round(time.perf_counter() - self._t0, 2))
        if "data" not in self.metrics:
            raise KeyError("metrics must say which data was used (key 'data')")
        if not self.write:
            return self.metrics
        plain = _jsonable(self.metrics)
        _write_json(self.path / "metrics.json", plain, sort_keys=True)
        _write_text(self.path / "summary.md", self._summary(plain))
        _write_json(self.path / "run.json", {
            "chapter": self.name, "command": self.command, "headline": headline, "data": plain["data"],
            "notes": self.notes, "wall_time_s": plain["wall_time_s"],
            "figures": [{"file": f, "caption": self.captions.get(f, "")} for f in self.figures]})
        value = self.metrics.get(headline)
        print(f"[{self.name}] run directory: {self.path}  {headline}={_fmt(value)}")
        return self.metrics

    def _summary(self, metrics: dict[str, Any]) -> str:
        """summary.md: notes, a table of the scalar metrics, matrices as fenced blocks, the figures.
        Table cells hold one line each (``|`` escaped); anything multi-line goes below the table."""
        lines = [f"# {self.name}", "", f"Command: `{self.command}`", "", f"Data: {_one_line(metrics['data'])}", ""]
        lines += [f"- {_one_line(n)}" for n in self.notes]
        blocks: list[str] = []
        lines += ["", "| metric | value |", "|---|---|"]
        for k, v in sorted(metrics.items()):
            if _is_matrix(v) and len(v) <= 30:
                blocks += ["", f"{k}:", "", "```", *(" ".join(f"{x:>6}" for x in row) for row in v), "```"]
            elif isinstance(v, (list, dict)):
                continue  # curves, tables...: in metrics.json
            elif isinstance(v, str) and "\n" in v:
                blocks += ["", f"{k}:", "", "```", v.rstrip("\n"), "```"]
            else:
                lines.append(f"| {k} | {_one_line(_fmt(v))} |")
        lines += blocks
        lines += ["", "Figures:", ""]
        for f in self.figures:
            lines += [f"![{f}]({f})", ""] + ([f"*{_one_line(self.captions[f])}*", ""] if f in self.captions else [])
        return "\n".join(lines) + "\n"


# The command line that started the current chapter; ``python -m examples`` sets it before each chapter.
COMMAND: str | None = None


def _one_line(s: Any) -> str:
    return " ".join(str(s).split()).replace("|", "\\|")


def _is_matrix(v: Any) -> bool:
    return (isinstance(v, list) and len(v) > 0 and all(isinstance(r, list) and len(r) == len(v[0]) for r in v)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in v for x in r))


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a temporary file in the same folder, then os.replace."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any, sort_keys: bool = False) -> None:
    _write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


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
