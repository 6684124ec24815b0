"""Figures for dense SIFT: one patch (gradients, weights, descriptor) and the image's patch grid.

Each function returns a matplotlib Figure and, given ``path``, also saves it as a PNG (and closes
it). Chapters usually pass the figure to ``Run.savefig`` instead.

    >>> fig = plot_patch_descriptor(image, (i, j), path="patch.png")
    >>> fig = plot_patch_grid(image, path="grid.png")
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from classical.sift import (
    check_image,
    dense_sift,
    gaussian_mask,
    gradient_magnitude_orientation,
    padding_for_grid,
    sobel_gradients,
)
from classical.sift_reference import pad_image

__all__ = ["bin_directions", "plot_patch_descriptor", "plot_patch_grid"]


def bin_directions() -> np.ndarray:
    """(8, 2) unit gradient directions (dx, dy) of the 8 bins, in image coordinates (y down).

    Bin k is ``v = (Iy, -Ix)`` at angle 45k degrees, i.e. the gradient (Ix, Iy) = (-sin 45k, cos 45k).
    """
    k = np.arange(8) * np.pi / 4
    return np.stack([-np.sin(k), np.cos(k)], axis=1)


def _save(fig: plt.Figure, path: str | os.PathLike | None) -> plt.Figure:
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig


def plot_patch_descriptor(image: np.ndarray, patch: tuple[int, int], *, step: int = 8, patch_size: int = 16,
                          path: str | os.PathLike | None = None) -> plt.Figure:
    """One patch of the dense grid: pixels with gradient arrows, masked magnitudes, the 128-d descriptor.

    image: (H, W) grey levels in [0, 255]; patch: its grid index (i, j) (row, column of the grid).
    Four panels: (1) the patch with its Sobel gradient field (quiver, arrows point uphill);
    (2) magnitudes x Gaussian mask, coloured by orientation bin, with the 4 x 4 cell grid;
    (3) the descriptor as a "rose" per cell (8 arrows, length = bin value); (4) the 128 values as
    bars, one colour per cell.
    """
    img = check_image(image, "plot_patch_descriptor")
    i, j = patch
    padded = pad_image(img, step, patch_size)
    desc, pos = dense_sift(img, step=step, patch_size=patch_size)
    if not (0 <= i < desc.shape[0] and 0 <= j < desc.shape[1]):
        raise IndexError(f"patch {patch} is outside the {desc.shape[:2]} grid of an image of shape {img.shape}")
    ix, iy = sobel_gradients(padded)
    mag, ori = gradient_magnitude_orientation(ix, iy)
    win = (slice(i * step, i * step + patch_size), slice(j * step, j * step + patch_size))
    pix, gx, gy = padded[win], ix[win], iy[win]
    weighted = mag[win] * gaussian_mask(patch_size)
    d = desc[i, j]
    cell = patch_size // 4

    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    ax = axes[0]
    ax.imshow(pix, cmap="gray", vmin=0, vmax=255)
    yy, xx = np.mgrid[0:patch_size, 0:patch_size]
    ax.quiver(xx, yy, gx, gy, color="tab:red", angles="xy", scale_units="xy",
              scale=max(np.abs(np.stack([gx, gy])).max(), 1e-12) / 0.9)
    ax.set_title(f"patch {patch} at (y, x) = {tuple(int(v) for v in pos[i, j])}\nSobel gradients (Ix, Iy)")

    ax = axes[1]
    ax.imshow(np.where(ori[win] >= 0, ori[win], np.nan), cmap="hsv", vmin=0, vmax=8,
              alpha=np.clip(weighted / max(weighted.max(), 1e-12), 0.08, 1.0))
    for t in range(1, 4):
        ax.axhline(t * cell - 0.5, color="k", lw=0.8)
        ax.axvline(t * cell - 0.5, color="k", lw=0.8)
    ax.set_title("orientation bin (colour) x\nmasked magnitude (opacity)")

    ax = axes[2]
    dirs = bin_directions()
    ax.set_xlim(-0.5, 3.5)
    ax.set_ylim(3.5, -0.5)
    ax.set_aspect("equal")
    for t in range(5):
        ax.axhline(t - 0.5, color="0.7", lw=0.6)
        ax.axvline(t - 0.5, color="0.7", lw=0.6)
    vmax = max(d.max(), 1e-12)
    for cr in range(4):
        for cc in range(4):
            h = d[(cr * 4 + cc) * 8:(cr * 4 + cc + 1) * 8] / vmax * 0.48
            ax.quiver(np.full(8, cc), np.full(8, cr), dirs[:, 0] * h, dirs[:, 1] * h, angles="xy",
                      scale_units="xy", scale=1, color="tab:blue", width=0.012)
    ax.set_title("descriptor per cell (8 gradient\ndirections; null patch: empty)" if not d.any()
                 else "descriptor per cell\n(arrow = gradient direction of a bin)")
    ax.set_xticks([])
    ax.set_yticks([])

    ax = axes[3]
    colours = plt.cm.tab20(np.repeat(np.arange(16), 8) % 20)
    ax.bar(np.arange(128), d, color=colours, width=1.0)
    ax.set_xlim(-0.5, 127.5)
    ax.set_xticks(np.arange(0, 129, 32))
    ax.set_xlabel("index = (cell_row * 4 + cell_col) * 8 + bin")
    ax.set_title(f"128-d descriptor (norm {np.linalg.norm(d):.3f}, max {d.max():.3f})")
    fig.tight_layout()
    return _save(fig, path)


def plot_patch_grid(image: np.ndarray, *, step: int = 8, patch_size: int = 16, highlight: int = 6,
                    path: str | os.PathLike | None = None) -> plt.Figure:
    """The zero-padded image with its dense grid: patch corners, a few whole patches, null patches in red.

    image: (H, W) grey levels in [0, 255]. Every patch's top-left corner is a dot; ``highlight``
    patches along the diagonal are drawn whole (they overlap by patch_size - step pixels); patches
    whose descriptor is null (flat) have their central step x step square shaded red; the original
    image's border is the dashed line.
    """
    img = check_image(image, "plot_patch_grid")
    padded = pad_image(img, step, patch_size)
    top, _, left, _ = padding_for_grid(img.shape, step, patch_size)
    desc, _ = dense_sift(img, step=step, patch_size=patch_size)
    n_y, n_x = desc.shape[:2]
    null = ~desc.any(axis=2)

    fig, ax = plt.subplots(figsize=(7, 7 * padded.shape[0] / padded.shape[1] + 0.6))
    ax.imshow(padded, cmap="gray", vmin=0, vmax=255)
    ys, xs = np.mgrid[0:n_y, 0:n_x] * step
    ax.plot(xs.ravel() - 0.5, ys.ravel() - 0.5, ".", ms=2, color="tab:cyan")
    c = (patch_size - step) / 2  # the central step x step square of each patch: they tile the image
    for (i, j) in zip(*np.nonzero(null)):
        ax.add_patch(Rectangle((j * step + c - 0.5, i * step + c - 0.5), step, step, color="red", alpha=0.35, lw=0))
    for t in np.linspace(0, min(n_y, n_x) - 1, highlight).round().astype(int):
        ax.add_patch(Rectangle((t * step - 0.5, t * step - 0.5), patch_size, patch_size, fill=False,
                               ec="yellow", lw=1.2))
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), img.shape[1], img.shape[0], fill=False, ec="tab:orange",
                           ls="--", lw=1))
    ax.set_title(f"{n_y} x {n_x} = {n_y * n_x} patches of {patch_size} px every {step} px; "
                 f"{int(null.sum())} null ({null.mean():.1%}; red: the central {step}x{step} of each)\n"
                 f"image {img.shape} zero-padded to {padded.shape} (dashed: the image)", fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    return _save(fig, path)
