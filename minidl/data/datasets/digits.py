"""scikit-learn's bundled handwritten digits: the embedded default image set (no download, no data dir).

1,797 images of 8x8 pixels with values 0..16 (UCI "optdigits" test part: 32x32 bitmaps counted in
4x4 blocks), 10 classes. ``load_digits`` returns them as ``(N, 1, 8, 8)`` float32 in [0, 1]
(divided by 16), ready for a CNN, with int64 labels.
"""
from __future__ import annotations

import numpy as np

from minidl.data.dataset import TensorDataset


def load_digits(*, as_dataset: bool = False) -> tuple[np.ndarray, np.ndarray] | TensorDataset:
    """``(X: (1797, 1, 8, 8) float32 in [0, 1], y: (1797,) int64)``, or a ``TensorDataset`` of them."""
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    X = (bunch.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return TensorDataset(X, y) if as_dataset else (X, y)
