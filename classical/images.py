"""Image folders (15-Scene and the like) and grayscale reading, the course's way.

    >>> from classical.images import load_image_folder, read_images
    >>> tr_paths, tr_y, te_paths, te_y, classes = load_image_folder("../shared/data/15scene")
    >>> images, kept, skipped = read_images(tr_paths)       # float64 (H, W) in [0, 255]
    >>> tr_y = tr_y[kept]                                    # labels of the images actually read

Layouts (class = sub-folder name, classes in sorted order, label = index in that order):

- ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``: the course's split, used as is;
- ``<root>/train/<class>/*`` alone (no ``test/``): a seeded stratified split of ``train``;
- ``<root>/<class>/*``: a seeded stratified split of the whole folder.

Grayscale: colour images become ``0.2 R + 0.7 G + 0.1 B`` (the course's ``read_grayscale``), in
float64 with values in [0, 255]. Unreadable files (corrupt, truncated, not an image) raise
``UnreadableImageError`` (an ``OSError``) naming the file; ``read_images`` skips them with a warning
each and reports them, it never dies silently or half-way.

The embedded generated data set (``make_scenes``) lives in ``classical._scenes`` and is re-exported
here.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from classical._scenes import SCENE_CLASSES, make_scenes

__all__ = [
    "IMAGE_EXTENSIONS",
    "SCENE_CLASSES",
    "UnreadableImageError",
    "find_classes",
    "list_image_folder",
    "load_image_folder",
    "make_scenes",
    "read_gray",
    "read_images",
    "stratified_split",
    "to_gray",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".gif", ".webp")
GRAY_WEIGHTS = (0.2, 0.7, 0.1)  # the course's R, G, B weights (not ITU-R 601's 0.299, 0.587, 0.114)


class UnreadableImageError(OSError):
    """A file that exists but cannot be decoded as an image (corrupt, truncated, not an image)."""


# --------------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------------
def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) -> float64 copy; (H, W, 3|4) RGB(A) -> 0.2 R + 0.7 G + 0.1 B (alpha ignored); (H, W, 1) -> (H, W)."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a.astype(np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0].astype(np.float64)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[:, :, :3].astype(np.float64)
        wr, wg, wb = GRAY_WEIGHTS
        return wr * rgb[:, :, 0] + wg * rgb[:, :, 1] + wb * rgb[:, :, 2]
    raise ValueError(f"to_gray: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}")


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float64 (H, W) grey levels in [0, 255].

    8-bit grayscale is used as is; colour (RGB, palette, CMYK...) goes through RGB and ``to_gray``;
    16-bit grayscale is rescaled by 255 / 65535. Raises FileNotFoundError for a missing file and
    ``UnreadableImageError`` (an OSError) naming the file for one that cannot be decoded, including
    truncated files (PIL would otherwise pad them silently with grey).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_gray: no such image file: {path}")
    try:
        with Image.open(path) as im:
            im.load()  # decode now: truncated/corrupt data raise here, not later
            mode = im.mode
            if mode in ("L", "LA"):
                return np.asarray(im.getchannel(0), dtype=np.float64)
            if mode == "1":
                return np.asarray(im.convert("L"), dtype=np.float64)
            if mode.startswith("I;16"):
                return np.asarray(im, dtype=np.float64) * (255.0 / 65535.0)
            if mode in ("I", "F"):
                raise UnreadableImageError(f"read_gray: {path}: unsupported image mode {mode!r} "
                                           "(32-bit integer/float images have no fixed grey range)")
            rgb = im if mode in ("RGB", "RGBA") else im.convert("RGB")
            return to_gray(np.asarray(rgb))
    except UnreadableImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UnreadableImageError(f"read_gray: cannot read image {path}: {e}") from e


def read_images(paths: Sequence[str | os.PathLike], *, progress: bool | None = None,
                ) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Read many images with ``read_gray``, skipping (and reporting) the unreadable ones.

    Each missing or unreadable file gives a ``UserWarning`` naming it; a last warning gives the
    count. Returns ``(images, kept_indices, skipped_paths)``: the images read, the (n_kept,) int64
    indices into ``paths`` of those images (use ``labels[kept_indices]``), and the skipped paths.
    ``progress``: tqdm bar (None: shown for more than 100 files).
    """
    from tqdm.auto import tqdm

    images: list[np.ndarray] = []
    kept: list[int] = []
    skipped: list[str] = []
    show = progress if progress is not None else len(paths) > 100
    for i, p in enumerate(tqdm(paths, desc="reading images", unit="img", disable=not show)):
        try:
            images.append(read_gray(p))
        except (UnreadableImageError, FileNotFoundError) as e:
            skipped.append(str(p))
            warnings.warn(f"skipping {p}: {e}", UserWarning, stacklevel=2)
            continue
        kept.append(i)
    if skipped:
        warnings.warn(f"read_images: skipped {len(skipped)} of {len(paths)} file(s) that could not be read",
                      UserWarning, stacklevel=2)
    return images, np.asarray(kept, dtype=np.int64), skipped


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------
def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS


def find_classes(folder: str | os.PathLike) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``folder``: the class names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def list_image_folder(folder: str | os.PathLike, class_names: Sequence[str] | None = None,
                      ) -> tuple[list[str], np.ndarray, list[str]]:
    """All image files of ``<folder>/<class>/``, sorted by class then file name.

    ``class_names``: the classes (and label order) to use, e.g. the training folder's for a test
    folder; a sub-folder not in it is an error. Returns ``(paths, labels (n,) int64, class_names)``.
    Raises FileNotFoundError if ``folder`` is missing, ValueError if it has no class sub-folders,
    a class folder has no image, or a folder has a class the training folder lacks.
    """
    folder = Path(folder)
    found = find_classes(folder)
    if not found:
        raise ValueError(f"image folder {folder} has no class sub-folders (expected <folder>/<class>/*.jpg)")
    if class_names is None:
        class_names = found
    else:
        class_names = list(class_names)
        extra = sorted(set(found) - set(class_names))
        if extra:
            raise ValueError(f"image folder {folder} has classes {extra} that are not among {class_names}")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        d = folder / name
        files = sorted(p for p in d.iterdir() if _is_image(p)) if d.is_dir() else []
        if not files and name in found:
            raise ValueError(f"class folder {d} contains no image file ({', '.join(IMAGE_EXTENSIONS)})")
        paths.extend(str(p) for p in files)
        labels.extend([label] * len(files))
    return paths, np.asarray(labels, dtype=np.int64), list(class_names)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: per class, ``round(n_c * test_fraction)`` random items go to test.

    At least one item of each class with >= 2 items goes to each side when 0 < test_fraction < 1.
    Returns sorted (train_indices, test_indices), int64.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(idx.size * test_fraction))
        if test_fraction > 0 and idx.size >= 2:
            n_test = min(max(n_test, 1), idx.size - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(test)).astype(np.int64)


def load_image_folder(root: str | os.PathLike, split: str | None = None, *, test_fraction: float = 0.2,
                      seed: int = 0) -> tuple[list[str], np.ndarray, list[str], np.ndarray, list[str]]:
    """Find the images of an image-folder data set and its train/test split.

    root: the data set folder. split: ``None`` or ``"auto"`` (use ``train/`` + ``test/`` when both
    exist; ``train/`` alone is split; else ``root`` itself is split), ``"folders"`` (require
    ``train/`` and ``test/``), ``"random"`` (seeded stratified split of ``root/train`` if it exists,
    else of ``root``). test_fraction, seed: the stratified split (per class, ``round(n_c * f)``
    images to test; ``test_fraction=0`` puts everything in train).

    Returns ``(train_paths, train_labels, test_paths, test_labels, class_names)``; labels are (n,)
    int64 indices into the sorted ``class_names`` (the training folder's).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    split = "auto" if split is None else split
    if split not in ("auto", "folders", "random"):
        raise ValueError(f"split must be None, 'auto', 'folders' or 'random', got {split!r}")
    train_dir, test_dir = root / "train", root / "test"
    if split == "folders" or (split == "auto" and train_dir.is_dir() and test_dir.is_dir()):
        if not (train_dir.is_dir() and test_dir.is_dir()):
            raise FileNotFoundError(f"split='folders' needs {train_dir} and {test_dir}")
        tr_paths, tr_y, classes = list_image_folder(train_dir)
        te_paths, te_y, _ = list_image_folder(test_dir, classes)
        return tr_paths, tr_y, te_paths, te_y, classes
    folder = train_dir if train_dir.is_dir() else root
    paths, y, classes = list_image_folder(folder)
    tr, te = stratified_split(y, test_fraction, seed)
    return [paths[i] for i in tr], y[tr], [paths[i] for i in te], y[te], classes
