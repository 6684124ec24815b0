"""MNIST-M (Ganin & Lempitsky, 2015): MNIST digits blended over natural-image patches.

Two sources:

- ``MNISTM(root)`` reads the real MNIST-M images in the folder layout ``root/images/*.png`` +
  ``root/labels.txt`` (one ``<file> <digit>`` line per image). Every image listed must exist, every
  image present must be listed, labels must be digits 0-9 and all images must have one shape; any
  violation raises an error naming the file (and line, or shape).
- ``synthesize_mnistm(digits, backgrounds, seed)`` makes new ones, as the course does: for each digit,
  a random crop of a random background (a BSDS500 training image) of the digit's size, and

      out = | patch - 255 * [digit > threshold] |          per RGB channel, uint8

  so the ink inverts the colours of the patch under it. ``synthesize_mnistm_cached`` stores the result
  in an ``.npz`` keyed by the inputs (written atomically; a corrupt cache is recomputed).
  ``load_backgrounds(folder)`` reads the BSDS500 JPEGs; ``texture_backgrounds`` makes procedural
  colour textures instead, for runs without any data on disk.
"""
from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from minidl.data._files import CorruptFileError
from minidl.data.dataset import Dataset
from minidl.data.datasets.folder import IMG_EXTENSIONS, read_image


# --------------------------------------------------------------------------- real MNIST-M (evaluation)
def read_mnistm_labels(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Parse ``labels.txt``: ``[(file name, digit), ...]`` in file order. Blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MNIST-M: label file not found: {path}")
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise CorruptFileError(path, f"line {lineno}: expected '<file> <digit>', got {line!r}")
        name, label = parts
        try:
            digit = int(label)
        except ValueError:
            raise CorruptFileError(path, f"line {lineno}: label {label!r} of {name} is not an integer") from None
        if not 0 <= digit <= 9:
            raise CorruptFileError(path, f"line {lineno}: label {digit} of {name} is out of range 0..9")
        if name in seen:
            raise CorruptFileError(path, f"line {lineno}: {name} is listed twice")
        seen.add(name)
        out.append((name, digit))
    if not out:
        raise CorruptFileError(path, "no labels in the file")
    return out


class MNISTM(Dataset):
    """The real MNIST-M images of a folder: ``data (N, H, W, 3) uint8``, ``targets (N,) int64``.

    Everything is decoded at construction (4,500 32x32 PNGs take about a second); a sample is
    ``(img, label)`` with ``img`` the HWC uint8 array (compose ``ToTensor()`` for CHW float).
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"MNIST-M: no such folder {self.root} (expected images/*.png and labels.txt)")
        images = self.root / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"MNIST-M: no images folder {images}")
        labels = read_mnistm_labels(self.root / "labels.txt")
        listed = {name for name, _ in labels}
        on_disk = sorted(f for f in os.listdir(images) if f.lower().endswith(IMG_EXTENSIONS))
        missing = [name for name, _ in labels if not (images / name).is_file()]
        if missing:
            raise FileNotFoundError(f"MNIST-M: {len(missing)} image(s) listed in {self.root / 'labels.txt'} are "
                                    f"missing from {images}, e.g. {', '.join(missing[:3])}")
        unlabelled = [f for f in on_disk if f not in listed]
        if unlabelled:
            raise FileNotFoundError(f"MNIST-M: {len(unlabelled)} image(s) in {images} have no label in "
                                    f"{self.root / 'labels.txt'}, e.g. {', '.join(unlabelled[:3])}")
        arrays = []
        for name, _ in labels:
            img = read_image(images / name, "RGB")
            if arrays and img.shape != arrays[0].shape:
                raise CorruptFileError(images / name, f"image of shape {img.shape}, but {labels[0][0]} has "
                                                      f"{arrays[0].shape}: all MNIST-M images must have one shape")
            arrays.append(img)
        self.data: np.ndarray = np.stack(arrays)
        self.targets: np.ndarray = np.array([d for _, d in labels], dtype=np.int64)
        self.files = [images / name for name, _ in labels]
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = self.data[index]
        target: Any = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        return f"MNISTM(n={len(self)}, shape={self.data.shape[1:]}, root={self.root})"


# --------------------------------------------------------------------------- synthesis (training target)
def load_backgrounds(folder: str | os.PathLike, limit: int | None = None) -> list[np.ndarray]:
    """The RGB images (HWC uint8) of a folder, sorted by name: BSDS500's ``train/*.jpg`` for MNIST-M.

    Raises ``FileNotFoundError`` for a missing folder or one with no images, ``CorruptFileError``
    naming an image that cannot be decoded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"backgrounds: no such folder {folder} (the course uses BSDS500's train images)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"backgrounds: no {'/'.join(IMG_EXTENSIONS)} images in {folder}")
    return [read_image(p, "RGB") for p in files[:limit]]


def texture_backgrounds(n: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """``n`` procedural colour textures (HWC uint8): a few random plane waves per channel, each channel
    with its own colour offset. A stand-in for natural images when no data folder is given."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out = []
    for _ in range(n):
        img = np.empty((size, size, 3))
        for c in range(3):
            field = np.zeros((size, size))
            for _ in range(4):
                fx, fy = rng.uniform(-6, 6, size=2)
                field += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi))
            field = (field - field.min()) / max(np.ptp(field), 1e-12)
            img[..., c] = rng.uniform(0, 120) + rng.uniform(80, 135) * field
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def synthesize_mnistm(digits: np.ndarray, backgrounds: Sequence[np.ndarray], seed: int = 0,
                      threshold: int = 0) -> np.ndarray:
    """``digits: (N, H, W) uint8`` grayscale -> ``(N, H, W, 3) uint8`` MNIST-M images.

    For each digit: a background chosen uniformly, a uniformly random H x W crop of it, and
    ``|crop - 255 * [digit > threshold]|``. Seeded: the same inputs and seed give the same images.
    """
    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.dtype != np.uint8:
        raise ValueError(f"synthesize_mnistm: digits must be (N, H, W) uint8, got {digits.shape} {digits.dtype}")
    if len(backgrounds) == 0:
        raise ValueError("synthesize_mnistm: no background images")
    n, h, w = digits.shape
    for i, bg in enumerate(backgrounds):
        if bg.ndim != 3 or bg.shape[2] != 3 or bg.shape[0] < h or bg.shape[1] < w:
            raise ValueError(f"synthesize_mnistm: background {i} has shape {bg.shape}; it must be (H', W', 3) "
                             f"with H' >= {h} and W' >= {w} to crop a patch for digits of shape {(h, w)}")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(backgrounds), size=n)
    out = np.empty((n, h, w, 3), np.uint8)
    ink = (digits > threshold).astype(np.int16) * 255
    for i in range(n):
        bg = backgrounds[which[i]]
        top = rng.integers(0, bg.shape[0] - h + 1)
        left = rng.integers(0, bg.shape[1] - w + 1)
        patch = bg[top:top + h, left:left + w].astype(np.int16)
        out[i] = np.abs(patch - ink[i][:, :, None]).astype(np.uint8)
    return out


def synthesize_mnistm_cached(digits: np.ndarray, backgrounds: Sequence[np.ndarray], cache_dir: str | os.PathLike,
                             seed: int = 0, threshold: int = 0) -> tuple[np.ndarray, Path, bool]:
    """``synthesize_mnistm`` through a cache file: ``(images, cache path, came from the cache)``.

    The file name hashes the digits, the backgrounds, the seed and the threshold, so any change makes a
    new file. It is written to a temporary name and renamed (an interrupted run leaves no half file); a
    file that cannot be read back is reported with a warning and recomputed.
    """
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(digits), *(np.ascontiguousarray(b) for b in backgrounds)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(f"seed={seed} threshold={threshold} v1".encode())
    path = Path(cache_dir) / f"mnistm_{h.hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                images = f["images"]
            if images.shape == (*digits.shape, 3) and images.dtype == np.uint8:
                return images, path, True
            warnings.warn(f"{path}: cached MNIST-M has shape {images.shape}, expected {(*digits.shape, 3)}; "
                          "recomputing", stacklevel=2)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"{path}: unreadable MNIST-M cache ({type(e).__name__}: {e}); recomputing", stacklevel=2)
    images = synthesize_mnistm(digits, backgrounds, seed=seed, threshold=threshold)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, images=images)
    os.replace(tmp, path)
    return images, path, False
