"""``python -m examples <chapter> [options]``, or ``python -m examples all`` for every chapter in quick mode
and the report ``runs/index.html``; ``python -m examples report`` rebuilds that page from ``runs/``."""
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


def run_all(argv: list[str], debug: bool = False) -> int:
    """Every chapter with --quick on embedded data, then runs/index.html (and index.md) showing them all.

    A chapter that raises is reported in the page (its error and what it saved so far) and the others
    still run; ``all`` then exits with status 1, naming the failed chapters."""
    import json
    import shlex
    import traceback

    from examples import _runner
    from examples._report import check_in_browser, write_report

    out_root = Path("runs")
    out_root.mkdir(exist_ok=True)
    status: dict[str, dict] = {}
    t_all = time.perf_counter()
    only = None
    if "--only" in argv:  # --only a,b: a subset of the chapters (the report still lists the others' old runs)
        i = argv.index("--only")
        if i + 1 >= len(argv):
            raise _runner.UserError("--only needs a comma-separated list of chapters, e.g. --only cnn,gan")
        only, argv = argv[i + 1].split(","), argv[:i] + argv[i + 2:]
        unknown = sorted(set(only) - set(CHAPTERS))
        if unknown:
            raise _runner.UserError(f"--only: unknown chapter(s) {', '.join(unknown)}; choose from {', '.join(CHAPTERS)}")
    for name, module in _available().items():
        if only is not None and name not in only:
            continue
        out = out_root / name
        # no stale figures or metrics from an older run in the page (caches, e.g. bow's SIFTs, stay)
        for old in [*out.glob("*.png"), *(out / f for f in ("run.json", "figures.json", "metrics.json", "summary.md"))]:
            old.unlink(missing_ok=True)
        chapter_argv = ["--quick", "--out", str(out), *argv]
        command = shlex.join(["python", "-m", "examples", name, *chapter_argv])
        _runner.COMMAND = command
        print(f"\n=== {name} (quick) ===")
        t0 = time.perf_counter()
        try:
            importlib.import_module(module).main(chapter_argv)
            status[name] = {"status": "ok"}
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - reported in the page and in the exit status
            if debug:
                traceback.print_exc()
            what = f"{type(e).__name__}: {e}" if not isinstance(e, SystemExit) else f"SystemExit({e.code})"
            print(f"[{name}] FAILED: {what}", file=sys.stderr)
            status[name] = {"status": "failed", "error": "".join(traceback.format_exception(e)[-12:])}
        finally:
            _runner.COMMAND = None
        status[name].update(seconds=round(time.perf_counter() - t0, 2), command=command)
    (out_root / "all.json").write_text(json.dumps(
        {"total_seconds": round(time.perf_counter() - t_all, 1), "chapters": status}, indent=2) + "\n")
    page = write_report(out_root, list(CHAPTERS))
    failed = [n for n, s in status.items() if s["status"] == "failed"]
    problems = check_in_browser(page, out_root / "index.png")
    if problems is None:
        print("no Chromium found: the page was not checked in a browser (apt-get install chromium)")
    else:
        print(f"checked in headless Chromium: {len(problems)} problem(s); screenshot {out_root / 'index.png'}")
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        failed += ["index.html"] if problems else []
    print("\n" + "\n".join(f"{n:14s} {s['status']:7s} {s['seconds']:7.1f} s" for n, s in status.items()))
    print(f"\nall chapters done in {time.perf_counter() - t_all:.0f} s: the report is {page.resolve()} "
          f"(open it in a browser), also {out_root / 'index.md'}")
    if failed:
        print(f"{len(failed)} chapter(s) FAILED: {', '.join(failed)} (see the report)", file=sys.stderr)
        return 1
    return 0


def download(argv: list[str]) -> int:
    """``python -m examples download mnist|kmnist|fashion_mnist|cifar10|all [--data-dir DIR]``: fetch the
    official files (published checksums, progress bar, atomic writes) where the chapters look for them."""
    import argparse

    from examples._runner import data_dir, fetch
    p = argparse.ArgumentParser(prog="python -m examples download", description=download.__doc__)
    p.add_argument("dataset", choices=["mnist", "kmnist", "fashion_mnist", "cifar10", "all"])
    p.add_argument("--data-dir", default=None, help="default: $MINIDL_DATA, else the per-user cache folder")
    args = p.parse_args(argv)
    args.download = True
    root = data_dir(args)
    for name in ("mnist", "kmnist", "cifar10") if args.dataset == "all" else (args.dataset,):
        fetch(args, name, root)
    print(f"use it with: python -m examples <chapter> --data-dir {root}")
    return 0


def main() -> int:
    chapters = _available()
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("chapters:", ", ".join(chapters), "| all | report (rebuild runs/index.html from runs/)"
              " | download mnist|kmnist|fashion_mnist|cifar10|all [--data-dir DIR]")
        print("--debug (any command): show the traceback of a user error")
        return 0
    name, argv = sys.argv[1], sys.argv[2:]
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if name not in (*chapters, "all", "report", "download"):
        print(f"unknown chapter {name!r}; choose one of: {', '.join(chapters)}, all, report, download",
              file=sys.stderr)
        return 2
    from examples._runner import UserError
    from minidl.interop import BackendUnavailable
    try:
        if name == "all":
            return run_all(argv, debug)
        if name == "download":
            return download(argv)
        if name == "report":
            from examples._report import write_report
            print(f"wrote {write_report(Path(argv[0] if argv else 'runs'), list(CHAPTERS)).resolve()}")
            return 0
        import shlex

        from examples import _runner
        world = int(_os.environ.get("WORLD_SIZE", "1"))
        launcher = ["torchrun", "--nproc_per_node", str(world), "-m"] if world > 1 else ["python", "-m"]
        _runner.COMMAND = shlex.join([*launcher, "examples", name, *argv])
        importlib.import_module(chapters[name]).main(argv)
    except (UserError, BackendUnavailable) as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
