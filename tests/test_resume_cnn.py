"""Resuming the course's CIFAR CNN (with batch-norm and dropout) from a checkpoint continues
bit-identically, in float64, to an uninterrupted run: model, optimiser, scheduler and RNG state."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import minidl
from minidl.models import cifar_net


def make(seed: int) -> tuple:
    minidl.manual_seed(seed)
    model = cifar_net(minidl.nn, batchnorm=True, dropout=0.5, ceil_mode=True).double()
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = minidl.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    return model, opt, sched


def step(model: object, opt: object, sched: object, k: int) -> None:
    rng = np.random.default_rng(k)                       # the data of step k, the same in both runs
    x = minidl.tensor(rng.normal(size=(4, 3, 28, 28)))
    y = minidl.tensor(rng.integers(0, 10, 4))
    loss = minidl.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    n = 6
    model, opt, sched = make(0)
    for k in range(n):
        step(model, opt, sched, k)
    reference = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model, opt, sched = make(0)
    for k in range(n // 2):
        step(model, opt, sched, k)
    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "rng": minidl.get_rng_state(), "step": n // 2}, tmp_path / "ckpt.npz")

    model, opt, sched = make(123)                        # fresh objects, other weights, other RNG stream
    ckpt = minidl.load(tmp_path / "ckpt.npz")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    minidl.set_rng_state(ckpt["rng"])
    for k in range(ckpt["step"], n):
        step(model, opt, sched, k)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference[key], err_msg=key)
