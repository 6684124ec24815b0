"""Scale-out of the bayes_nn chapter: two CPU processes (gloo) train its moons networks as one process does.

``bayes_nn.train_net`` under ``--distributed``: each rank takes its share of every global batch, its summed
BCE is scaled by ``Distributed.loss_scale`` and the variational net's KL is added whole, divided by the
FULL data size N on every rank. DDP averages the gradients, so the 2-rank steps are the one-process ones:
checked in float64 for the MAP net (Adam with the prior as weight decay) and the variational net (one
reparameterised weight sample per step, the same on every rank) after 3 epochs of batches of 7 on 24
points (shares of 4 and 3, a last batch of 3 split 2 + 1), at the house tolerance (only the order of the
additions differs). Had the KL been divided by a rank's share instead of N, the VI weights would differ
by far more (the last test shows the check can fail). The MC-dropout net draws its masks per rank (its own
seed), so it is only checked to train on both ranks. The closed-form Laplace part runs on rank 0 alone.

The ranks are forked from this process (torch already imported) rather than started by torchrun.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from tests._ddp import join_group, two_processes  # noqa: E402  (the fork helpers)

KINDS, EPOCHS, BATCH = ("map", "vi", "dropout"), 3, 7


def _train(dist: Any) -> dict[str, np.ndarray]:
    """The three moons networks of ``train_net`` in float64 on 24 fixed points; their parameters."""
    from examples import bayes_nn
    from minidl.interop import backend
    B = backend("torch")
    data = np.random.default_rng(0)
    X, y = data.normal(size=(24, 2)), data.integers(0, 2, 24).astype(np.float64)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)               # the layers' parameters in float64
    try:
        out = {}
        for kind in KINDS:
            net = bayes_nn.train_net(B, kind, X, y, EPOCHS, BATCH, seed=0, dist=dist)
            out.update({f"{kind}.{k}": v.detach().numpy().copy() for k, v in net.state_dict().items()})
        return out
    finally:
        torch.set_default_dtype(default)


def _train_rank(rank: int, port: int) -> None:
    dist = join_group(rank, port)
    params = _train(dist)
    if dist.is_main:
        np.savez(os.environ["DDP_BAYES_OUT"], **params)
    dist.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("ddp_bayes") / "two.npz"
    os.environ["DDP_BAYES_OUT"] = str(out)
    try:
        two_processes("bayes_nn", [], target=_train_rank)
    finally:
        del os.environ["DDP_BAYES_OUT"]
    with np.load(out) as two:
        return _train(None), dict(two)


@pytest.mark.parametrize("kind", ["map", "vi"])
def test_two_ranks_take_the_one_process_steps(runs: Any, kind: str) -> None:
    one, two = runs
    keys = [k for k in one if k.startswith(kind + ".")]
    assert keys and sorted(keys) == sorted(k for k in two if k.startswith(kind + "."))
    for k in keys:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-7, atol=1e-9, err_msg=k)


def test_dropout_net_trains_on_both_ranks(runs: Any) -> None:
    one, two = runs
    for k in (k for k in one if k.startswith("dropout.")):
        assert np.isfinite(two[k]).all() and two[k].shape == one[k].shape


def test_a_kl_over_the_share_would_be_caught(runs: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The float64 check is sharp: the same 1-process training with the KL divided by N/2 (what a rank's
    share would give) ends far outside the tolerance of the 2-rank weights."""
    from examples import bayes_nn
    one, two = runs
    monkeypatch.setattr(bayes_nn, "kl_term", lambda model: 2 * sum(
        m.kl_divergence() for m in model.modules() if hasattr(m, "kl_divergence")))
    wrong = _train(None)
    worst = max(np.abs(wrong[k] - two[k]).max() for k in two if k.startswith("vi."))
    assert worst > 1e-4, worst
