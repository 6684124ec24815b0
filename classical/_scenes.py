"""A procedurally generated "scenes" data set: textures with distinct gradient statistics.

The embedded default of the bag-of-words chapter (``python -m examples bow --quick``), so the whole
SIFT -> dictionary -> BoW -> SVM pipeline runs with no download. Each class is a texture family whose
*local gradient statistics* differ, which is exactly what dense SIFT + BoW can see:

==================  ================================================================
class               what the SIFTs see
==================  ================================================================
horizontal_stripes  one gradient orientation (vertical), jittered by +-12 degrees
vertical_stripes    one orientation (horizontal), +-12 degrees
diagonal_stripes    one diagonal orientation (45 or 135 degrees, +-12)
checkerboard        two orthogonal orientations everywhere (a rotated grid)
rings               every orientation, organised around a centre
blobs               smooth Gaussian bumps: weak, slowly turning gradients
fine_noise          strong gradients, every orientation, no structure
rectangles          sparse horizontal + vertical edges between flat areas (null patches)
==================  ================================================================

Every image also draws its own frequency, phase, contrast and mean level, plus additive Gaussian
noise, so no two images are alike and the task is not trivial. Values are float64 in [0, 255].
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

SCENE_CLASSES = ("horizontal_stripes", "vertical_stripes", "diagonal_stripes", "checkerboard",
                 "rings", "blobs", "fine_noise", "rectangles")


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return y, x


def _stripes(rng: np.random.Generator, size: int, angle_deg: float) -> np.ndarray:
    """Sinusoidal stripes whose *gradient* points along angle_deg (0 = along +x), in [-1, 1]."""
    y, x = _coords(size)
    theta = np.deg2rad(angle_deg + rng.uniform(-12, 12))
    period = rng.uniform(6, 16)
    u = x * np.cos(theta) + y * np.sin(theta)
    return np.sin(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi))


def _texture(rng: np.random.Generator, name: str, size: int) -> np.ndarray:
    """One texture of class ``name``, roughly in [-1, 1]."""
    y, x = _coords(size)
    if name == "horizontal_stripes":
        return _stripes(rng, size, 90.0)
    if name == "vertical_stripes":
        return _stripes(rng, size, 0.0)
    if name == "diagonal_stripes":
        return _stripes(rng, size, float(rng.choice([45.0, 135.0])))
    if name == "checkerboard":
        theta = np.deg2rad(rng.uniform(-12, 12))
        period = rng.uniform(8, 20)
        u = x * np.cos(theta) + y * np.sin(theta)
        v = -x * np.sin(theta) + y * np.cos(theta)
        return np.sign(np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period))
    if name == "rings":
        cy, cx = rng.uniform(0, size, 2)
        r = np.hypot(y - cy, x - cx)
        return np.sin(2 * np.pi * r / rng.uniform(6, 14) + rng.uniform(0, 2 * np.pi))
    if name == "blobs":
        field = gaussian_filter(rng.standard_normal((size, size)), sigma=rng.uniform(5, 9), mode="wrap")
        return field / (np.abs(field).max() + 1e-12)
    if name == "fine_noise":
        field = gaussian_filter(rng.standard_normal((size, size)), sigma=rng.uniform(0.6, 1.2))
        return np.clip(field / (3 * field.std() + 1e-12), -1, 1)
    if name == "rectangles":
        img = np.full((size, size), rng.uniform(-0.5, 0.5))
        for _ in range(rng.integers(6, 14)):
            h, w = rng.integers(size // 10, size // 2, 2)
            top, left = rng.integers(0, size - h), rng.integers(0, size - w)
            img[top:top + h, left:left + w] = rng.uniform(-1, 1)
        return img
    raise ValueError(f"unknown scene class {name!r}; choose among {SCENE_CLASSES}")


def make_scenes(n_per_class: int = 20, size: int = 128, n_classes: int = len(SCENE_CLASSES), seed: int = 0,
                noise: float = 4.0, clutter: float = 0.0) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Generate ``n_per_class`` images of ``size`` x ``size`` for each of the first ``n_classes`` classes.

    Each image: ``mean + contrast * texture + N(0, noise^2)``, clipped to [0, 255], with mean in
    [90, 165] and contrast in [35, 90] drawn per image. Deterministic given ``seed``.

    ``clutter`` > 0 makes the task harder, as real scenes are: a texture of another class, drawn at
    random, is blended in with a weight ~ U(0, clutter) (the image's own texture keeps weight 1), so the
    word histograms of different classes overlap.

    Returns ``(images, labels, class_names)``: a list of (size, size) float64 arrays, (N,) int64 labels
    (class-major order), and the class names (``SCENE_CLASSES[:n_classes]``).
    """
    if not 1 <= n_classes <= len(SCENE_CLASSES):
        raise ValueError(f"n_classes must be in 1..{len(SCENE_CLASSES)}, got {n_classes}")
    if n_per_class < 1 or size < 1:
        raise ValueError(f"n_per_class and size must be >= 1, got {n_per_class} and {size}")
    rng = np.random.default_rng(seed)
    names = list(SCENE_CLASSES[:n_classes])
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        for _ in range(n_per_class):
            t = _texture(rng, name, size)
            if clutter > 0:
                other = names[(label + rng.integers(1, len(names))) % len(names)] if len(names) > 1 else name
                t = t + rng.uniform(0, clutter) * _texture(rng, other, size)
            img = rng.uniform(90, 165) + rng.uniform(35, 90) * t + noise * rng.standard_normal((size, size))
            images.append(np.clip(img, 0.0, 255.0))
            labels.append(label)
    return images, np.asarray(labels, dtype=np.int64), names
