"""The dann chapter on two CPU processes (gloo) reproduces the one-process run.

- One DANN step through the chapter's own ``dann_step`` (both heads, both losses, the GRL) under
  DistributedDataParallel: the gradient equals the one-process gradient on the concatenated source and
  target batches, with uneven shares (3 + 2 images of each domain), in float64.

The whole chapter under torchrun against one process (``--quick``, same seed) is not run here: three
processes importing torch and scikit-learn cost ~26 s of CPU, above this file's share. Run by hand::

    torchrun --standalone --nproc_per_node 2 -m examples dann --quick --backend torch --distributed --out two
    python -m examples dann --quick --backend torch --out one      # curves and accuracies agree
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests._ddp import fork_two_ranks, join_group  # noqa: E402  (the fork helpers)
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
    from minidl.models.dann import dann_step
    dist = join_group(rank, port)
    B = dist.B
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
    from minidl.interop import backend
    from minidl.models.dann import dann_step
    out = tmp_path / "grad.npz"
    fork_two_ranks(_worker, str(out), what="one DANN step")
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
