"""Scale-out of the transfer and visualize chapters: two CPU processes (gloo) reproduce the one-process run.

Both chapters train with ``transfer.train_classifier``: under ``--distributed`` every rank draws the same
batches and takes its share, and DDP's averaged gradient is the one-process mean-loss gradient (checked
step by step in tests/test_ddp.py). So a 2-process run and a 1-process run from the same seed do the same
steps, up to float32 rounding (the sums are grouped per rank); the features and FGSM counts, computed by
shares and summed over the ranks, cover every image exactly once. The chapter runs are small (few steps,
few images): the check is the agreement, not the accuracy. The training loop itself is checked tightly:
in float64 the 2-rank weights after several steps equal the 1-process ones at the house tolerance.

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


def _two_processes(chapter: str, argv: list[str], target: Any = None) -> None:
    """Fork two ranks running ``examples.<chapter>.main(argv + ["--distributed"])`` (or ``target(rank, port)``)."""
    with socket.socket() as sock:  # a free port for the process group's rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import torch._dynamo  # noqa: F401  (DDP imports it: once here, not in each child)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rank, args=(chapter, argv, r, port)) if target is None else
             ctx.Process(target=target, args=(r, port)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0], f"{chapter}: a rank failed (exit codes {[p.exitcode for p in procs]})"


STEPS, BATCH = 4, 7   # shares of 4 and 3: an uneven split


def _train(dist: Any) -> dict[str, np.ndarray]:
    """``transfer.train_classifier`` in float64 on fixed data from fixed weights; the trained parameters."""
    from examples import transfer
    from minidl.interop import backend
    B = backend("torch")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3, 32, 32)), rng.integers(0, 4, 20)
    torch.manual_seed(0)
    net = transfer.tiny_net(torch.nn, 4).double()
    net = transfer.train_classifier(B, net, X, y, STEPS, BATCH, 0.05, 0, "train", dist)
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


def _train_rank(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import argparse

    from examples._distributed import Distributed
    from minidl.interop import backend
    dist = Distributed(backend("torch"), argparse.Namespace(distributed=True, scale_lr=False))
    params = _train(dist)
    if dist.is_main:
        np.savez(os.environ["DDP_TRANSFER_OUT"], **params)
    dist.close()


def test_train_classifier_takes_the_one_process_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chapters' training loop on 2 ranks (DDP, batches of 7 split 4 + 3) ends at the one-process
    weights after several SGD-with-momentum steps: float64, the house tolerance (only the order of the
    additions differs)."""
    monkeypatch.setenv("DDP_TRANSFER_OUT", str(tmp_path / "two.npz"))
    _two_processes("train_classifier", [], target=_train_rank)
    from examples.transfer import Alone
    one = _train(Alone())
    from examples.transfer import tiny_net
    torch.manual_seed(0)
    start = tiny_net(torch.nn, 4).double().state_dict()
    assert not np.allclose(one["fc5.weight"], start["fc5.weight"].numpy())   # the steps did move the weights
    with np.load(tmp_path / "two.npz") as two:
        assert sorted(two.files) == sorted(one)
        for k, v in one.items():
            np.testing.assert_allclose(two[k], v, rtol=1e-7, atol=1e-9, err_msg=k)


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
