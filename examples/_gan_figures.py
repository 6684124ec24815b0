"""The gan chapter's figures (examples/gan.py): sample grids at three points of training, the losses and
D's outputs, a walk in the latent space, and the conditional model's class x noise grid. ``sample(z, labels)``
is the trained generator in eval mode, images (N, 1, 32, 32) in [-1, 1]."""
from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from examples._runner import Run

Sampler = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


def _grid(images: np.ndarray, rows: int) -> np.ndarray:
    n, _, h, w = images.shape
    cols = n // rows
    g = images[:rows * cols, 0].reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    return (g + 1) / 2


def plot_snapshots(run: Run, res: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt
    snaps = res["snapshots"]
    fig, axes = plt.subplots(1, len(snaps), figsize=(5 * len(snaps), 4.4))
    for ax, (title, imgs) in zip(np.atleast_1d(axes), snaps):
        ax.imshow(_grid(imgs, 8), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    extra = " Each column is one class (0-9) in the conditional model." if res["k"] else ""
    run.savefig(fig, "samples", caption="Samples from the same fixed noise at three points of training: blobs, "
                "then strokes, then digits." + extra)


def plot_losses(run: Run, h: dict[str, list[float]]) -> None:
    import matplotlib.pyplot as plt
    smooth = lambda v: np.convolve(v, np.ones(w) / w, mode="valid")  # noqa: E731
    w = max(1, len(h["loss_d"]) // 50)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    axes[0].plot(smooth(h["loss_d"]), label="D loss")
    axes[0].plot(smooth(h["loss_g"]), label="G loss")
    axes[0].set_ylabel("loss")
    axes[1].plot(smooth(h["d_x"]), label="D(x), real")
    axes[1].plot(smooth(h["d_g_z1"]), label="D(G(z)) before D's step")
    axes[1].plot(smooth(h["d_g_z2"]), label="D(G(z)) after D's step")
    axes[1].axhline(0.5, color="gray", ls=":")
    axes[1].set_ylabel("discriminator output")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    run.savefig(fig, "losses", caption=f"Losses and D's outputs (moving average over {w} iterations). A healthy "
                "game oscillates: D(x) stays above D(G(z)) without reaching 1 and 0; D(x) -> 1 with D(G(z)) -> 0 "
                "means D has won and G's (saturating) gradient vanishes.")


def plot_interpolation(run: Run, args: argparse.Namespace, sample: Sampler, k: int) -> None:
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(args.seed + 3)
    z0, z1 = rng.standard_normal((2, 6, args.nz)).astype(np.float32)
    t = np.linspace(0, 1, 10, dtype=np.float32)
    z = (z0[:, None] * (1 - t[None, :, None]) + z1[:, None] * t[None, :, None]).reshape(-1, args.nz)
    labels = np.repeat(np.arange(6), 10) if k else None
    imgs = sample(z, labels)
    fig, ax = plt.subplots(figsize=(9, 5.6))
    ax.imshow(_grid(imgs, 6), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    run.savefig(fig, "interpolation", caption="Each row walks in a straight line from one z to another (10 steps): "
                "a smooth morph means G learnt a continuous map, not a lookup of training digits."
                + (" Conditional: row r keeps the label r." if k else ""))


def plot_class_grid(run: Run, args: argparse.Namespace, sample: Sampler) -> None:
    import matplotlib.pyplot as plt
    z = np.random.default_rng(args.seed + 4).standard_normal((8, args.nz)).astype(np.float32)
    imgs = sample(np.tile(z, (10, 1)), np.repeat(np.arange(10), 8))   # row = class, column = noise
    fig, ax = plt.subplots(figsize=(6, 7.5))
    ax.imshow(_grid(imgs, 10), cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    run.savefig(fig, "classes", caption="Conditional DCGAN: row = requested class 0-9, column = one fixed noise "
                "vector. The noise carries the style (thickness, slant) across the classes.")
