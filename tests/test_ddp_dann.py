"""The dann chapter on two CPU processes (gloo) reproduces the one-process run.

- One DANN step through the chapter's own ``dann_step`` (both heads, both losses, the GRL) under
  DistributedDataParallel: the gradient equals the one-process gradient on the concatenated source and
  target batches, with uneven shares (3 + 2 images of each domain), in float64.
- The chapter under torchrun (``--quick --distributed``, a few steps): rank 0 alone writes, and the curves
  of both runs equal those of the one-process run from the same seed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
N_SOURCE = N_TARGET = 5          # shares of 3 and 2 per domain on 2 ranks


def _batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(N_SOURCE, 3, 12, 12))
    xt = rng.normal(loc=0.5, size=(N_TARGET, 3, 12, 12))
    return xs, rng.integers(0, 10, N_SOURCE), xt


def _model() -> object:
    from minidl.models.dann import DANN
    torch.manual_seed(0)
    return DANN(torch.nn, image_size=12).double()


def _worker(rank: int, port: int, out: str) -> None:
    """One rank of a 2-process group (forked: torch is already imported): one DANN step on its shares."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import argparse

    from examples._distributed import Distributed
    from examples.dann import dann_step
    from minidl.interop import backend
    B = backend("torch", "cpu")
    dist = Distributed(B, argparse.Namespace(distributed=True, scale_lr=False))
    xs, ys, xt = _batch()
    model = _model()
    net = dist.wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)   # lr 0: the step leaves the gradients to compare
    i_s, i_t = dist.local(np.arange(N_SOURCE)), dist.local(np.arange(N_TARGET))
    scale = (dist.loss_scale(N_SOURCE), dist.loss_scale(N_SOURCE + N_TARGET))
    dann_step(B, net, opt, torch.from_numpy(xs[i_s]), torch.from_numpy(ys[i_s]), torch.from_numpy(xt[i_t]), 0.6,
              scale)
    if dist.is_main:
        np.savez(out, world=dist.world, shares=len(i_s),
                 **{n: p.grad.numpy() for n, p in model.named_parameters()})
    dist.close()


def test_ddp_dann_gradient_equals_the_one_process_gradient(tmp_path: Path) -> None:
    import multiprocessing
    import socket
    with socket.socket() as sock:  # a free port for the process group's rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "grad.npz"
    import torch._dynamo  # noqa: F401  (DDP imports it: once here, not once per forked child)

    from examples.dann import dann_step
    from minidl.interop import backend
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(r, port, str(out))) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    # the reference: one process, the whole batch, the mean losses (dann_step's default scale)
    xs, ys, xt = _batch()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    dann_step(backend("torch"), model, opt, torch.from_numpy(xs), torch.from_numpy(ys), torch.from_numpy(xt), 0.6)
    with np.load(out) as got:
        assert int(got["world"]) == 2 and int(got["shares"]) == 3
        for name, p in model.named_parameters():
            assert np.abs(p.grad.numpy()).max() > 0, name        # every part of the net gets a gradient
            # float64: only the order of the additions differs (per rank, then across ranks)
            np.testing.assert_allclose(got[name], p.grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=name)


def test_two_process_dann_run_matches_the_one_process_run(tmp_path: Path) -> None:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if exe is None:
        pytest.skip("torchrun (PyTorch's launcher) is not on PATH")
    opts = ["--quick", "--backend", "torch", "--steps", "12", "--tsne-points", "20"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MINIDL_DATA="", PYTHONPATH=str(ROOT))
    cmd = [exe, "--standalone", "--nproc_per_node", "2", "-m", "examples", "dann", *opts, "--distributed",
           "--out", str(tmp_path / "two")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["world_size"] == 2 and two["batch_size"] == 32 and two["lr"] == 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "two"]   # rank 1 wrote no run directory

    from examples import dann
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)                                   # the same synthesis cache (runs/.cache)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            one = dann.main([*opts, "--out", str(tmp_path / "one")])
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
    for run in ("naive", "DANN"):
        for key in ("label_loss", "domain_loss"):
            # the same steps: equal up to float32 rounding (the sums are grouped per rank)
            np.testing.assert_allclose(two["curves"][run][key], one["curves"][run][key], rtol=1e-4, atol=1e-6,
                                       err_msg=f"{run} {key}")
    # a domain logit within rounding of 0 may flip one of a step's 32 predictions (1/32)
    np.testing.assert_allclose(two["curves"]["DANN"]["domain_accuracy"], one["curves"]["DANN"]["domain_accuracy"],
                               rtol=0, atol=1 / 32 + 1e-9)
    for key in ("naive_target_accuracy", "dann_target_accuracy", "source_test_accuracy"):
        assert abs(two[key] - one[key]) <= 0.01, (key, two[key], one[key])
