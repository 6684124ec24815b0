"""The transfer chapter's data (examples/transfer.py, also used by examples/visualize.py): images checked
and converted on the way in, the source task (CIFAR-10, or generated textures with --quick) and the target
task (15-Scene or the user's folders; --quick: other textures), and the normalisation."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from examples._runner import UserError, data_dir
from minidl.data import ImageFolder, stratified_split
from minidl.data.datasets.folder import read_image
from minidl.data.transforms import functional as TF

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SOURCE_CLASSES, TARGET_CLASSES = (0, 1, 2, 3), (4, 5, 6, 7)   # --quick: generated textures, disjoint tasks


@dataclass
class Split:
    """Images (N, 3, S, S) -- or (N, 1, S, S) for grayscale folders, stacked to 3 channels batch by batch by
    ``normalise`` -- float32 in [0, 1] (not yet normalised) and labels, train and test."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    description: str


# --------------------------------------------------------------------------- images in, checked
def as_rgb_batch(X: np.ndarray, side: int, what: str, stack: bool = True) -> np.ndarray:
    """Any image batch -> (N, 3, side, side) float32 in [0, 1]: grayscale is stacked to 3 channels, other
    sizes are resized (shorter side to ``side``, then centre-cropped). Accepts (N, H, W), (N, H, W, C) and
    (N, C, H, W) with C in {1, 3}, uint8 or float in [0, 1]; anything else is refused here, with its shape,
    rather than failing deep inside the first convolution. ``stack=False`` keeps grayscale as 1 channel
    (a third of the memory; ``normalise`` broadcasts it to 3 channels one batch at a time)."""
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):
        X = X.transpose(0, 3, 1, 2)
    if X.ndim != 4 or X.shape[1] not in (1, 3):
        raise UserError(f"{what}: expected images of shape (N, H, W), (N, H, W, 1|3) or (N, 1|3, H, W); "
                        f"got {X.shape}")
    X = X.astype(np.float32) / (255.0 if X.dtype == np.uint8 else 1.0)
    if X.shape[-2:] != (side, side):
        X = np.ascontiguousarray(TF.center_crop(TF.resize(X, side), side))   # the whole batch: one resampling
    return np.ascontiguousarray(np.repeat(X, 3, axis=1) if X.shape[1] == 1 and stack else X, dtype=np.float32)


def read_folder(root: Path, side: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An image folder as grayscale (N, 1, side, side) in [0, 1], one image decoded and resized at a time
    (memory stays ~N x side^2 floats, not the decoded originals)."""
    try:
        ds = ImageFolder(root, mode="L")
    except (FileNotFoundError, ValueError) as e:
        raise UserError(f"{e}\nAn image folder holds one sub-folder per class: {root}/<class>/*.jpg") from e
    X = np.empty((len(ds), 1, side, side), np.float32)
    for i, (path, _) in enumerate(tqdm(ds.samples, desc=f"reading {root.name}", unit="img", leave=False)):
        img = read_image(path, "L").astype(np.float32) / 255.0
        X[i, 0] = TF.center_crop(TF.resize(img, side), side)
    return X, ds.targets.copy(), ds.classes


# --------------------------------------------------------------------------- data
def textures(classes: tuple[int, ...], n_per_class: int, side: int, seed: int
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Generated textures (classical's scene generator) of the given classes, relabelled 0..k-1."""
    from classical._scenes import SCENE_CLASSES, make_scenes
    imgs, y, names = make_scenes(n_per_class, side, n_classes=len(SCENE_CLASSES), seed=seed)
    keep = np.isin(y, classes)
    X = np.stack([im for im, k in zip(imgs, keep) if k])[:, None] / 255.0
    remap = {c: i for i, c in enumerate(classes)}
    return as_rgb_batch(X, side, "textures"), np.array([remap[c] for c in y[keep]]), [names[c] for c in classes]


def load_target(args: argparse.Namespace, side: int) -> Split:
    """15-Scene (or the user's folders); --quick: generated textures of classes the source never saw."""
    if args.quick:
        X, y, names = textures(TARGET_CLASSES, 24, side, args.seed + 1)
        tr, te = stratified_split(y, 0.5, seed=args.seed)
        return Split(X[tr], y[tr], X[te], y[te], names, f"generated textures {names} (24 per class, split 50/50, "
                     f"classes the source task never saw), {side}x{side}")
    if args.train_dir or args.test_dir:
        if not (args.train_dir and args.test_dir):
            raise UserError("--train-dir and --test-dir go together")
        Xtr, ytr, classes = read_folder(Path(args.train_dir), side)
        Xte, yte, cte = read_folder(Path(args.test_dir), side)
        if classes != cte:
            raise UserError(f"train classes {classes} ({args.train_dir}) differ from test classes {cte} "
                            f"({args.test_dir})")
        return Split(as_rgb_batch(Xtr, side, "train", False), ytr, as_rgb_batch(Xte, side, "test", False), yte, classes,
                     f"image folders {args.train_dir} / {args.test_dir}, grayscale stacked to 3 channels, "
                     f"{side}x{side}")
    root = data_dir(args)
    if root is None or not (root / "15scene").is_dir():
        raise UserError(f"15-Scene not found: give --train-dir/--test-dir, or --data-dir DIR holding 15scene/ "
                        f"(looked in {root}); --quick runs on generated textures")
    folder = root / "15scene"
    splits = ImageFolder.splits(folder)
    if "train" in splits and "test" in splits:
        Xtr, ytr, classes = read_folder(folder / "train", side)
        Xte, yte, _ = read_folder(folder / "test", side)
        how = "official train/test split"
    else:
        X, y, classes = read_folder(folder / "train" if "train" in splits else folder, side)
        tr, te = stratified_split(y, 0.3, seed=args.seed)
        Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
        how = "only a training split exists here: seeded stratified 70/30 split of it"
    return Split(as_rgb_batch(Xtr, side, "15-Scene", False), ytr, as_rgb_batch(Xte, side, "15-Scene", False), yte,
                 classes,
                 f"15-Scene {folder} ({how}: {len(ytr)} train / {len(yte)} test), grayscale stacked to 3 "
                 f"channels, {side}x{side}")


def load_source(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """The pretraining set: CIFAR-10 (8,000 images of the folder) in grayscale x 3; --quick: textures."""
    if args.quick:
        X, y, names = textures(SOURCE_CLASSES, 60, 32, args.seed)
        return X, y, names, f"generated textures {names} (60 per class)"
    root = data_dir(args)
    folder = root / "cifar10" if root is not None else None
    if folder is None or not folder.is_dir():
        raise UserError(f"pretraining needs labelled images: --data-dir DIR with cifar10/<class>/*.png (looked in "
                        f"{folder}); or give --weights PATH (a torchvision VGG16/SqueezeNet .pth); or --quick")
    X, y, classes = read_folder(folder, 32)
    return (as_rgb_batch(X, 32, "CIFAR-10"), y, classes,
            f"CIFAR-10 folder {folder} ({len(y):,} images), grayscale stacked to 3 channels")


def normalise(X: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """Per-channel (x - mean) / std, as the weights were trained with (ImageNet's, or the source set's).
    A grayscale batch (N, 1, H, W) broadcasts to 3 channels here: the gray image stacked three times."""
    m, s = np.asarray(mean, np.float32).reshape(1, -1, 1, 1), np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return ((X - m) / s).astype(np.float32)

