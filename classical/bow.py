"""The visual dictionary and the bag of (visual) words, the course's way, plus the spatial pyramid.

    >>> from classical.bow import build_dictionary, BagOfWords
    >>> words = build_dictionary(train_sifts, k=1000)          # (1001, 128): 1000 words + the null word
    >>> bow = BagOfWords(words).fit(train_sifts)                # or BagOfWords(1000) to build it in fit
    >>> H = bow.transform(sifts)                                # (n_images, 1001), L2-normalised

**Dictionary** (``build_dictionary``). k-means (``classical.kmeans.KMeans``, k-means++ seeding) with
k words on a random ``fraction`` (5 %) of the *non-zero* SIFTs of the training images, drawn
uniformly over all of them. Flat patches have the zero descriptor (the SIFT threshold); rather than
let them pull a centre towards 0, they get their own word: the **null word**, the zero vector,
appended as the *last* row. The dictionary therefore has k + 1 words, and a flat patch, at distance
0 from the null word, always lands on it.

**Encoding** (``BagOfWords``). Each descriptor x_i of an image is given weights a_ij over the words:

- ``assignment='hard'``: a_ij = 1 for the nearest word j (||x - w||^2 expanded as in k-means), else 0;
- ``assignment='soft'``: a_ij = exp(-beta ||x_i - w_j||^2) / sum_j' exp(-beta ||x_i - w_j'||^2)
  (the "kernel codebook" of van Gemert et al. 2008; ``soft_beta`` = beta);

then pooled over the image, h_j = sum_i a_ij (``pooling='sum'``) or max_i a_ij (``'max'``), and the
histogram is normalised: ``norm='l2'`` (the course), ``'l1'`` or None.

**Spatial pyramid** (Lazebnik, Schmid & Ponce, CVPR 2006), ``pyramid_levels=L``: at level l the
image is cut into 2^l x 2^l cells and one histogram is pooled per cell; the 1 + 4 + ... + 4^L
histograms are weighted and concatenated (level 0 first, cells in row-major order). The paper's
weights: 1/2^L for level 0 and 1/2^(L-l+1) for level l >= 1, i.e. 1/4, 1/4, 1/2 for L = 2: finer
levels count more, since a match in a small cell is worth more. The weights sum to 1, so with
``norm='l1'`` (divide by the total mass = the number of patches, as the paper normalises) the
histogram-intersection kernel on our vectors *is* the paper's pyramid match kernel. ``norm`` is
applied to the whole concatenated vector. ``L = 0`` is the plain bag of words.

**Input.** ``fit``/``transform`` take a list with one array per image:
(n_patches, d) descriptors for the plain bag of words, or the dense grid (n_y, n_x, d) that
``classical.sift.dense_sift`` returns. The pyramid needs the grid: patch (i, j) falls in cell
(floor(i 2^l / n_y), floor(j 2^l / n_x)) at level l. Since the grid is regular (a patch every 8 px)
this is the same as cutting the image at its patch centres.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from classical.kmeans import KMeans, nearest_centers

__all__ = ["build_dictionary", "sample_nonzero", "BagOfWords", "pyramid_cells", "pyramid_weights"]


# ------------------------------------------------------------------------------------------------
# The dictionary
# ------------------------------------------------------------------------------------------------


def _flat(desc: np.ndarray, who: str, i: int) -> np.ndarray:
    """One image's descriptors as (n_patches, d); (n_y, n_x, d) grids are flattened row-major."""
    a = np.asarray(desc)
    if a.ndim == 3:
        a = a.reshape(-1, a.shape[-1])
    if a.ndim != 2:
        raise ValueError(f"{who}: image {i}: expected descriptors (n_patches, d) or a grid (n_y, n_x, d), "
                         f"got shape {np.shape(desc)}")
    return a


def sample_nonzero(descriptors_list: Sequence[np.ndarray], fraction: float = 0.05, seed: int = 0,
                   min_count: int = 1) -> np.ndarray:
    """A uniform random ``fraction`` of all the non-zero descriptors (rows), without replacement.

    descriptors_list: one (n_i, d) or (n_y, n_x, d) array per image. Returns (m, d) with
    m = max(round(fraction * n_nonzero), min_count) (capped at n_nonzero), in the input's order.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    flats = [_flat(d, "sample_nonzero", i) for i, d in enumerate(descriptors_list)]
    if not flats:
        raise ValueError("sample_nonzero: no images")
    dims = {f.shape[1] for f in flats}
    if len(dims) != 1:
        raise ValueError(f"sample_nonzero: images have different descriptor sizes {sorted(dims)}")
    nonzero = [np.flatnonzero(np.any(f != 0, axis=1)) for f in flats]
    counts = np.array([len(nz) for nz in nonzero])
    total = int(counts.sum())
    m = min(total, max(int(round(fraction * total)), min_count))
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(total, size=m, replace=False))        # global indices among non-zeros
    owner = np.searchsorted(np.cumsum(counts), picked, side="right")   # which image each comes from
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.empty((m, flats[0].shape[1]), flats[0].dtype)
    for img in np.unique(owner):
        sel = owner == img
        out[sel] = flats[img][nonzero[img][picked[sel] - starts[img]]]
    return out


def build_dictionary(descriptors_list: Sequence[np.ndarray], k: int = 1000, fraction: float = 0.05,
                     seed: int = 0, *, max_iter: int = 300, tol: float = 1e-4, n_init: int = 1,
                     return_kmeans: bool = False) -> np.ndarray | tuple[np.ndarray, KMeans]:
    """The course's visual dictionary: k-means words on ``fraction`` of the non-zero SIFTs, + the null word.

    descriptors_list: the training images' descriptors, one (n_i, d) or (n_y, n_x, d) array each.
    Returns the (k + 1, d) dictionary (dtype of the descriptors): rows 0..k-1 are the k-means
    centres, row k is the null word (zeros). With ``return_kmeans`` also the fitted KMeans.
    Raises ValueError if there are fewer than k non-zero descriptors.
    """
    if not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    sample = sample_nonzero(descriptors_list, fraction, seed, min_count=k)
    if sample.shape[0] < k:
        raise ValueError(f"build_dictionary: only {sample.shape[0]} non-zero descriptors for k={k} words")
    km = KMeans(k, n_init=n_init, max_iter=max_iter, tol=tol, random_state=seed).fit(sample)
    words = np.vstack([km.cluster_centers_, np.zeros((1, sample.shape[1]), km.cluster_centers_.dtype)])
    return (words, km) if return_kmeans else words


# ------------------------------------------------------------------------------------------------
# The spatial pyramid's geometry
# ------------------------------------------------------------------------------------------------


def pyramid_weights(levels: int) -> np.ndarray:
    """Lazebnik et al.'s level weights, (levels + 1,): 1/2^L for l = 0, 1/2^(L-l+1) for l >= 1."""
    L = levels
    return np.array([1.0 / 2 ** L] + [1.0 / 2 ** (L - l + 1) for l in range(1, L + 1)])


def pyramid_cells(n_y: int, n_x: int, levels: int) -> np.ndarray:
    """Pyramid cell of every grid patch at every level, (levels + 1, n_y * n_x) int64.

    Row l gives, for patch (i, j) (row-major), the *global* cell index: the cells of the coarser
    levels come first (1 + 4 + ... + 4^(l-1) of them), then the 4^l cells of level l in row-major
    order, cell (floor(i 2^l / n_y), floor(j 2^l / n_x)).
    """
    i, j = np.divmod(np.arange(n_y * n_x), n_x)
    out = np.empty((levels + 1, n_y * n_x), np.int64)
    offset = 0
    for l in range(levels + 1):
        s = 2 ** l
        out[l] = offset + (i * s // n_y) * s + (j * s // n_x)
        offset += s * s
    return out


# ------------------------------------------------------------------------------------------------
# The encoder
# ------------------------------------------------------------------------------------------------


class BagOfWords(TransformerMixin, BaseEstimator):
    """Bag-of-visual-words encoder (scikit-learn transformer); see the module docstring.

    Parameters:
        dictionary: a (n_words, d) array of words, or an int k: ``fit`` then builds the course's
            dictionary (``build_dictionary(X, k, fraction, random_state)``, k + 1 words).
        assignment: 'hard' | 'soft'.  soft_beta: beta of the soft assignment (> 0; in 1/distance^2).
        pooling: 'sum' | 'max'.  norm: 'l2' | 'l1' | None.
        pyramid_levels: L >= 0 (0: plain BoW; 2: Lazebnik et al.'s 1 + 4 + 16 cells).
        fraction, random_state, max_iter: for building the dictionary when ``dictionary`` is an int.
        chunk_size: rows per block of the nearest-word search (None: automatic).

    Attributes after ``fit``: ``dictionary_ (n_words, d)``, ``n_words_``, ``n_features_out_``
    (= n_words * (1 + 4 + ... + 4^L)), ``kmeans_`` (when the dictionary was built here).
    """

    def __init__(self, dictionary: np.ndarray | int = 1000, *, assignment: str = "hard",
                 soft_beta: float = 10.0, pooling: str = "sum", norm: str | None = "l2",
                 pyramid_levels: int = 0, fraction: float = 0.05, random_state: int = 0,
                 max_iter: int = 300, chunk_size: int | None = None) -> None:
        self.dictionary = dictionary
        self.assignment = assignment
        self.soft_beta = soft_beta
        self.pooling = pooling
        self.norm = norm
        self.pyramid_levels = pyramid_levels
        self.fraction = fraction
        self.random_state = random_state
        self.max_iter = max_iter
        self.chunk_size = chunk_size

    def _check_params(self) -> None:
        if self.assignment not in ("hard", "soft"):
            raise ValueError(f"assignment must be 'hard' or 'soft', got {self.assignment!r}")
        if self.pooling not in ("sum", "max"):
            raise ValueError(f"pooling must be 'sum' or 'max', got {self.pooling!r}")
        if self.norm not in ("l2", "l1", None):
            raise ValueError(f"norm must be 'l2', 'l1' or None, got {self.norm!r}")
        if not isinstance(self.pyramid_levels, numbers.Integral) or not 0 <= self.pyramid_levels <= 4:
            raise ValueError(f"pyramid_levels must be an integer in 0..4, got {self.pyramid_levels!r}")
        if self.assignment == "soft" and not self.soft_beta > 0:
            raise ValueError(f"soft_beta must be > 0, got {self.soft_beta!r}")

    def fit(self, X: Sequence[np.ndarray], y=None) -> "BagOfWords":
        """Take the given dictionary, or build one from X (one descriptor array per training image)."""
        self._check_params()
        if isinstance(self.dictionary, numbers.Integral):
            words, self.kmeans_ = build_dictionary(X, int(self.dictionary), self.fraction, self.random_state,
                                                   max_iter=self.max_iter, return_kmeans=True)
        else:
            words = np.asarray(self.dictionary)
            if words.ndim != 2 or words.shape[0] < 1:
                raise ValueError(f"BagOfWords: dictionary must be (n_words, d), got shape {words.shape}")
            if not np.isfinite(words).all():
                raise ValueError(f"BagOfWords: dictionary of shape {words.shape} contains NaN or infinity")
        self.dictionary_ = np.array(words, dtype=np.float32 if words.dtype == np.float32 else np.float64)
        self.n_words_ = self.dictionary_.shape[0]
        self.n_features_in_ = self.dictionary_.shape[1]
        self.n_features_out_ = self.n_words_ * sum(4 ** l for l in range(self.pyramid_levels + 1))
        return self

    # -- encoding ----------------------------------------------------------------------------------

    def _validated(self, X: Sequence[np.ndarray], who: str) -> list[np.ndarray]:
        if not hasattr(self, "dictionary_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError(f"This BagOfWords instance is not fitted yet; call fit before {who}.")
        if isinstance(X, np.ndarray) and X.ndim == 2:
            raise ValueError(f"BagOfWords.{who}: expected a list with one descriptor array per image, got one "
                             f"2-D array of shape {X.shape}; wrap it in a list")
        out = []
        d = self.n_features_in_
        for i, a in enumerate(X):
            a = np.asarray(a)
            if a.ndim not in (2, 3) or a.shape[-1] != d:
                raise ValueError(f"BagOfWords.{who}: image {i}: expected (n_patches, {d}) or (n_y, n_x, {d}) "
                                 f"descriptors for a dictionary of shape {self.dictionary_.shape}, got {a.shape}")
            if self.pyramid_levels > 0 and a.ndim != 3:
                raise ValueError(f"BagOfWords.{who}: image {i}: pyramid_levels={self.pyramid_levels} needs the "
                                 f"patch grid (n_y, n_x, {d}), got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"BagOfWords.{who}: image {i}: descriptors of shape {a.shape} contain NaN or infinity")
            out.append(a)
        return out

    def assign(self, descriptors: np.ndarray) -> np.ndarray:
        """Nearest word of each descriptor. descriptors: (n, d) -> (n,) int32 word indices."""
        W = self.dictionary_
        desc = np.ascontiguousarray(descriptors, dtype=W.dtype)
        return nearest_centers(desc, W, chunk_size=self.chunk_size)[0]

    def soft_weights(self, descriptors: np.ndarray) -> np.ndarray:
        """Soft-assignment weights (n, n_words): softmax_j(-beta ||x_i - w_j||^2), rows summing to 1."""
        W = self.dictionary_.astype(np.float64)
        x = np.asarray(descriptors, np.float64)
        d2 = (x * x).sum(1)[:, None] - 2.0 * (x @ W.T) + (W * W).sum(1)[None, :]
        logits = -self.soft_beta * np.maximum(d2, 0.0)
        logits -= logits.max(axis=1, keepdims=True)   # stable softmax
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def transform(self, X: Sequence[np.ndarray]) -> np.ndarray:
        """X: one descriptor array per image -> (n_images, n_features_out_) float64 histograms."""
        self._check_params()
        images = self._validated(X, "transform")
        K = self.n_words_
        L = self.pyramid_levels
        n_cells = sum(4 ** l for l in range(L + 1))
        cell_weight = np.repeat(pyramid_weights(L), [4 ** l for l in range(L + 1)])  # (n_cells,)
        flats = [a.reshape(-1, a.shape[-1]) for a in images]
        labels_all = None
        if self.assignment == "hard" and flats:   # one chunked, threaded search for all the images
            labels_all = np.split(self.assign(np.concatenate(flats)), np.cumsum([len(f) for f in flats])[:-1])
        H = np.zeros((len(images), n_cells * K))
        for i, a in enumerate(images):
            n = flats[i].shape[0]
            if n == 0:
                continue
            cells = pyramid_cells(a.shape[0], a.shape[1], L) if L > 0 else np.zeros((1, n), np.int64)
            hist = np.zeros((n_cells, K))
            if self.assignment == "hard":
                words = labels_all[i]
                for level_cells in cells:                           # counts per (cell, word)
                    counts = np.bincount(level_cells * K + words, minlength=n_cells * K).reshape(n_cells, K)
                    hist += counts if self.pooling == "sum" else (counts > 0)
            else:
                A = self.soft_weights(flats[i])                      # (n, K)
                for level_cells in cells:
                    for c in np.unique(level_cells):
                        rows = A[level_cells == c]
                        hist[c] = rows.sum(0) if self.pooling == "sum" else rows.max(0)
            H[i] = (hist * cell_weight[:, None]).ravel()
        return _normalise(H, self.norm)


def _normalise(H: np.ndarray, norm: str | None) -> np.ndarray:
    """Row-wise L2 or L1 normalisation; all-zero rows (images with no patch) stay zero."""
    if norm is None:
        return H
    s = np.sqrt((H * H).sum(1)) if norm == "l2" else np.abs(H).sum(1)
    s[s == 0] = 1.0
    return H / s[:, None]
