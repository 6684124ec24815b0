"""Datasets: anything with ``__getitem__`` and ``__len__`` (``torch.utils.data`` semantics).

    ds = TensorDataset(X, y)              # X: (N, ...), y: (N,)
    x0, y0 = ds[0]                        # one sample: a tuple of ndarrays
    train, val = random_split(ds, [0.8, 0.2], generator=minidl.Generator(0))

Samples are plain ndarrays / numbers; the DataLoader's collate turns a batch of them into
``minidl.Tensor``s. In-memory datasets also have ``get_batch(indices)``, which gathers a whole
batch with one fancy-indexing call instead of a Python loop over samples: the DataLoader uses it
whenever it is there (the "fast path"), which matters when an epoch is 50,000 images.
``get_batch`` is minidl's own name, *not* torch's ``__getitems__``: that one returns a list of
samples, ours returns the already-stacked fields.
"""
from __future__ import annotations

import bisect
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor

Batch = tuple[np.ndarray, ...]


class Dataset:
    """Base class: subclasses implement ``__getitem__(i)`` and ``__len__()``.

    ``ds1 + ds2`` concatenates, as in torch.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


def _as_array(x: Any) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def _check_indices(indices: np.ndarray, n: int, name: str) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"{name}: index {bad} is out of range for a dataset of {n} samples")
    return idx


class ImageArrayDataset(Dataset):
    """Base of the file readers that hold a whole split in memory (MNIST, CIFAR-10): ``self.data``
    (images), ``self.targets`` (int64 labels) and optional ``transform``/``target_transform``.

    A sample is ``(transform(data[i]), target_transform(targets[i]))``; ``get_batch`` gathers many at
    once (one fancy-index without transforms, else sample by sample), which the DataLoader uses.
    """

    data: np.ndarray
    targets: np.ndarray
    transform: Any = None
    target_transform: Any = None

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        """The settings every reader shares; subclasses then read their files into data/targets."""
        self.root = Path(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()

    def download(self) -> None:  # pragma: no cover - every reader defines its own
        raise NotImplementedError(f"{type(self).__name__} cannot download")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of samples ``indices``."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.transform is None and self.target_transform is None:
            return self.data[idx], self.targets[idx]
        samples = [self[int(i)] for i in idx]
        return np.stack([np.asarray(s[0]) for s in samples]), np.asarray([s[1] for s in samples])


class TensorDataset(Dataset):
    """Samples are ``tuple(t[i] for t in tensors)``; every tensor has the same first dimension N.

    Accepts minidl Tensors or ndarrays (stored as ndarrays, sharing memory).
    ``tensors``: the stored arrays, as torch's attribute of the same name.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = tuple(_as_array(t) for t in tensors)
        if any(a.ndim == 0 for a in arrays):
            raise ValueError("TensorDataset: 0-d tensors have no samples")
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) != 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"Size mismatch between tensors: {shapes} (the first dimensions differ)")
        self.tensors: tuple[np.ndarray, ...] = arrays

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> Batch:
        """The fields of samples ``indices``, stacked: ``tuple(t[indices] for t in tensors)``."""
        idx = _check_indices(np.asarray(indices), len(self), "TensorDataset.get_batch")
        return tuple(a[idx] for a in self.tensors)


class ArrayDataset(TensorDataset):
    """A ``TensorDataset`` whose first field (the input) goes through transforms. (minidl only.)

    - ``transform``: applied to one input sample in ``ds[i]`` (e.g. a ``transforms.Compose``);
    - ``batch_transform``: applied to a whole stacked input batch ``(B, ...)`` in ``get_batch``
      (e.g. ``transforms.random_crop_batch``), so augmentation stays vectorised on the fast path.

    ``get_batch`` uses ``batch_transform`` when given; otherwise, if ``transform`` is given, it
    falls back to transforming sample by sample and stacking. ``ds[i]`` uses ``transform`` only.
    """

    def __init__(self, *arrays: Any, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 batch_transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        super().__init__(*arrays)
        self.transform = transform
        self.batch_transform = batch_transform

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        sample = super().__getitem__(index)
        if self.transform is None:
            return sample
        return (self.transform(sample[0]),) + sample[1:]

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> Batch:
        fields = super().get_batch(indices)
        x = fields[0]
        if self.batch_transform is not None:
            x = self.batch_transform(x)
        elif self.transform is not None:
            x = np.stack([self.transform(xi) for xi in x]) if len(x) else x
        return (x,) + fields[1:]


class Subset(Dataset):
    """The samples ``dataset[indices[k]]``, k = 0..len(indices)-1."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = _check_indices(np.asarray(indices, dtype=np.int64).reshape(-1), len(dataset), "Subset")

    def __getitem__(self, index: int | list[int]) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return [self.dataset[int(self.indices[i])] for i in index]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: expose the fast path if the parent has one.
        if name == "get_batch" and hasattr(self.__dict__.get("dataset"), "get_batch"):
            return self._get_batch
        raise AttributeError(name)

    def _get_batch(self, indices: Sequence[int] | np.ndarray) -> Batch:
        idx = _check_indices(np.asarray(indices), len(self), "Subset.get_batch")
        return self.dataset.get_batch(self.indices[idx])


class ConcatDataset(Dataset):
    """Datasets one after the other: index i falls in the first dataset whose cumulative size exceeds it."""

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes: list[int] = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            if -index > n:
                raise ValueError("absolute value of index should not exceed dataset length")
            index += n
        if index >= n:
            raise IndexError(f"index {index} is out of range for a ConcatDataset of {n} samples")
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if k == 0 else self.cumulative_sizes[k - 1]
        return self.datasets[k][index - start]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer lengths from ``lengths`` (ints summing to n, or fractions summing to 1).

    Fractions: floor(n * f) each, then the remainder is handed out one by one from the first
    split (torch's rule), so the sizes always add up to n.
    """
    lengths = list(lengths)
    if all(isinstance(x, (int, np.integer)) for x in lengths) and sum(lengths) == n:
        return [int(x) for x in lengths]
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1.0 + 1e-12:
        if any(f < 0 or f > 1 for f in lengths):
            raise ValueError(f"Fraction lengths must be in [0, 1], got {lengths}")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        return sizes
    raise ValueError(f"Sum of input lengths ({sum(lengths)}) does not equal the length of the input "
                     f"dataset ({n}), and they are not fractions summing to 1")


def random_split(dataset: Any, lengths: Sequence[float], generator: _random.Generator | None = None
                 ) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths.

    ``lengths``: ints summing to ``len(dataset)``, or fractions summing to 1. The permutation is
    drawn from ``generator`` (default: the global one, ``minidl.manual_seed``).
    """
    sizes = _split_lengths(len(dataset), lengths)
    perm = _random.generator(generator).permutation(len(dataset))
    out, start = [], 0
    for s in sizes:
        out.append(Subset(dataset, perm[start:start + s]))
        start += s
    return out


def stratified_split(targets: Sequence[int] | np.ndarray, test_fraction: float = 0.2, *, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified train/test indices: each class keeps ``test_fraction`` of its samples for test.

    Class c with n_c samples puts ``round(n_c * test_fraction)`` of them, chosen at random, in the
    test part. Returns ``(train_idx, test_idx)``, each sorted, disjoint, together covering every index.
    (minidl helper, for sets that ship without a split, e.g. the 8,000-image CIFAR-10 folder.)
    """
    y = np.asarray(targets)
    if y.ndim != 1:
        raise ValueError(f"stratified_split: targets must be 1-D, got shape {y.shape}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"stratified_split: test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = int(round(len(members) * test_fraction))
        test.append(rng.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    mask = np.ones(len(y), bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def split_dataset(dataset: Any, test_fraction: float = 0.2, *, seed: int = 0) -> tuple[Subset, Subset]:
    """``(train, test)`` Subsets of a dataset with a ``targets`` attribute, split by ``stratified_split``."""
    if not hasattr(dataset, "targets"):
        raise TypeError(f"split_dataset needs a dataset with a `targets` attribute, got {type(dataset).__name__}")
    tr, te = stratified_split(np.asarray(dataset.targets), test_fraction, seed=seed)
    return Subset(dataset, tr), Subset(dataset, te)


def to_arrays(dataset: Any, *, progress: bool = False) -> tuple[np.ndarray, ...]:
    """Read every sample once and stack each field: ``(X: (N, ...), y: (N,))`` for ``(x, y)`` samples.

    Use it to turn a file-backed dataset (ImageFolder, MNIST with a transform) into arrays for a
    ``TensorDataset``, so later epochs take the vectorised fast path instead of decoding again.
    Integer targets become int64.
    """
    n = len(dataset)
    if n == 0:
        raise ValueError(f"to_arrays: {type(dataset).__name__} is empty")
    if hasattr(dataset, "get_batch"):
        fields = dataset.get_batch(np.arange(n))
    else:
        it = range(n)
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"reading {type(dataset).__name__}", unit="img")
        samples = [dataset[i] for i in it]
        if not isinstance(samples[0], (tuple, list)):
            samples = [(s,) for s in samples]
        fields = tuple(_stack_field([np.asarray(s[k]) for s in samples], k, dataset) for k in range(len(samples[0])))
    return tuple(f.astype(np.int64) if f.ndim == 1 and f.dtype.kind in "iu" else f for f in fields)


def _stack_field(values: list[np.ndarray], k: int, dataset: Any) -> np.ndarray:
    shapes = {v.shape for v in values}
    if len(shapes) > 1:
        raise ValueError(f"to_arrays: field {k} of {type(dataset).__name__} has samples of {len(shapes)} different "
                         f"shapes (e.g. {sorted(shapes)[:3]}); give the dataset a transform that makes them "
                         "one size (Resize + CenterCrop)")
    return np.stack(values)
