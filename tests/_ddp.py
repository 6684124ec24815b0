"""Shared plumbing of the scale-out tests (tests/test_ddp*.py): two CPU ranks (gloo) forked from the test
process, so that torch (and torch._dynamo, which DDP imports) is imported once rather than in each rank
as torchrun would do, and the one-process run to compare them with.

    fork_two_ranks(worker, out)      # runs worker(rank, port, out) in ranks 0 and 1; both must exit 0
    dist = join_group(rank, port)    # inside a worker: the environment torchrun would set, then Distributed
    two = torchrun_chapter("cnn", ["--quick", ...], out)   # the user's command line, through torchrun
"""
from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def rank_env(rank: int, port: int) -> None:
    """In a forked rank: set what torchrun sets (rendezvous address, world size 2, rank), and one thread."""
    import torch
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)


def join_group(rank: int, port: int) -> Any:
    """``rank_env``, then the chapters' ``Distributed`` for the torch backend (it joins the process group)."""
    rank_env(rank, port)
    from examples._distributed import Distributed
    from minidl.interop import backend
    return Distributed(backend("torch", "cpu"), argparse.Namespace(distributed=True, scale_lr=False))


def fork_two_ranks(worker: Callable[..., None], *args: Any, what: str = "", timeout: float = 180) -> None:
    """Fork ranks 0 and 1 running ``worker(rank, port, *args)``; fail naming ``what`` if a rank fails."""
    with socket.socket() as sock:  # a free port for the process group's rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import torch._dynamo  # noqa: F401  (DDP imports it: once here, not in each child)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=worker, args=(r, port, *args)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    codes = [p.exitcode for p in procs]
    assert codes == [0, 0], f"{what or worker.__name__}: a rank failed (exit codes {codes})"


def _chapter_rank(rank: int, port: int, chapter: str, argv: list[str]) -> None:
    rank_env(rank, port)             # the chapter joins the group itself
    importlib.import_module(f"examples.{chapter}").main(argv + ["--distributed"])


def two_processes(chapter: str, argv: list[str], target: Callable[[int, int], None] | None = None) -> None:
    """Fork two ranks running ``examples.<chapter>.main(argv + ["--distributed"])`` (or ``target(rank, port)``)."""
    if target is None:
        fork_two_ranks(_chapter_rank, chapter, argv, what=chapter)
    else:
        fork_two_ranks(target, what=chapter)


def one_process(chapter: str, argv: list[str]) -> dict[str, Any]:
    """The same chapter in this process, with one thread (as each rank has), for comparison."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return importlib.import_module(f"examples.{chapter}").main(argv)
    finally:
        torch.set_num_threads(threads)


def torchrun_chapter(chapter: str, argv: list[str], out: Path) -> dict[str, Any]:
    """``torchrun --standalone --nproc_per_node 2 -m examples <chapter> <argv> --distributed --out <out>``, as a
    user types it (one thread per rank, no data directory); it must succeed, rank 1 must write nothing beside
    ``out``, and rank 0's ``metrics.json`` is returned. Skips when torchrun is not installed."""
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if exe is None:
        import pytest
        pytest.skip("torchrun (PyTorch's launcher) is not on PATH")
    env = dict(os.environ, OMP_NUM_THREADS="1", MINIDL_DATA="", PYTHONPATH=str(ROOT))
    cmd = [exe, "--standalone", "--nproc_per_node", "2", "-m", "examples", chapter, *argv, "--distributed",
           "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]   # rank 1 wrote nothing
    return json.loads((out / "metrics.json").read_text())
