"""Scale-out of the transfer and visualize chapters: two CPU processes (gloo) reproduce the one-process run.

Both chapters train with ``transfer.train_classifier``: under ``--distributed`` every rank draws the same
batches and takes its share, and DDP's averaged gradient is the one-process mean-loss gradient (checked
step by step in tests/test_ddp.py). So a 2-process run and a 1-process run from the same seed do the same
steps, up to float32 rounding (the sums are grouped per rank); the features and FGSM counts, computed by
shares and summed over the ranks, cover every image exactly once. The runs are small (few steps, few
images): the check is the agreement, not the accuracy.

The ranks are forked from this process (torch is already imported) rather than started by torchrun, which
would import torch and torch._dynamo again in each.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TRANSFER = ["--quick", "--backend", "torch", "--steps", "12"]
VISUALIZE = ["--quick", "--backend", "torch", "--steps", "20", "--iterations", "2", "--fgsm-images", "60",
             "--fool-max-iter", "3"]


def _rank(chapter: str, argv: list[str], rank: int, port: int) -> None:
    """One rank of a 2-process group, as torchrun would start it (the environment names the group)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    import importlib
    importlib.import_module(f"examples.{chapter}").main(argv + ["--distributed"])


def _two_processes(chapter: str, argv: list[str]) -> None:
    with socket.socket() as sock:  # a free port for the process group's rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import torch._dynamo  # noqa: F401  (DDP imports it: once here, not in each child)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rank, args=(chapter, argv, r, port)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0], f"{chapter}: a rank failed (exit codes {[p.exitcode for p in procs]})"


def _one_process(chapter: str, argv: list[str]) -> dict[str, Any]:
    import importlib
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return importlib.import_module(f"examples.{chapter}").main(argv)
    finally:
        torch.set_num_threads(threads)


def test_transfer_on_two_processes_matches_one(tmp_path: Path) -> None:
    _two_processes("transfer", TRANSFER + ["--out", str(tmp_path / "two")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]          # rank 1 wrote nothing
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = _one_process("transfer", TRANSFER + ["--out", str(tmp_path / "one")])
    assert two["world_size"] == 2 and one["world_size"] == 1 and two["steps"] == one["steps"] == 12
    assert two["train_size"] == one["train_size"] and two["test_size"] == one["test_size"]
    image = 1 / one["test_size"]   # one test image: what float32 rounding could at most flip here
    for r2, r1 in zip(two["layers"], one["layers"]):
        assert r2["layer"] == r1["layer"] and r2["size"] == r1["size"]
        assert abs(r2["test_accuracy"] - r1["test_accuracy"]) <= image + 1e-12, (r2, r1)
    assert abs(two["scratch_test_accuracy"] - one["scratch_test_accuracy"]) <= image + 1e-12
    assert "2 processes (DDP)" in (tmp_path / "two" / "summary.md").read_text()


def test_visualize_on_two_processes_matches_one(tmp_path: Path) -> None:
    _two_processes("visualize", VISUALIZE + ["--out", str(tmp_path / "two")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = _one_process("visualize", VISUALIZE + ["--out", str(tmp_path / "one")])
    assert two["world_size"] == 2 and two["fgsm_images"] == one["fgsm_images"] == 60
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 1 / one["images"] + 1e-12
    # FGSM: each rank attacked its half, the counts were summed: the whole 60 images' curve
    np.testing.assert_allclose(two["fgsm_accuracy"], one["fgsm_accuracy"], atol=1 / 60 + 1e-12)
    for f in ("saliency", "fooling", "fgsm", "class_visualisation", "activations"):
        assert (tmp_path / "two" / f"{f}.png").is_file(), f
