"""Data for the CNN chapter: every source ends as in-memory arrays ``X: (N, C, H, W) float32 in [0, 1]``
and ``y: (N,) int64``, so that batching is one gather and augmentation one vectorised call.

What the user can fix (no data, an empty folder, a corrupt file) raises ``UserError``: one message,
exit status 2, no traceback.

Sources, in the order they are looked for:

- ``--train-dir DIR --test-dir DIR``: two image folders (one sub-folder per class);
- ``--dataset mnist`` with a data directory (or ``--download``): the official MNIST files. With the training images
  present, the official 60k/10k split; with only the official *test* set (the shared course data),
  a seeded stratified 80/20 split of those 10,000 images, and the run says so;
- ``--dataset cifar10`` with a data directory: the official binary batches (``cifar-10-batches-bin``,
  fetched by ``--download``) when present, else the ``cifar10/<class>/*.png`` folder, split 75/25
  stratified and seeded;
- ``--dataset digits`` (the default, embedded): scikit-learn's 1,797 8x8 digits, split 75/25.
  With ``--model cifar`` the digits are resized to 32x32 and repeated over 3 channels, so that the
  course's CIFAR network runs on embedded data (a smoke test, not a CIFAR result).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from examples._runner import UserError, data_dir, open_dataset
from minidl.data import (CIFAR10, MNIST, CorruptFileError, ImageFolder, load_digits, stratified_split, to_arrays)
from minidl.data.transforms import functional as TF

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclass
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    description: str
    kind: str  # "mnist", "cifar10", "digits" or "folder": decides the augmentation and normalisation


def _folder_arrays(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        ds = ImageFolder(root, skip_bad=True)
    except FileNotFoundError as e:  # no such folder, no class sub-folders, no images
        raise UserError(f"{e}\nAn image folder holds one sub-folder per class: {root}/<class>/*.png") from e
    X, y = to_arrays(ds, progress=True)
    X = np.asarray(X)
    if X.ndim == 3:  # grayscale HW -> N,H,W
        X = X[..., None]
    return TF.to_tensor_batch(X), np.asarray(y, np.int64), ds.classes


def _split(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    tr, te = stratified_split(y, test_fraction, seed=seed)
    return X[tr], y[tr], X[te], y[te]


def load(args: argparse.Namespace) -> Data:
    if args.train_dir or args.test_dir:
        if not (args.train_dir and args.test_dir):
            raise UserError("--train-dir and --test-dir go together")
        Xtr, ytr, classes = _folder_arrays(Path(args.train_dir))
        Xte, yte, classes_te = _folder_arrays(Path(args.test_dir))
        if classes != classes_te:
            raise UserError(f"train classes {classes} ({args.train_dir}) differ from test classes {classes_te} "
                            f"({args.test_dir})")
        return Data(Xtr, ytr, Xte, yte, classes, f"image folders {args.train_dir} / {args.test_dir}", "folder")

    root = data_dir(args)
    if args.dataset in ("mnist", "cifar10") and root is None:
        raise UserError(f"--dataset {args.dataset} needs its files: give --data-dir DIR (or set $MINIDL_DATA), "
                        f"or add --download to fetch the official ones (see README, 'Getting the real datasets')")
    if args.dataset == "mnist":
        return _mnist(args, root / "mnist" if (root / "mnist").is_dir() else root)
    if args.dataset == "cifar10":
        return _cifar10(args, root)
    return _digits(args)


def _mnist(args: argparse.Namespace, root: Path) -> Data:
    classes, seed = [str(d) for d in range(10)], args.seed
    test = open_dataset(args, MNIST, root, train=False)   # --download fetches all four files here
    try:
        train = MNIST(root, train=True)
        return Data(train.data[:, None] / np.float32(255), train.targets, test.data[:, None] / np.float32(255),
                    test.targets, classes, f"MNIST official split (60,000 / 10,000) from {root}", "mnist")
    except CorruptFileError as e:
        raise UserError(str(e)) from e
    except FileNotFoundError:
        X = (test.data[:, None] / np.float32(255)).astype(np.float32)
        Xtr, ytr, Xte, yte = _split(X, test.targets, 0.2, seed)
        return Data(Xtr, ytr, Xte, yte, classes,
                    f"MNIST: the official training images are absent, so a seeded stratified 80/20 split of the "
                    f"10,000 official TEST images ({len(ytr)} train / {len(yte)} held-out test) from {root}", "mnist")


def _cifar10(args: argparse.Namespace, root: Path) -> Data:
    seed = args.seed
    if args.download:
        open_dataset(args, CIFAR10, root, train=False)     # fetches and unpacks the binary archive
    for cand in (root / "cifar-10-batches-bin", root / "cifar10" / "cifar-10-batches-bin"):
        if cand.is_dir():
            train, test = CIFAR10(cand.parent, train=True), CIFAR10(cand.parent, train=False)
            return Data(TF.to_tensor_batch(train.data), train.targets, TF.to_tensor_batch(test.data), test.targets,
                        CIFAR_CLASSES, f"CIFAR-10 official binary batches (50,000 / 10,000) from {cand}", "cifar10")
    folder = root / "cifar10"
    if not folder.is_dir():
        raise UserError(f"CIFAR-10 not found under {root}: looked for {root / 'cifar-10-batches-bin'}, "
                        f"{root / 'cifar10' / 'cifar-10-batches-bin'} and the image folder {folder}/<class>/*.png.\n"
                        f"Point --data-dir at the folder that holds them, or add --download to fetch the official "
                        f"binary batches (a 170 MB archive, md5-checked) into {root}.")
    X, y, classes = _folder_arrays(folder)
    Xtr, ytr, Xte, yte = _split(X, y, 0.25, seed)
    return Data(Xtr, ytr, Xte, yte, classes,
                f"CIFAR-10 image folder {folder} ({len(y):,} images of the official test set), seeded stratified "
                f"75/25 split: {len(ytr):,} train / {len(yte):,} test", "cifar10")


def _digits(args: argparse.Namespace) -> Data:
    X, y = load_digits()
    description = "scikit-learn digits (1,797 8x8 images, embedded), seeded stratified 75/25 split"
    if args.model == "cifar":
        X = np.repeat(np.stack([TF.resize(img, (32, 32)) for img in X[:, 0]])[:, None], 3, axis=1)
        X = np.clip(X, 0, 1).astype(np.float32)
        description += ", resized to 3x32x32 for the CIFAR network (a smoke test, not a CIFAR result)"
    Xtr, ytr, Xte, yte = _split(X, y, 0.25, args.seed)
    return Data(Xtr, ytr, Xte, yte, [str(d) for d in range(10)], description, "digits")
