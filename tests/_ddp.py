"""Shared plumbing of the scale-out tests (tests/test_ddp*.py): two CPU ranks (gloo) forked from the test
process, so that torch (and torch._dynamo, which DDP imports) is imported once rather than in each rank
as torchrun would do, and the one-process run to compare them with.

    fork_two_ranks(worker, out)      # runs worker(rank, port, out) in ranks 0 and 1; both must exit 0
    dist = join_group(rank, port)    # inside a worker: the environment torchrun would set, then Distributed
"""
from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import socket
from typing import Any, Callable


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
