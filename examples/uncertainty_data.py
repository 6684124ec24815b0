"""Data for the uncertainty chapter (4-c): in-distribution digits split four ways, and an OOD set.

Every source ends as ``X: (N, 1, H, W) float32 in [0, 1]`` and ``y: (N,) int64``.

- ``--dataset mnist`` (the default when a data directory is given and not ``--quick``): the shared data has
  only the 10,000 official MNIST TEST images, so we split those, seeded: 4,500 to train the classifier,
  3,000 to train ConfidNet (images the classifier never saw: it needs enough of the classifier's errors,
  ~2 % of them), 500 for validation (ODIN's T and epsilon) and 2,000 held-out test images. OOD: KMNIST,
  by default the 105 images in ``kmnist/kmnist_t10k_first105_images.npy`` (or ``--ood FILE``: a ``.npy``
  of (N, 28, 28) uint8, or an IDX image file, gzipped or not), split 35 for validation / 70 for test:
  a SMALL OOD sample.
- ``--dataset digits`` (embedded, ``--quick``): scikit-learn's 1,797 8x8 digits split the same way in
  proportion; OOD: 150 generated "blob" images (smoothed noise, a smoke-test stand-in for KMNIST).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from examples._runner import UserError, data_dir, open_dataset
from minidl.data import IMAGES_MAGIC, MNIST, CorruptFileError, load_digits
from minidl.data.datasets.mnist import read_idx

KMNIST_NPY = Path("kmnist") / "kmnist_t10k_first105_images.npy"


@dataclass
class Splits:
    X: dict[str, np.ndarray]       # "train", "confid", "val", "test"
    y: dict[str, np.ndarray]
    ood: dict[str, np.ndarray]     # "val", "test"
    description: str
    ood_description: str
    image_size: int


def _split(X: np.ndarray, y: np.ndarray, sizes: dict[str, int], seed: int) -> tuple[dict, dict]:
    order = np.random.default_rng(seed).permutation(len(X))
    Xs, ys, start = {}, {}, 0
    for name, n in sizes.items():
        idx = order[start:start + n]
        Xs[name], ys[name] = X[idx], y[idx]
        start += n
    return Xs, ys


def load_ood_images(path: Path) -> np.ndarray:
    """OOD images as (N, 1, 28, 28) float32 in [0, 1], from ``.npy`` (no pickles) or an IDX file; a bad or
    truncated file is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"OOD images not found: {path} (give --ood FILE, or --data-dir holding {KMNIST_NPY})")
    try:
        if path.suffix == ".npy":
            imgs = np.load(path, allow_pickle=False)
        else:
            imgs = read_idx(path, IMAGES_MAGIC)
    except CorruptFileError as e:
        raise UserError(f"cannot use {path} as OOD images: {e}") from e
    except ValueError as e:  # np.load: a pickled or malformed .npy
        raise UserError(f"cannot read {path} as a .npy array of images: {e}") from e
    if imgs.ndim != 3 or imgs.shape[1:] != (28, 28):
        raise UserError(f"{path}: expected (N, 28, 28) images, got shape {imgs.shape}")
    scale = 255.0 if imgs.dtype == np.uint8 else 1.0
    return (imgs[:, None] / scale).astype(np.float32)


def blob_images(n: int, size: int, seed: int) -> np.ndarray:
    """Smoothed uniform noise rescaled to [0, 1]: textures that are no digit."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    imgs = np.stack([gaussian_filter(rng.random((size, size)), sigma=1.0) for _ in range(n)])
    lo, hi = imgs.min(axis=(1, 2), keepdims=True), imgs.max(axis=(1, 2), keepdims=True)
    return ((imgs - lo) / (hi - lo))[:, None].astype(np.float32)


def load(args: argparse.Namespace) -> Splits:
    root = data_dir(args)
    dataset = args.dataset or ("mnist" if root is not None and not args.quick else "digits")
    if dataset == "mnist":
        if root is None:
            raise UserError("--dataset mnist needs the MNIST files: give --data-dir DIR or set $MINIDL_DATA")
        mnist_root = root / "mnist" if (root / "mnist").is_dir() else root
        test = open_dataset(args, MNIST, mnist_root, train=False)
        X = (test.data[:, None] / np.float32(255)).astype(np.float32)
        Xs, ys = _split(X, np.asarray(test.targets, np.int64),
                        dict(train=4500, confid=3000, val=500, test=2000), args.seed)
        ood_path = Path(args.ood) if args.ood else root / KMNIST_NPY
        ood = load_ood_images(ood_path)
        order = np.random.default_rng(args.seed + 1).permutation(len(ood))
        n_val = len(ood) // 3
        return Splits(Xs, ys, dict(val=ood[order[:n_val]], test=ood[order[n_val:]]),
                      f"MNIST from {mnist_root}: only the 10,000 official TEST images exist here, so a seeded split "
                      f"of them: 4,500 classifier train / 3,000 ConfidNet train / 500 validation / 2,000 test",
                      f"{len(ood)} KMNIST images from {ood_path} ({n_val} validation / {len(ood) - n_val} test: a "
                      f"small OOD sample, hence the bootstrap intervals)", 28)
    X, y = load_digits()
    Xs, ys = _split(X.astype(np.float32), y.astype(np.int64), dict(train=900, confid=400, val=200, test=297),
                    args.seed)
    ood = blob_images(150, 8, args.seed)
    return Splits(Xs, ys, dict(val=ood[:50], test=ood[50:]),
                  "scikit-learn digits (1,797 8x8, embedded), seeded split 900 classifier train / 400 ConfidNet "
                  "train / 200 validation / 297 test",
                  "150 generated blob images (smoothed noise; a smoke-test stand-in for KMNIST): 50 validation / "
                  "100 test", 8)
