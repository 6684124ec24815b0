"""Data-parallel training across processes (several GPUs, or CPU processes), for ``--backend torch``.

Launch any chapter that supports it with torchrun; nothing else changes::

    torchrun --standalone --nproc_per_node 4 -m examples cnn --backend torch --device cuda ...

Each process (rank) trains a replica of the model on its own share of every epoch's batches;
``DistributedDataParallel`` averages the gradients across ranks during ``backward()``, so the replicas
stay identical. Run metrics are summed across ranks, and only rank 0 writes figures and reports.
Without torchrun (``WORLD_SIZE`` unset or 1) every method here is a no-op.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np


class Distributed:
    def __init__(self, B: Any) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        self.B = B
        if not self.enabled:
            return
        if B.name != "torch":
            raise SystemExit("multi-process training (torchrun) needs --backend torch")
        import torch
        import torch.distributed as dist
        cuda = str(B.device).startswith("cuda")
        if cuda:
            B.device = f"cuda:{self.local_rank}"
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
        self.dist = dist

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: Any) -> Any:
        """The model as a DistributedDataParallel replica (gradients averaged across ranks)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel
        cuda = str(self.B.device).startswith("cuda")
        return DistributedDataParallel(model, device_ids=[self.local_rank] if cuda else None)

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of an epoch's sample order. Every rank gets the same number of samples
        (the remainder is dropped), so that all ranks run the same number of steps."""
        if not self.enabled:
            return order
        n = len(order) - len(order) % self.world
        return order[self.rank:n:self.world]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (for loss sums and counts)."""
        if not self.enabled:
            return values
        import torch
        t = torch.tensor(values, dtype=torch.float64, device=self.B.device)
        self.dist.all_reduce(t)
        return t.cpu().tolist()

    def close(self) -> None:
        if self.enabled:
            self.dist.barrier()
            self.dist.destroy_process_group()
