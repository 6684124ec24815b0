"""Generated toy data sets (NumPy only) and the course's circles file.

These are the embedded defaults of the chapters: nothing is downloaded, every set is drawn from a
seeded generator. Labels are class indices (int64); ``one_hot`` turns them into the course's
one-hot matrices.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_circles(n: int = 200, *, noise: float = 0.12, factor: float = 0.4, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings, like the course's ``circles.mat``.

    Class 0 is the outer ring (radius 1), class 1 the inner one (radius ``factor``), with
    isotropic Gaussian noise of std ``noise``; half the points in each class.

    Returns ``X: (n, 2) float64`` and ``y: (n,) int64``.
    """
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t = rng.uniform(0.0, 2.0 * np.pi, size=n)
    r = np.concatenate([np.ones(n_out), np.full(n_in, factor)])
    X = np.stack([r * np.cos(t), r * np.sin(t)], axis=1) + rng.normal(0.0, noise, size=(n, 2))
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_moons(n: int = 200, *, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles. Returns ``X: (n, 2)``, ``y: (n,)``."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n - n0)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    X += rng.normal(0, noise, X.shape)
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n - n0, np.int64)])
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_blobs(n: int = 300, *, centers: int = 3, std: float = 0.6, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs around centres drawn in [-4, 4]^2. Returns ``X: (n, 2)``, ``y: (n,)``."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-4, 4, size=(centers, 2))
    y = np.arange(n, dtype=np.int64) % centers
    X = c[y] + rng.normal(0, std, size=(n, 2))
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_sinusoid(n: int = 25, *, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The course's regression data: x ~ U(0, 1), y = sin(2 pi x) + x + N(0, noise^2)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    return x, np.sin(2 * np.pi * x) + x + rng.normal(0, noise, n)


def one_hot(y: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``(n,)`` class indices -> ``(n, K)`` one-hot float64 matrix."""
    y = np.asarray(y)
    k = int(y.max()) + 1 if num_classes is None else num_classes
    out = np.zeros((y.shape[0], k))
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def load_circles_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read the course's ``circles.mat`` (MAT 5.0): ``Xtrain, Xtest (200, 2)``, one-hot ``Ytrain, Ytest``.

    Returns ``(X_train, y_train, X_test, y_test)`` with class-index labels (int64).
    Raises ``FileNotFoundError`` / ``ValueError`` naming the file when it is missing or malformed.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"circles data not found: {path}")
    try:
        d = loadmat(path)
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f"{path}: not a readable MAT file ({e})") from e
    missing = [k for k in ("Xtrain", "Ytrain", "Xtest", "Ytest") if k not in d]
    if missing:
        raise ValueError(f"{path}: missing variables {missing}")
    out = []
    for xk, yk in (("Xtrain", "Ytrain"), ("Xtest", "Ytest")):
        X, Y = np.asarray(d[xk], np.float64), np.asarray(d[yk])
        if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
            raise ValueError(f"{path}: {xk} {X.shape} and {yk} {Y.shape} do not match")
        out += [X, Y.argmax(axis=1).astype(np.int64)]
    return out[0], out[1], out[2], out[3]
