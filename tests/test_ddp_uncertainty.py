"""The uncertainty chapter (4-c) under torchrun: two CPU processes (gloo) train its classifier with DDP and
end where the one-process run ends (same seed, same global batch and learning rate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests._ddp import one_process, torchrun_chapter  # noqa: E402  (the shared scale-out plumbing)


def test_two_process_uncertainty_run_matches_the_one_process_run(tmp_path: Path) -> None:
    two = torchrun_chapter("uncertainty", ["--quick", "--backend", "torch"], tmp_path / "two")
    assert two["world_size"] == 2
    one = one_process("uncertainty", ["--quick", "--backend", "torch", "--out", str(tmp_path / "one")])
    assert one["world_size"] == 1
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.01, (two["test_accuracy"], one["test_accuracy"])
    # the same batches, shifts and steps; only the dropout masks differ (each rank draws the masks of its share
    # from the same seed, one process draws them for the whole batch), so the per-epoch training losses follow
    # the same curve but not to rounding: measured within 10 % along the way and 2 % at the end
    np.testing.assert_allclose(two["train_loss_curve"], one["train_loss_curve"], rtol=0.15)
    np.testing.assert_allclose(two["train_loss_curve"][-1], one["train_loss_curve"][-1], rtol=0.05)
    assert two["train_loss_curve"][-1] < 0.5 * two["train_loss_curve"][0]   # it trained
