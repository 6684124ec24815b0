"""Data-parallel training across processes (several GPUs, or CPU processes) that reproduces the
one-process run, for ``--backend torch``. Launch a chapter that supports it with torchrun::

    torchrun --standalone --nproc_per_node 4 -m examples cnn --backend torch --device cuda --distributed ...

What stays the same as in one process (the default):

- **the global batch and the learning rate.** Every rank walks through the same shuffled order of
  the epoch (same seed), cuts the same global batches of ``--batch-size`` samples, and keeps every
  ``world``-th sample of each (``local``): the ranks' shares together are exactly the one-process
  batch, the way ``DistributedSampler`` deals out indices.
- **the gradient.** Each rank's loss is its share's *sum* times ``world / len(global batch)``; DDP
  averages the gradients over the ranks, which gives the gradient of the mean loss over the whole
  global batch, even when the last batch does not split evenly (see :meth:`Distributed.loss_scale`).
- **the metrics.** Counts and sums (seen, loss, correct, a confusion matrix) are all-reduced, and
  the test set is split between the ranks and reduced the same way: the test accuracy is the whole
  test set's. Only rank 0 writes figures, metrics and checkpoints.

``--scale-lr`` applies the linear scaling rule instead (Goyal et al., 2017): each rank takes
``--batch-size`` samples, so the global batch is ``world`` times larger, and so is the learning rate.

Batch normalisation uses ``SyncBatchNorm`` on GPUs (statistics over the global batch). On CPU
processes (gloo) torch has no SyncBatchNorm, so each rank normalises with its own share's statistics:
the one difference from the one-process run, said in the run's notes.

Without torchrun (``WORLD_SIZE`` unset or 1) every method is the identity and every reduction a no-op.

A chapter adopts it in a few lines (``examples/cnn.py`` is the worked example)::

    dist = Distributed(B, args)                        # before Run: joins the process group
    global_batch, lr = dist.global_batch_and_lr(args.batch_size, args.lr)
    run = Run(name, args, write=dist.is_main)
    model = dist.wrap(model)
    for start in range(0, len(order), global_batch):
        idx = order[start:start + global_batch]; mine = dist.local(idx)
        loss = sum_loss(model(x[mine]), y[mine]) * dist.loss_scale(len(idx))
    correct, seen = dist.sum([correct, seen])          # metrics over all ranks
    dist.close()

Every deep chapter has adopted it (cnn, transfer, visualize, dann, gan, bayes_nn, uncertainty); a chapter
that has not (the classical ones) refuses ``--distributed`` and torchrun with a clear message
(``examples._runner.Run``), rather than running N unrelated copies.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from examples._runner import UserError


class Distributed:
    def __init__(self, B: Any, args: argparse.Namespace) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.B = B
        self.scale_lr = bool(getattr(args, "scale_lr", False))
        args.supports_distributed = True  # Run refuses torchrun / --distributed in chapters without this
        if self.world > 1 and not getattr(args, "distributed", False):
            raise UserError(f"started by torchrun with {self.world} processes: add --distributed (and --backend "
                            "torch) so that they train one model together")
        self.enabled = self.world > 1
        if not self.enabled:
            return
        if B.name != "torch":
            raise UserError("--distributed (several processes) needs --backend torch")
        import torch.distributed as dist
        if B.is_cuda:
            B.set_device(f"cuda:{self.local_rank}")  # one GPU per process; the backend places everything
        dist.init_process_group("nccl" if B.is_cuda else "gloo")
        self.dist = dist

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def global_batch_and_lr(self, batch_size: int, lr: float) -> tuple[int, float]:
        """The global batch size and learning rate: the one-process ones by default; ``world`` times
        both with ``--scale-lr`` (each rank then takes ``batch_size`` samples)."""
        if self.enabled and self.scale_lr:
            return batch_size * self.world, lr * self.world
        return batch_size, lr

    def wrap(self, model: Any) -> Any:
        """The model as a DistributedDataParallel replica (gradients averaged across ranks during backward)."""
        if not self.enabled:
            return model
        import torch
        from torch.nn.parallel import DistributedDataParallel
        if self.B.is_cuda:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            return DistributedDataParallel(model, device_ids=[self.local_rank])
        return DistributedDataParallel(model)

    @staticmethod
    def unwrap(model: Any) -> Any:
        """The plain module inside a DDP wrapper (to evaluate, save, or read weights)."""
        return getattr(model, "module", model)

    def epoch_order(self, order: np.ndarray, batch_size: int) -> np.ndarray:
        """The epoch's sample order (the same on every rank). With several ranks, a last global batch
        smaller than the number of ranks is dropped, so that no rank gets an empty share."""
        tail = len(order) % batch_size
        if self.enabled and 0 < tail < self.world:
            return order[:len(order) - tail]
        return order

    def local(self, idx: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch (or of the test set): every ``world``-th index."""
        return idx[self.rank::self.world] if self.enabled else idx

    def loss_scale(self, global_batch: int) -> float:
        """Factor for this rank's *summed* loss: ``world / global_batch``. DDP averages gradients over
        the ``world`` ranks, so the result is ``sum over ranks of their sums / global_batch``: the
        gradient of the mean loss over the global batch, whatever the shares' sizes."""
        return self.world / global_batch if self.enabled else 1.0 / global_batch

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (for loss sums and counts)."""
        if not self.enabled:
            return values
        return self.sum_array(np.asarray(values, np.float64)).tolist()

    def sum_array(self, a: np.ndarray) -> np.ndarray:
        """``a`` summed over all ranks (e.g. confusion-matrix counts), as float64."""
        if not self.enabled:
            return a
        import torch
        t = torch.as_tensor(np.asarray(a, np.float64), device=self.B.device)
        self.dist.all_reduce(t)
        return t.cpu().numpy()

    def close(self) -> None:
        if self.enabled:
            self.dist.barrier()
            self.dist.destroy_process_group()
