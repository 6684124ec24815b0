"""ZCA whitening: decorrelate the pixels while staying as close as possible to the original image.

Fit on the training set only (N samples flattened to D features, ``X: (N, D)``):

    mu = mean(X, axis=0)                         the per-feature mean
    C  = (X - mu)^T (X - mu) / N                 covariance (the MLE, 1/N)
    C  = U diag(S) U^T                           eigendecomposition (C is symmetric PSD)
    W  = U diag(1 / sqrt(S + eps)) U^T  = (C + eps I)^(-1/2)

then apply ``z = (x - mu) W`` to any sample (W is symmetric). With eps = 0 the whitened training
data has covariance ``W C W = I`` exactly; with eps > 0 it is ``U diag(S / (S + eps)) U^T``, which
damps the low-variance directions (pixel noise) instead of blowing them up. Among all whitening
matrices, the symmetric one (ZCA, "zero-phase") is the one that keeps z closest to x - mu, so the
whitened images still look like (edge-enhanced) images.

``eps`` is in the units of the data's variance (components with variance well above eps are
whitened, those well below are damped); for pixels in [0, 1], values of 1e-2 (the default) to 1e-1
are the usual choice.
"""
from __future__ import annotations

import numpy as np


class ZCA:
    """``ZCA(eps).fit(X_train)``; then ``zca(X)`` / ``zca.transform(X)`` on train, validation or test.

    ``X: (N, ...)`` any sample shape (e.g. ``(N, C, H, W)``), flattened to D features internally; the
    output has X's shape and floating dtype. Statistics are computed in float64.
    Attributes after ``fit``: ``mean_ (D,)``, ``components_ = W (D, D)``, ``eigenvalues_ (D,)``.
    """

    def __init__(self, eps: float = 1e-2) -> None:
        if eps < 0:
            raise ValueError(f"ZCA: eps must be >= 0, got {eps}")
        self.eps = float(eps)
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None
        self.eigenvalues_: np.ndarray | None = None
        self.sample_shape_: tuple[int, ...] | None = None

    def fit(self, X: np.ndarray) -> "ZCA":
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[0] < 2:
            raise ValueError(f"ZCA.fit: expected (N, ...) with N >= 2 samples, got shape {X.shape}")
        flat = X.reshape(X.shape[0], -1).astype(np.float64)
        if not np.isfinite(flat).all():
            raise ValueError("ZCA.fit: X contains NaN or infinity")
        self.sample_shape_ = X.shape[1:]
        self.mean_ = flat.mean(axis=0)
        centred = flat - self.mean_
        cov = centred.T @ centred / flat.shape[0]
        S, U = np.linalg.eigh(cov)
        S = np.clip(S, 0.0, None)  # eigh can return tiny negative values for a PSD matrix
        if self.eps == 0 and S.min() <= 0:
            raise ValueError(f"ZCA.fit: the covariance is singular (rank < {cov.shape[0]}; N = {flat.shape[0]}); "
                             "use eps > 0")
        self.eigenvalues_ = S
        self.components_ = (U / np.sqrt(S + self.eps)) @ U.T
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.components_ is None or self.mean_ is None:
            raise RuntimeError("ZCA: call fit(X_train) before transform")
        X = np.asarray(X)
        if X.shape[1:] != self.sample_shape_:
            raise ValueError(f"ZCA.transform: samples of shape {X.shape[1:]}, but fitted on {self.sample_shape_}")
        out_dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        flat = X.reshape(X.shape[0], -1).astype(np.float64)
        z = (flat - self.mean_) @ self.components_
        return z.reshape(X.shape).astype(out_dtype)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """One sample ``(...)`` of the fitted shape, or a batch ``(N, ...)``."""
        X = np.asarray(X)
        if self.sample_shape_ is not None and X.shape == self.sample_shape_:
            return self.transform(X[None])[0]
        return self.transform(X)

    def __repr__(self) -> str:
        return f"ZCA(eps={self.eps})"
