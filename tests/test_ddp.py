"""Scale-out that reproduces the one-process run: two CPU processes under torchrun (gloo).

- One DDP step's gradient equals the one-process gradient of the mean loss over the concatenated
  global batch (an uneven 4 + 3 split included), in float64.
- The cnn chapter's quick run on 2 processes ends within 1 point of test accuracy of the 1-process run
  from the same seed (same global batch and lr by default).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests._ddp import fork_two_ranks, join_group, one_process, torchrun_chapter  # noqa: E402  (the helpers)


def _ddp_gradient_worker(rank: int, port: int, out: str) -> None:
    """One rank of a 2-process group (forked: torch is already imported): one DDP backward of the
    chapter's loss on this rank's share of a global batch of 7 samples (shares of 4 and 3)."""
    from minidl.models import lenet
    dist = join_group(rank, port)
    X, y = _batch()
    torch.manual_seed(0)
    model = dist.wrap(lenet(torch.nn, in_channels=1, num_classes=10, image_size=8).double())
    idx = np.arange(len(y))
    mine = dist.local(idx)
    loss = torch.nn.CrossEntropyLoss(reduction="sum")(model(torch.from_numpy(X[mine])), torch.from_numpy(y[mine]))
    (loss * dist.loss_scale(len(idx))).backward()
    if dist.is_main:
        np.savez(out, world=dist.world, shares=len(mine),
                 **{n: p.grad.numpy() for n, p in dist.unwrap(model).named_parameters()})
    dist.close()


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 1, 8, 8)), rng.integers(0, 10, 7)


def test_ddp_gradient_equals_the_one_process_gradient(tmp_path: Path) -> None:
    out = tmp_path / "grad.npz"
    fork_two_ranks(_ddp_gradient_worker, str(out), what="one DDP backward")
    from minidl.models import lenet
    X, y = _batch()
    torch.manual_seed(0)
    model = lenet(torch.nn, in_channels=1, num_classes=10, image_size=8).double()
    torch.nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    with np.load(out) as got:
        assert int(got["world"]) == 2 and int(got["shares"]) == 4
        for name, p in model.named_parameters():
            # float64: only the order of the additions differs (per rank, then across ranks)
            np.testing.assert_allclose(got[name], p.grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=name)


def test_two_process_cnn_run_matches_the_one_process_run(tmp_path: Path) -> None:
    two = torchrun_chapter("cnn", ["--quick", "--backend", "torch"], tmp_path / "two")
    assert two["world_size"] == 2 and two["global_batch_size"] == 32 and two["lr"] == 0.05
    assert two["test_size"] == np.asarray(two["confusion_matrix"]).sum()  # the whole test set, reduced over ranks
    one = one_process("cnn", ["--quick", "--backend", "torch", "--out", str(tmp_path / "one")])
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.01, (two["test_accuracy"], one["test_accuracy"])
    # the same steps: the loss curves agree up to float32 rounding (the additions are grouped per rank),
    # measured ~1e-5 relative after 6 epochs; 1e-3 leaves room for other BLAS builds
    np.testing.assert_allclose(two["curves"]["run"]["train_loss"], one["curves"]["run"]["train_loss"], rtol=1e-3)


def test_sharding_arithmetic_without_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bookkeeping of a 3-process run, checked on one process by setting its rank by hand: shares
    partition each global batch, the loss factor makes DDP's average a global mean, --scale-lr scales."""
    import argparse

    from examples._distributed import Distributed
    from minidl.interop import backend
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    shares = []
    for rank in range(3):
        d = Distributed(backend("torch"), argparse.Namespace(distributed=True, scale_lr=False))
        d.enabled, d.world, d.rank = True, 3, rank
        assert d.global_batch_and_lr(32, 0.05) == (32, 0.05)
        order = d.epoch_order(np.arange(65), 32)              # a last batch of 1 < 3 ranks is dropped
        assert len(order) == 64
        shares.append(d.local(order[32:64]))
        assert d.loss_scale(32) * 3 == pytest.approx(3 * 3 / 32)
    assert sorted(np.concatenate(shares).tolist()) == list(range(32, 64))  # a partition of the batch
    assert [len(s) for s in shares] == [11, 11, 10]
    # summed losses scaled by world/B, averaged over ranks by DDP: the mean over the batch
    losses = np.random.default_rng(0).random(32)
    ddp = np.mean([losses[s - 32].sum() * d.loss_scale(32) for s in shares])
    assert ddp == pytest.approx(losses.mean(), rel=1e-12)
    d.scale_lr = True
    assert d.global_batch_and_lr(32, 0.05) == (96, pytest.approx(0.15))
