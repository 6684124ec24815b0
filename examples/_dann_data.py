"""The dann chapter's data (``examples/dann.py``): MNIST digits as the source, MNIST-M synthesised from them
as the training target, the real MNIST-M images for the target test score, and Ganin's preprocessing.

Honesty rule: the real MNIST-M test images are MNIST *test* digits over BSDS500 patches, and the source
here is a split of the MNIST test set (the only MNIST images in the shared data), so the digits under the
real images are left out of everything trained on (``digits_behind``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from examples._runner import UserError, data_dir, open_dataset
from minidl.data import MNIST, load_digits, stratified_split
from minidl.data.datasets import MNISTM, load_backgrounds, synthesize_mnistm_cached, texture_backgrounds
from minidl.data.transforms import functional as TF


@dataclass
class Domains:
    """Images ``(N, 3, S, S)`` float32 in [0, 1] minus the training images' per-channel mean."""
    Xs: np.ndarray                 # source train (labelled)
    ys: np.ndarray
    Xs_test: np.ndarray
    ys_test: np.ndarray
    Xt: np.ndarray                 # target train: its labels are never used
    Xt_test: np.ndarray            # synthesised target, held-out digits
    yt_test: np.ndarray
    Xt_real: np.ndarray | None     # real MNIST-M (evaluation only)
    yt_real: np.ndarray | None
    description: str
    train_digits: np.ndarray       # indices of the digits behind Xs and Xt (MNIST test indices with real data)


def check_domains(Xs: np.ndarray, Xt: np.ndarray, what: str = "target") -> None:
    """Both domains go through one network: their images must have one shape."""
    if Xs.shape[1:] != Xt.shape[1:]:
        raise UserError(f"source images have shape {Xs.shape[1:]} but {what} images have {Xt.shape[1:]}; "
                        "both domains must share (C, H, W) (resize one of them)")


def _rgb(gray_uint8: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 -> (N, 3, H, W) float32 in {0, 1}: the binarised digit (any ink), in all three channels.
    Binarised as the course and Ganin's reference do: MNIST-M's ink is a binary mask too."""
    return np.repeat((gray_uint8[:, None] > 0).astype(np.float32), 3, axis=1)


def digits_behind(files: list[Path], n_digits: int) -> np.ndarray | None:
    """The MNIST test indices under real MNIST-M test images: Ganin's MNIST-M test image k is MNIST test digit
    k over a BSDS500 patch, and its file is numbered k (here the ink of image k lines up with digit k, and
    the labels agree). None when the file names are not such numbers."""
    try:
        idx = np.array([int(f.stem) for f in files])
    except ValueError:
        return None
    return idx if len(idx) and idx.min() >= 0 and idx.max() < n_digits else None


def load_domains(args: argparse.Namespace, cache: Path) -> Domains:
    root = data_dir(args)
    Xt_real = yt_real = None
    if args.quick or root is None:
        X, y = load_digits()                                        # (1797, 1, 8, 8) in [0, 1]
        digits = np.rint(TF.resize(X[:, 0], 16) * 255).astype(np.uint8)
        digits[digits < 128] = 0        # the upscaled 8x8 digits are blurred: the ink is their darker half
        tr, te = stratified_split(y, 0.25, seed=args.seed)
        target_bg, desc_bg = texture_backgrounds(40, size=48, seed=args.seed), "procedural colour textures"
        desc = ("scikit-learn digits at 16x16 (source, 75/25 split) -> the same digits composited over "
                "procedural colour textures (target; no real MNIST-M in --quick)")
    else:
        mnist_root = root / "mnist" if (root / "mnist").is_dir() else root
        try:                                                 # the official training images, when present
            train_set = open_dataset(args, MNIST, mnist_root, train=True)
        except UserError as e:
            if not isinstance(e.__cause__, FileNotFoundError):
                raise                                        # present but corrupt: say so
            train_set = None
        # else the test images (missing or corrupt files: user errors naming them)
        test = open_dataset(args, MNIST, mnist_root, train=False) if train_set is None else None
        mdir = Path(args.mnistm_dir) if args.mnistm_dir else root / "mnist_m"
        try:
            real = MNISTM(mdir)
        except FileNotFoundError as e:
            raise UserError(str(e)) from e
        if train_set is not None:                            # as the paper: 55,000 train / 5,000 held out
            digits, y = train_set.data, train_set.targets
            tr, te = stratified_split(y, 1 / 12, seed=args.seed)
            source = f"the official training images ({len(tr)} train / {len(te)} held out)"
        else:
            digits, y = test.data, test.targets
            # honesty: the real MNIST-M test images are drawn over MNIST *test* digits, the very images the
            # source comes from here; those digits are left out of the source and of the synthetic target
            behind = digits_behind(real.files, len(digits))
            keep = np.setdiff1d(np.arange(len(digits)), behind if behind is not None else [])
            if len(keep) < 1000:
                raise UserError(f"only {len(keep)} MNIST test digits are not behind the {len(real)} real MNIST-M "
                                f"images of {mdir}: too few to train on (give fewer real images)")
            tr_, te_ = stratified_split(y[keep], 0.2, seed=args.seed)
            tr, te = keep[tr_], keep[te_]
            excluded = (f"the {len(behind)} digits behind the real MNIST-M images left out" if behind is not None
                        else "the digits behind the real MNIST-M images could not be identified (file names are "
                        "not MNIST test indices), so none are left out")
            source = (f"a seeded stratified 80/20 split of the official TEST images, as the training images are "
                      f"absent ({excluded}: {len(tr)} train / {len(te)} held out)")
        bsds = Path(args.bsds_dir) if args.bsds_dir else root / "bsds500" / "train"
        try:
            target_bg, desc_bg = load_backgrounds(bsds), f"BSDS500 train images ({bsds})"
        except FileNotFoundError as e:
            raise UserError(str(e)) from e
        # the 32x32 real images are Ganin's 28x28 ones with a 2-pixel border (the ink lines up with the MNIST
        # digit padded by 2, not upscaled): crop the centre, do not resize (that would shrink the digits)
        Xt_real, yt_real = TF.center_crop(TF.to_tensor_batch(real.data), digits.shape[-1]), real.targets
        desc = (f"MNIST from {mnist_root}: source = {source}; target: MNIST-M synthesised from {desc_bg}; real "
                f"MNIST-M test images: {len(yt_real)} from {mdir}")
    # the target's training images are synthesised from the source's training digits (as MNIST-M's are
    # from MNIST's), its held-out images from the held-out digits; the seeds differ from the split's
    Xt_u8, path, hit = synthesize_mnistm_cached(digits[tr], target_bg, cache, seed=args.seed + 1)
    Xt_test_u8, _, _ = synthesize_mnistm_cached(digits[te], target_bg, cache, seed=args.seed + 2)
    print(f"synthetic MNIST-M from {desc_bg}: {'read from' if hit else 'written to'} the cache {path}")
    Xs, Xs_test = _rgb(digits[tr]), _rgb(digits[te])
    Xt, Xt_test = TF.to_tensor_batch(Xt_u8), TF.to_tensor_batch(Xt_test_u8)
    for X, what in ((Xt, "target"), (Xt_test, "target test"), (Xt_real, "real MNIST-M")):
        if X is not None:
            check_domains(Xs, X, what)
    # Ganin & Lempitsky's preprocessing: subtract the per-channel mean of all training images (both
    # domains); pixels stay in [0, 1] units
    mean = np.concatenate([Xs, Xt]).mean(axis=(0, 2, 3), keepdims=True)
    norm = lambda X: None if X is None else (X - mean).astype(np.float32)  # noqa: E731
    return Domains(norm(Xs), y[tr], norm(Xs_test), y[te], norm(Xt), norm(Xt_test), y[te], norm(Xt_real),
                   yt_real, desc, tr)
