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
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests._ddp import join_group, one_process, two_processes  # noqa: E402

TRANSFER = ["--quick", "--backend", "torch", "--steps", "12"]
VISUALIZE = ["--quick", "--backend", "torch", "--steps", "20", "--iterations", "2", "--fgsm-images", "60",
             "--fool-max-iter", "3"]
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
    dist = join_group(rank, port)
    params = _train(dist)
    if dist.is_main:
        np.savez(os.environ["DDP_TRANSFER_OUT"], **params)
    dist.close()


def test_train_classifier_takes_the_one_process_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chapters' training loop on 2 ranks (DDP, batches of 7 split 4 + 3) ends at the one-process
    weights after several SGD-with-momentum steps: float64, the house tolerance (only the order of the
    additions differs)."""
    monkeypatch.setenv("DDP_TRANSFER_OUT", str(tmp_path / "two.npz"))
    two_processes("train_classifier", [], target=_train_rank)
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


def test_transfer_on_two_processes_matches_one(tmp_path: Path) -> None:
    two_processes("transfer", TRANSFER + ["--out", str(tmp_path / "two")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]          # rank 1 wrote nothing
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = one_process("transfer", TRANSFER + ["--out", str(tmp_path / "one")])
    assert two["world_size"] == 2 and one["world_size"] == 1 and two["steps"] == one["steps"] == 12
    assert two["train_size"] == one["train_size"] and two["test_size"] == one["test_size"]
    image = 1 / one["test_size"]   # one test image: what float32 rounding could at most flip here
    for r2, r1 in zip(two["layers"], one["layers"]):
        assert r2["layer"] == r1["layer"] and r2["size"] == r1["size"]
        assert abs(r2["test_accuracy"] - r1["test_accuracy"]) <= image + 1e-12, (r2, r1)
    assert abs(two["scratch_test_accuracy"] - one["scratch_test_accuracy"]) <= image + 1e-12
    assert "2 processes (DDP)" in (tmp_path / "two" / "summary.md").read_text()


def test_visualize_on_two_processes_matches_one(tmp_path: Path) -> None:
    two_processes("visualize", VISUALIZE + ["--out", str(tmp_path / "two")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = one_process("visualize", VISUALIZE + ["--out", str(tmp_path / "one")])
    assert two["world_size"] == 2 and two["fgsm_images"] == one["fgsm_images"] == 60
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 1 / one["images"] + 1e-12
    # FGSM: each rank attacked its half, the counts were summed: the whole 60 images' curve
    np.testing.assert_allclose(two["fgsm_accuracy"], one["fgsm_accuracy"], atol=1 / 60 + 1e-12)
    for f in ("saliency", "fooling", "fgsm", "class_visualisation", "activations"):
        assert (tmp_path / "two" / f"{f}.png").is_file(), f
