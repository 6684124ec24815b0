"""Scale-out of the gan chapter: two CPU processes (gloo) take the one-process steps.

``gan.train_epoch`` under ``--distributed``: every rank draws the one-process permutation, noise and fake
labels for the whole global batch and keeps its share; both networks are DDP replicas and the summed
losses are scaled so that the averaged gradients are the one-process mean-loss gradients. The chapter's
networks have batch norm, which on CPU ranks normalises each share with its own statistics (the one
documented difference), so the exact check uses BN-free networks of the same interface (tiny linear G
and D, float64): after two epochs of D and G steps with Adam on batches of 7 split 4 + 3, the 2-rank
weights and the logged global-batch means equal the 1-process ones at the house tolerance (only the order
of the additions differs). The chapter's own torchrun run is checked for its plumbing: rank 0 alone
writes, and the judge, trained by rank 0 from the same seed, scores the real images as in one process
(about 15 s on an idle 2-core machine).

The ranks are forked from this process (torch already imported) rather than started by torchrun.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from tests._ddp import join_group, one_process, two_processes  # noqa: E402  (the fork helpers)

NZ, K, BATCH, EPOCHS = 3, 10, 7, 2


def _nets() -> tuple[Any, Any, Any, Any]:
    """BN-free G: (N, nz + k, 1, 1) -> (N, 1, 4, 4) in [-1, 1]; D: (N, 1 + k, 4, 4) -> P(real), float64."""
    nn = torch.nn
    torch.manual_seed(0)
    G = nn.Sequential(nn.Flatten(), nn.Linear(NZ + K, 12), nn.Tanh(), nn.Linear(12, 16), nn.Tanh(),
                      nn.Unflatten(1, (1, 4, 4))).double()
    D = nn.Sequential(nn.Flatten(), nn.Linear((1 + K) * 16, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1),
                      nn.Sigmoid()).double()
    return G, D


def _train(dist: Any) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    from examples import gan
    from minidl.interop import backend
    B = backend("torch")
    data = np.random.default_rng(1)
    X, y = np.tanh(data.normal(size=(21, 1, 4, 4))), data.integers(0, K, 21)
    G, D = _nets()
    G, D = dist.wrap(G), dist.wrap(D)
    nets = (G, D, torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.5, 0.999)),
            torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.5, 0.999)))
    args = argparse.Namespace(nz=NZ, loss="nonsaturating")
    rng = np.random.default_rng(0)
    hist: dict[str, list[float]] = {k: [] for k in ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2")}
    for _ in range(EPOCHS):
        gan.train_epoch(B, dist, nets, X, y, args, rng, K, BATCH, hist)
    params = {f"G.{k}": v.detach().numpy() for k, v in dist.unwrap(G).state_dict().items()}
    params.update({f"D.{k}": v.detach().numpy() for k, v in dist.unwrap(D).state_dict().items()})
    return params, hist


def _dist(world: bool) -> Any:
    from examples._distributed import Distributed
    from minidl.interop import backend
    return Distributed(backend("torch"), argparse.Namespace(distributed=world, scale_lr=False))


def _train_rank(rank: int, port: int) -> None:
    dist = join_group(rank, port)
    params, hist = _train(dist)
    if dist.is_main:
        np.savez(os.environ["DDP_GAN_OUT"], **params, **{f"hist.{k}": np.array(v) for k, v in hist.items()})
    dist.close()


def test_d_and_g_steps_on_two_ranks_equalone_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDP_GAN_OUT", str(tmp_path / "two.npz"))
    two_processes("gan", [], target=_train_rank)
    one, hist = _train(_dist(False))
    start_G, start_D = _nets()
    assert not np.allclose(one["G.1.weight"], start_G.state_dict()["1.weight"].numpy())   # G did move
    assert not np.allclose(one["D.1.weight"], start_D.state_dict()["1.weight"].numpy())   # D did move
    assert len(hist["loss_d"]) == EPOCHS * (21 // BATCH)
    with np.load(tmp_path / "two.npz") as two:
        for k, v in one.items():
            np.testing.assert_allclose(two[k], v, rtol=1e-7, atol=1e-9, err_msg=k)
        for k, v in hist.items():   # the logs are the global batch's means, not rank 0's share's
            np.testing.assert_allclose(two[f"hist.{k}"], v, rtol=1e-7, atol=1e-9, err_msg=k)


QUICK = ["--quick", "--backend", "torch", "--conditional", "--epochs", "1", "--classifier-epochs", "1",
         "--samples", "100"]


def test_gan_chapter_ontwo_processes(tmp_path: Path) -> None:
    """The chapter under 2 ranks: rank 0 alone writes; same iterations; the LeNet judge (rank 0, same seed,
    1 thread) and the real-vs-real distance are the one-process ones exactly; the generated figures differ
    only through batch norm's per-share statistics, so they are only checked to exist and be finite."""
    two_processes("gan", QUICK + ["--out", str(tmp_path / "two")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two"]            # rank 1 wrote nothing
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = one_process("gan", QUICK + ["--out", str(tmp_path / "one")])
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["iterations"] == one["iterations"] and two["global_batch_size"] == one["global_batch_size"] == 32
    assert two["classifier_test_accuracy"] == one["classifier_test_accuracy"]
    assert two["frechet_lenet_real_halves"] == pytest.approx(one["frechet_lenet_real_halves"], rel=1e-9)
    assert np.isfinite([two["frechet_lenet"], two["conditional_accuracy"]]).all()
    assert "2 processes (DDP, G and D)" in (tmp_path / "two" / "summary.md").read_text()
    for f in ("samples", "losses", "interpolation", "classes"):
        assert (tmp_path / "two" / f"{f}.png").is_file(), f
