"""Figures for the visual dictionary and the bag of words.

Each function returns a matplotlib Figure and, given ``path``, also saves it as a PNG (and closes
it). Chapters usually pass the figure to ``Run.savefig`` instead.

- ``plot_words_on_image``: the image with each patch's central square coloured by its word;
- ``plot_bow_histogram``: an image's bag-of-words histogram;
- ``plot_top_words``: the words most present in an image, each with example patches from it;
- ``plot_word_examples``: for several words of the dictionary, the patches of a data set that are
  closest to each word (what a word "looks like").

Patches are located by the (n_y, n_x, 2) top-left (y, x) positions of ``classical.sift.dense_sift``
(in the original image's coordinates; they can be negative at the borders, where the patch starts in
the zero padding).
"""
from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from classical.kmeans import nearest_centers

__all__ = ["patch_crop", "word_colors", "plot_words_on_image", "plot_bow_histogram", "plot_top_words",
           "plot_word_examples"]


def _save(fig: plt.Figure, path: str | os.PathLike | None) -> plt.Figure:
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig


def patch_crop(image: np.ndarray, top_left: Sequence[int], size: int = 16) -> np.ndarray:
    """The (size, size) patch of ``image: (H, W)`` at ``top_left = (y, x)``, zero outside the image."""
    H, W = image.shape
    y, x = int(top_left[0]), int(top_left[1])
    out = np.zeros((size, size), dtype=np.float64)
    y0, y1, x0, x1 = max(y, 0), min(y + size, H), max(x, 0), min(x + size, W)
    if y0 < y1 and x0 < x1:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1]
    return out


def word_colors(n_words: int, seed: int = 0) -> np.ndarray:
    """(n_words, 4) RGBA colours, shuffled hues so that neighbouring word indices differ."""
    base = plt.get_cmap("hsv")(np.linspace(0, 1, n_words, endpoint=False))
    return base[np.random.default_rng(seed).permutation(n_words)]


def plot_words_on_image(image: np.ndarray, words: np.ndarray, positions: np.ndarray, *, n_words: int,
                        null_word: int | None = None, step: int = 8, patch_size: int = 16,
                        path: str | os.PathLike | None = None) -> plt.Figure:
    """The image, and beside it the same image with each patch's central step x step square in its word's colour.

    image: (H, W); words: (n_y, n_x) word index of every patch; positions: (n_y, n_x, 2) top-left
    (y, x); n_words: dictionary size (fixes the colours). The null word (flat patches) is left
    uncoloured. The central squares of the 16 px patches taken every 8 px tile the image.
    """
    colors = word_colors(n_words)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5 * image.shape[0] / image.shape[1] + 0.8))
    for ax in axes:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_axis_off()
    c = (patch_size - step) / 2
    for (i, j), w in np.ndenumerate(words):
        if null_word is not None and w == null_word:
            continue
        y, x = positions[i, j]
        axes[1].add_patch(Rectangle((x + c - 0.5, y + c - 0.5), step, step, color=colors[w], alpha=0.55, lw=0))
    n_used = len(np.unique(words))
    n_null = int((words == null_word).sum()) if null_word is not None else 0
    axes[0].set_title("image")
    axes[1].set_title(f"patches coloured by visual word ({n_used} distinct words; "
                      f"{n_null} null-word patches uncoloured)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_bow_histogram(hist: np.ndarray, *, null_word: int | None = None, n_labels: int = 8,
                       title: str = "bag-of-words histogram", path: str | os.PathLike | None = None) -> plt.Figure:
    """Bars of one image's histogram ``hist: (n_words,)``; the null word in grey, the top words labelled."""
    hist = np.asarray(hist, dtype=np.float64)
    colors = word_colors(len(hist))
    if null_word is not None:
        colors[null_word] = (0.5, 0.5, 0.5, 1.0)
    fig, ax = plt.subplots(figsize=(11, 3.2))
    ax.bar(np.arange(len(hist)), hist, width=1.0, color=colors)
    for w in np.argsort(hist)[::-1][:n_labels]:
        if hist[w] > 0:
            ax.annotate("null" if w == null_word else str(w), (w, hist[w]), ha="center", va="bottom", fontsize=7)
    nz = int((hist > 0).sum())
    ax.set_xlabel("visual word")
    ax.set_ylabel("weight")
    ax.set_title(f"{title}: {nz} of {len(hist)} words present", fontsize=10)
    ax.set_xlim(-1, len(hist))
    fig.tight_layout()
    return _save(fig, path)


def plot_top_words(image: np.ndarray, words: np.ndarray, positions: np.ndarray, *, n_top: int = 6,
                   n_examples: int = 6, null_word: int | None = None, patch_size: int = 16,
                   path: str | os.PathLike | None = None) -> plt.Figure:
    """The ``n_top`` words most present in an image (null word excluded), ``n_examples`` of its patches each.

    image: (H, W); words: (n_y, n_x); positions: (n_y, n_x, 2). Rows are words, most frequent
    first, titled with the word index and its count; the examples are spread evenly over that word's
    patches in the image.
    """
    flat = words.ravel()
    counts = np.bincount(flat, minlength=int(flat.max()) + 1)
    if null_word is not None and null_word < len(counts):
        counts[null_word] = 0
    top = [w for w in np.argsort(counts, kind="stable")[::-1][:n_top] if counts[w] > 0]
    pos = positions.reshape(-1, 2)
    rows = max(len(top), 1)
    fig, axes = plt.subplots(rows, n_examples + 1, figsize=(1.3 * (n_examples + 1), 1.35 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, w in enumerate(top):
        where = np.flatnonzero(flat == w)
        picks = where[np.linspace(0, len(where) - 1, min(n_examples, len(where))).round().astype(int)]
        axes[r, 0].text(0.5, 0.5, f"word {w}\n{counts[w]} patches", ha="center", va="center", fontsize=8,
                        transform=axes[r, 0].transAxes)
        for c, p in enumerate(picks):
            axes[r, c + 1].imshow(patch_crop(image, pos[p], patch_size), cmap="gray", vmin=0, vmax=255)
    fig.suptitle(f"the {len(top)} words most present in the image (null word excluded)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_word_examples(images: Sequence[np.ndarray], descriptors: Sequence[np.ndarray],
                       positions: Sequence[np.ndarray], dictionary: np.ndarray, word_ids: Sequence[int], *,
                       n_examples: int = 8, patch_size: int = 16,
                       path: str | os.PathLike | None = None) -> plt.Figure:
    """For each word in ``word_ids``, the ``n_examples`` patches of the data set nearest to it.

    images: list of (H_i, W_i); descriptors: list of (n_y, n_x, d) grids (or (n_i, d));
    positions: list of (n_y, n_x, 2); dictionary: (n_words, d). Only patches *assigned* to the word
    are candidates; among them the closest to the word come first (the most typical). A word whose
    patches look alike is a good word.
    """
    flat = [np.ascontiguousarray(d.reshape(-1, d.shape[-1]), dtype=dictionary.dtype) for d in descriptors]
    owner = np.concatenate([np.full(len(f), i) for i, f in enumerate(flat)])
    index = np.concatenate([np.arange(len(f)) for f in flat])
    labels, dist = nearest_centers(np.concatenate(flat), dictionary)
    fig, axes = plt.subplots(len(word_ids), n_examples + 1, figsize=(1.2 * (n_examples + 1), 1.25 * len(word_ids)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, w in enumerate(word_ids):
        members = np.flatnonzero(labels == w)
        best = members[np.argsort(dist[members], kind="stable")[:n_examples]]
        axes[r, 0].text(0.5, 0.5, f"word {w}\n{len(members)} patches", ha="center", va="center", fontsize=8,
                        transform=axes[r, 0].transAxes)
        for c, m in enumerate(best):
            img = images[owner[m]]
            pos = positions[owner[m]].reshape(-1, 2)[index[m]]
            axes[r, c + 1].imshow(patch_crop(img, pos, patch_size), cmap="gray", vmin=0, vmax=255)
    fig.suptitle("visual words: the patches closest to each word", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
