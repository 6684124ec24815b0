"""The uncertainty chapter (4-c) under torchrun: two CPU processes (gloo) train its classifier with DDP and
end where the one-process run ends (same seed, same global batch and learning rate)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


def test_two_process_uncertainty_run_matches_the_one_process_run(tmp_path: Path) -> None:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if exe is None:
        pytest.skip("torchrun (PyTorch's launcher) is not on PATH")
    env = dict(os.environ, OMP_NUM_THREADS="1", MINIDL_DATA="", PYTHONPATH=str(ROOT))
    cmd = [exe, "--standalone", "--nproc_per_node", "2", "-m", "examples", "uncertainty", "--quick", "--backend",
           "torch", "--distributed", "--out", str(tmp_path / "two")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]          # rank 1 wrote nothing

    from examples import uncertainty
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = uncertainty.main(["--quick", "--backend", "torch", "--out", str(tmp_path / "one")])
    finally:
        torch.set_num_threads(threads)
    assert one["world_size"] == 1
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.01, (two["test_accuracy"], one["test_accuracy"])
    # the same batches, shifts and steps; only the dropout masks differ (each rank draws the masks of its share
    # from the same seed, one process draws them for the whole batch), so the per-epoch training losses follow
    # the same curve but not to rounding: measured within 10 % along the way and 2 % at the end
    np.testing.assert_allclose(two["train_loss_curve"], one["train_loss_curve"], rtol=0.15)
    np.testing.assert_allclose(two["train_loss_curve"][-1], one["train_loss_curve"][-1], rtol=0.05)
    assert two["train_loss_curve"][-1] < 0.5 * two["train_loss_curve"][0]   # it trained
