"""The torch backend's multi-process path: two CPU processes under torchrun (gloo), DDP on the CNN chapter."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_cnn_chapter_under_torchrun_with_two_processes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", MINIDL_DATA="")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "examples", "cnn", "--quick", "--backend",
           "torch", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    losses = metrics["curves"]["run"]["train_loss"]  # summed over both ranks' shards
    assert losses[-1] < losses[0] - 0.1, losses     # it learns (each rank sees half of every epoch)
