"""minidl.data building blocks, DataLoader, transforms and ZCA, against torch / torchvision / scipy.

References: torch.utils.data (split sizes, collate dtypes, loader lengths), torchvision's
functional transforms on the same arrays, PIL for Resize on uint8, scipy for ZCA's (C + eps I)^-1/2.
Dataset file readers are in tests/test_datasets.py.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl.data import (ArrayDataset, ChecksumError, ConcatDataset, CorruptFileError, DataLoader, Dataset,
                         Subset, TensorDataset, default_collate, default_data_dir, download_url,
                         numpy_collate, random_split, stratified_split, to_arrays)
from minidl.data import transforms as T
from minidl.data.transforms import functional as F

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _images(n: int = 4, c: int = 3, h: int = 13, w: int = 17, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, c, h, w), dtype=np.uint8)


# ============================================================================ datasets
def test_tensor_dataset_and_subset_concat() -> None:
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 3
    ds = TensorDataset(minidl.from_numpy(X), y)
    assert len(ds) == 10
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3, [6.0, 7.0])
    assert y3 == 0
    with pytest.raises(ValueError, match=r"\(10, 2\).*\(9,\)"):
        TensorDataset(X, y[:9])

    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[1][1] == y[2]
    with pytest.raises(IndexError):
        Subset(ds, [10])
    fields = sub.get_batch(np.array([2, 0]))  # the fast path composes the index maps
    np.testing.assert_array_equal(fields[0], X[[5, 7]])

    a = TensorDataset(np.arange(3))
    b = TensorDataset(np.arange(10, 15))
    cat = ConcatDataset([a, b])
    expected = list(range(3)) + list(range(10, 15))  # plain list concatenation is the reference
    assert len(cat) == 8
    assert [int(cat[i][0]) for i in range(8)] == expected
    assert int(cat[-1][0]) == 14
    with pytest.raises(IndexError):
        cat[8]
    assert len(a + b) == 8


@pytest.mark.filterwarnings("ignore:Length of split:UserWarning")  # torch warns about the empty split
@pytest.mark.parametrize("n, lengths", [(10, [0.5, 0.5]), (11, [0.7, 0.2, 0.1]), (7, [0.3, 0.3, 0.4]),
                                        (10, [3, 7]), (5, [1.0, 0.0])])
def test_random_split_sizes_like_torch(n: int, lengths: list) -> None:
    ours = random_split(TensorDataset(np.arange(n)), lengths, generator=minidl.Generator(0))
    ref = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in ref]
    allidx = np.concatenate([s.indices for s in ours])
    assert sorted(allidx.tolist()) == list(range(n))  # disjoint and covering


def test_random_split_seeded_and_errors() -> None:
    ds = TensorDataset(np.arange(50))
    a = random_split(ds, [0.8, 0.2], generator=minidl.Generator(3))
    b = random_split(ds, [0.8, 0.2], generator=minidl.Generator(3))
    c = random_split(ds, [0.8, 0.2], generator=minidl.Generator(4))
    np.testing.assert_array_equal(a[0].indices, b[0].indices)
    assert not np.array_equal(a[0].indices, c[0].indices)
    with pytest.raises(ValueError):
        random_split(ds, [10, 10])
    with pytest.raises(ValueError):
        torch.utils.data.random_split(range(50), [10, 10])  # torch raises the same type


def test_stratified_split() -> None:
    y = np.repeat(np.arange(4), [50, 30, 20, 10])
    tr, te = stratified_split(y, 0.2, seed=1)
    assert np.intersect1d(tr, te).size == 0 and len(tr) + len(te) == len(y)
    assert np.bincount(y[te]).tolist() == [10, 6, 4, 2]
    tr2, te2 = stratified_split(y, 0.2, seed=1)
    _, te3 = stratified_split(y, 0.2, seed=2)
    np.testing.assert_array_equal(te, te2)
    assert not np.array_equal(te, te3)


# ============================================================================ collate
def _assert_batch_like_torch(ours, ref) -> None:
    if isinstance(ref, torch.Tensor):
        arr = ours.numpy() if isinstance(ours, minidl.Tensor) else ours
        assert str(arr.dtype) == str(ref.dtype).replace("torch.", ""), (arr.dtype, ref.dtype)
        np.testing.assert_array_equal(arr, ref.numpy())
    elif isinstance(ref, dict):
        assert ours.keys() == ref.keys()
        for k in ref:
            _assert_batch_like_torch(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref)
        for o, r in zip(ours, ref):
            _assert_batch_like_torch(o, r)
    else:
        assert ours == ref


@pytest.mark.parametrize("make", [
    lambda i: (np.full((2, 3), i, np.float32), i),                      # image + Python int label
    lambda i: (np.full(4, i, np.float64), float(i) / 2),                # Python float -> float64
    lambda i: {"x": np.full((1, 2), i, np.uint8), "y": i, "flag": i % 2 == 0, "name": f"s{i}"},
    lambda i: [np.arange(3, dtype=np.int16) + i, np.float32(i)],        # NumPy float scalar keeps dtype
])
def test_default_collate_matches_torch(make) -> None:
    samples = [make(i) for i in range(5)]
    ref = torch.utils.data.default_collate(samples)
    ours = default_collate(samples)
    _assert_batch_like_torch(ours, ref)
    leaves = numpy_collate(samples)
    first = leaves["x"] if isinstance(leaves, dict) else leaves[0]
    assert isinstance(first, np.ndarray)


def test_collate_integer_labels_int64_and_errors() -> None:
    # minidl's rule (the issue's): integer labels of any NumPy width become int64 class indices.
    out = default_collate([(np.zeros(2, np.float32), np.uint8(i)) for i in range(3)])
    assert out[1].dtype == np.int64 and out[0].dtype == np.float32
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(4,\)|\(4,\).*\(3,\)"):
        default_collate([np.zeros(3), np.zeros(4)])


# ============================================================================ DataLoader
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), drop_last=st.booleans())
def test_loader_len_and_batch_sizes(n: int, bs: int, drop_last: bool) -> None:
    ds = TensorDataset(np.arange(n, dtype=np.float32), np.arange(n))
    loader = DataLoader(ds, batch_size=bs, drop_last=drop_last)
    ref = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)), batch_size=bs,
                                      drop_last=drop_last)
    assert len(loader) == len(ref) == (n // bs if drop_last else math.ceil(n / bs))
    sizes = [len(yb) for _, yb in loader]
    assert sizes == [len(b[0]) for b in ref]
    seen = np.concatenate([yb.numpy() for _, yb in loader]) if sizes else np.zeros(0)
    np.testing.assert_array_equal(seen, np.arange(len(seen)))  # no shuffle: in order


def test_loader_shuffle_reproducible_and_complete() -> None:
    n = 103
    ds = TensorDataset(np.arange(n) * 10, np.arange(n))

    def epochs(seed: int, k: int = 3) -> list[np.ndarray]:
        loader = DataLoader(ds, batch_size=16, shuffle=True, generator=minidl.Generator(seed))
        return [np.concatenate([yb.numpy() for _, yb in loader]) for _ in range(k)]

    a, b, c = epochs(5), epochs(5), epochs(6)
    for e in a:
        assert sorted(e.tolist()) == list(range(n))  # every sample exactly once per epoch
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)  # same seed, same epochs
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])  # epochs differ
    assert not np.array_equal(a[0], c[0])  # seeds differ
    # drop_last with shuffling: each epoch visits n - n % bs distinct samples
    loader = DataLoader(ds, batch_size=16, shuffle=True, drop_last=True, generator=minidl.Generator(0))
    e = np.concatenate([yb.numpy() for _, yb in loader])
    assert len(e) == 96 and len(np.unique(e)) == 96
    # without a generator, the global one drives shuffling
    minidl.manual_seed(11)
    g1 = np.concatenate([yb.numpy() for _, yb in DataLoader(ds, batch_size=50, shuffle=True)])
    minidl.manual_seed(11)
    g2 = np.concatenate([yb.numpy() for _, yb in DataLoader(ds, batch_size=50, shuffle=True)])
    np.testing.assert_array_equal(g1, g2)


class _CountingDataset(TensorDataset):
    calls = 0

    def __getitem__(self, index: int):
        type(self).calls += 1
        return super().__getitem__(index)


def test_loader_fast_path_equals_per_sample_path() -> None:
    X = np.random.default_rng(0).normal(size=(37, 3, 4, 4)).astype(np.float32)
    y = np.arange(37) % 5
    ds = _CountingDataset(X, y)
    fast = list(DataLoader(ds, batch_size=8, shuffle=True, generator=minidl.Generator(1)))
    assert _CountingDataset.calls == 0  # gathered with get_batch, never sample by sample
    slow = list(DataLoader(ds, batch_size=8, shuffle=True, generator=minidl.Generator(1),
                           collate_fn=lambda b: default_collate(b)))
    assert _CountingDataset.calls == 37
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert isinstance(xf, minidl.Tensor) and xf.dtype == np.float32 and yf.dtype == np.int64
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
    xb, yb = next(iter(DataLoader(ds, batch_size=4, collate_fn=numpy_collate)))
    assert isinstance(xb, np.ndarray) and yb.dtype == np.int64


def test_array_dataset_batch_transform() -> None:
    X = _images(6, 1, 8, 8).astype(np.float32)
    ds = ArrayDataset(X, np.arange(6), transform=F.hflip, batch_transform=lambda b: b[..., ::-1])
    np.testing.assert_array_equal(ds[2][0], X[2][..., ::-1])
    xb, yb = next(iter(DataLoader(ds, batch_size=6)))
    np.testing.assert_array_equal(xb.numpy(), X[..., ::-1])


class _SlowDataset(Dataset):
    """No get_batch; a random per-sample transform drawn from the global generator."""

    def __init__(self, n: int, random: bool = False) -> None:
        self.n, self.random = n, random

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        noise = minidl.random.generator().random() if self.random else 0.0
        if i == 13 and self.n == 14:
            raise CorruptFileError(f"/data/img{i}.png", "cannot decode image")
        return np.full(3, i + noise, np.float64), i


def test_loader_workers_same_batches_and_deterministic() -> None:
    ds = _SlowDataset(50)
    ref = list(DataLoader(ds, batch_size=7, shuffle=True, generator=minidl.Generator(2)))
    par = list(DataLoader(ds, batch_size=7, shuffle=True, generator=minidl.Generator(2), num_workers=2))
    assert len(par) == len(ref) == 8
    for (xa, ya), (xb, yb) in zip(ref, par):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    # random transforms in workers: seeded per batch, so independent of the worker count
    rnd = _SlowDataset(30, random=True)
    one = [x.numpy() for x, _ in DataLoader(rnd, batch_size=4, generator=minidl.Generator(9), num_workers=1)]
    two = [x.numpy() for x, _ in DataLoader(rnd, batch_size=4, generator=minidl.Generator(9), num_workers=2)]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    frac = np.concatenate([a[:, 0] % 1 for a in one])
    assert len(np.unique(frac)) == len(frac)  # workers do not replay one another's random stream
    # an error in a worker reaches the caller with its type and the file name
    with pytest.raises(CorruptFileError, match="img13.png"):
        list(DataLoader(_SlowDataset(14), batch_size=4, num_workers=2))
    # stopping early shuts the pool down without hanging
    it = iter(DataLoader(ds, batch_size=2, num_workers=2))
    next(it)
    it.close()


def test_loader_argument_errors() -> None:
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError):
        DataLoader(ds, sampler=[0, 1], shuffle=True)


# ============================================================================ transforms vs torchvision
def test_to_tensor_like_torchvision() -> None:
    rng = np.random.default_rng(0)
    for arr in (rng.integers(0, 256, (9, 11, 3), dtype=np.uint8),   # HWC uint8 -> CHW float32 / 255
                rng.integers(0, 256, (9, 11), dtype=np.uint8),      # HW -> 1HW
                rng.normal(size=(5, 6, 2)).astype(np.float32),      # float: unscaled, dtype kept
                rng.normal(size=(5, 6, 1))):                        # float64 stays float64
        ours, ref = T.ToTensor()(arr), TF.to_tensor(arr)
        assert isinstance(ours, np.ndarray) and ours.shape == tuple(ref.shape)
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours, ref.numpy())  # the same IEEE division: exact
    batch = rng.integers(0, 256, (4, 9, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.to_tensor_batch(batch), np.stack([TF.to_tensor(b).numpy() for b in batch]))


def test_normalize_like_torchvision() -> None:
    x = np.random.default_rng(1).random((3, 8, 9), dtype=np.float32)
    mean, std = [0.491, 0.482, 0.447], [0.202, 0.199, 0.201]
    ref = TF.normalize(torch.from_numpy(x.copy()), mean, std).numpy()
    np.testing.assert_array_equal(T.Normalize(mean, std)(x), ref)  # same float32 ops: exact
    with pytest.raises(ValueError):
        T.Normalize([0.5], [0.0])(x)
    with pytest.raises(TypeError):
        T.Normalize([0.5], [1.0])(x.astype(np.uint8))


@pytest.mark.parametrize("size", [5, (4, 7), (13, 17), (16, 20), (10, 3), [6]])
def test_center_crop_like_torchvision(size) -> None:
    img = _images(1, 3, 13, 17)[0]
    ref = TF.center_crop(torch.from_numpy(img), size if not isinstance(size, int) else [size]).numpy()
    np.testing.assert_array_equal(T.CenterCrop(size)(img), ref)


@pytest.mark.parametrize("padding, size, pad_if_needed", [(4, 28, False), ((2, 3), (20, 30), False),
                                                          ((1, 2, 3, 4), 14, False), (None, (30, 25), True),
                                                          (3, (20, 40), True)])
def test_random_crop_like_torchvision_at_fixed_offset(padding, size, pad_if_needed) -> None:
    img = _images(1, 3, 32, 32)[0][:, :24, :]  # (3, 24, 32): non-square
    crop = T.RandomCrop(size, padding=padding, pad_if_needed=pad_if_needed, fill=7,
                        generator=minidl.Generator(4))
    ours = crop(img)
    # replay the draw with an identically seeded generator, then let torchvision pad and crop there
    t = torch.from_numpy(img)
    if padding is not None:
        t = TF.pad(t, list(padding) if isinstance(padding, tuple) else [padding], fill=7)
    th, tw = crop.size
    if pad_if_needed and t.shape[-1] < tw:
        t = TF.pad(t, [tw - t.shape[-1], 0], fill=7)
    if pad_if_needed and t.shape[-2] < th:
        t = TF.pad(t, [0, th - t.shape[-2]], fill=7)
    i, j, h, w = T.RandomCrop.get_params(t.numpy(), crop.size, minidl.Generator(4))
    np.testing.assert_array_equal(ours, TF.crop(t, i, j, h, w).numpy())
    with pytest.raises(ValueError, match="larger than input"):
        T.RandomCrop(40)(img)


def test_random_crop_batch_matches_per_sample_crops() -> None:
    x = _images(64, 3, 10, 12)
    out = T.random_crop_batch(x, 8, padding=2, generator=minidl.Generator(0))
    rng = minidl.Generator(0).rng  # replay: offsets i (all samples), then j
    i, j = rng.integers(0, 14 - 8 + 1, 64), rng.integers(0, 16 - 8 + 1, 64)
    padded = TF.pad(torch.from_numpy(x), 2)
    for n in range(64):
        np.testing.assert_array_equal(out[n], TF.crop(padded[n], int(i[n]), int(j[n]), 8, 8).numpy())
    assert len(set(zip(i.tolist(), j.tolist()))) > 20  # offsets really vary per sample


def test_flips_like_torchvision() -> None:
    img = _images(1)[0]
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), TF.hflip(torch.from_numpy(img)).numpy())
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    x = _images(200, 2, 3, 5)
    out = T.hflip_batch(x, 0.5, generator=minidl.Generator(0))
    flipped = TF.hflip(torch.from_numpy(x)).numpy()
    is_flip = np.all(out == flipped, axis=(1, 2, 3))
    is_same = np.all(out == x, axis=(1, 2, 3))
    assert np.all(is_flip | is_same)
    assert 60 < is_flip.sum() < 140  # Binomial(200, 0.5): 6 sigma either side of 100 is 58..142


RESIZE_CASES = [((32, 48), 16), ((32, 48), (20, 30)), ((30, 20), (45, 31)), ((17, 23), 40),
                ((64, 64), (7, 50)), ((9, 13), (9, 13)), ((211, 307), (100, 33))]


@pytest.mark.parametrize("hw, size", RESIZE_CASES)
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_like_torchvision(hw, size, antialias) -> None:
    tv_size = size if not isinstance(size, int) else [size]
    x64 = np.random.default_rng(2).random((2, 3) + hw)
    ours = T.Resize(size, antialias=antialias)(x64)
    ref = TF.resize(torch.from_numpy(x64), tv_size, antialias=antialias).numpy()
    assert ours.shape == ref.shape and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-9)  # float64: tight
    x32 = x64.astype(np.float32)
    ours32 = T.Resize(size, antialias=antialias)(x32)
    ref32 = TF.resize(torch.from_numpy(x32), tv_size, antialias=antialias).numpy()
    assert ours32.dtype == np.float32
    # float32, values in [0, 1]: torch computes the source coordinates (up to ~300 here) in
    # float32, an error of ~300 * 2^-24 = 2e-5 px on each interpolation weight. atol 3e-5.
    np.testing.assert_allclose(ours32, ref32, rtol=0, atol=3e-5)


def test_resize_uint8_like_pil() -> None:
    from PIL import Image

    data = os.environ.get("MINIDL_DATA")
    scene = Path(data or "/nonexistent") / "15scene" / "train"
    if scene.is_dir():
        first = sorted(next(d for d in sorted(scene.iterdir()) if d.is_dir()).iterdir())[0]
        img = np.asarray(Image.open(first).convert("L"))
    else:
        img = np.random.default_rng(3).integers(0, 256, (211, 307), dtype=np.uint8)
    H, W = img.shape
    for size in (100, (64, 90), (H + 31, W // 3)):
        ours = F.resize(img, size)
        oh, ow = ours.shape
        ref = np.asarray(Image.fromarray(img).resize((ow, oh), Image.BILINEAR)).astype(np.int64)
        tv = TF.resize(torch.from_numpy(img[None].copy()), size if not isinstance(size, int) else [size])[0]
        assert ours.shape == tuple(tv.shape) and ours.dtype == np.uint8
        # torchvision's uint8 path: the same filter in float, rounded once. Ties (x.5 exactly, after
        # float error) may round either way: at most 1 grey level on under 0.1% of the pixels.
        d_tv = ours.astype(np.int64) - tv.numpy()
        assert np.abs(d_tv).max() <= 1 and (d_tv != 0).mean() < 1e-3, (size, (d_tv != 0).mean())
        # PIL rounds to uint8 between its horizontal and vertical passes (half up): up to 1 grey
        # level apart on ~10-20% of pixels. Replaying that double rounding with our weights gives
        # PIL's pixels (bar <1% of fixed-point ties): our filter weights are PIL's.
        assert np.abs(ours.astype(np.int64) - ref).max() <= 1
        h = np.floor(img @ F.resample_matrix(W, ow).T + 0.5) if ow != W else img
        v = np.floor(F.resample_matrix(H, oh) @ h + 0.5) if oh != H else h
        assert (v != ref).mean() < 0.01, (size, (v != ref).mean())


def test_compose_lambda_pad() -> None:
    img = _images(1, 3, 32, 32)[0].transpose(1, 2, 0)  # HWC uint8, as read from a file
    tf = T.Compose([T.ToTensor(), T.Pad(2), T.CenterCrop(28), T.Lambda(lambda a: a * 2)])
    ref = TF.center_crop(TF.pad(TF.to_tensor(img), 2), [28]) * 2
    np.testing.assert_array_equal(tf(img), ref.numpy())
    with pytest.raises(TypeError):
        T.Lambda(3)


# ============================================================================ ZCA
def test_zca_whitens_training_set_eps_zero() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    X = rng.normal(size=(500, 6)) @ A + 3.0  # correlated features, non-zero mean
    Z = T.ZCA(eps=0.0).fit_transform(X)
    cov = np.cov(Z, rowvar=False, bias=True)
    np.testing.assert_allclose(cov, np.eye(6), rtol=0, atol=1e-9)  # closed form: W C W = I
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)


def test_zca_matches_inverse_matrix_square_root_and_uses_fitted_stats() -> None:
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    X_train = rng.normal(size=(300, 2, 2, 2)) * np.linspace(0.1, 2, 8).reshape(1, 2, 2, 2)
    X_test = rng.normal(size=(40, 2, 2, 2)) + 1.0
    eps = 0.1
    zca = T.ZCA(eps=eps).fit(X_train)
    flat = X_train.reshape(300, -1)
    mu = flat.mean(axis=0)
    C = np.cov(flat, rowvar=False, bias=True)
    W_ref = np.linalg.inv(np.real(sqrtm(C + eps * np.eye(8))))  # (C + eps I)^(-1/2), by scipy
    np.testing.assert_allclose(zca.components_, W_ref, rtol=1e-7, atol=1e-9)
    expected = ((X_test.reshape(40, -1) - mu) @ W_ref).reshape(X_test.shape)
    np.testing.assert_allclose(zca.transform(X_test), expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(zca(X_test[0]), expected[0], rtol=1e-7, atol=1e-9)
    # transforming other data never refits
    before = zca.components_.copy()
    zca.transform(X_test * 100)
    np.testing.assert_array_equal(zca.components_, before)
    # eps > 0: the whitened training covariance is U diag(S / (S + eps)) U^T (closed form)
    S, U = np.linalg.eigh(C)
    cov_z = np.cov(zca.transform(X_train).reshape(300, -1), rowvar=False, bias=True)
    np.testing.assert_allclose(cov_z, (U * (S / (S + eps))) @ U.T, rtol=1e-7, atol=1e-9)
    with pytest.raises(RuntimeError):
        T.ZCA().transform(X_test)
    with pytest.raises(ValueError):
        zca.transform(X_test.reshape(40, 8))


# ============================================================================ download, data dir, imports
def test_download_checksum_and_atomic(tmp_path: Path) -> None:
    import hashlib

    src = tmp_path / "src.bin"
    payload = os.urandom(300_000)
    src.write_bytes(payload)
    url = src.as_uri()  # file:// : no network
    md5, sha = hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest()
    out = tmp_path / "out"
    p = download_url(url, out, "data.bin", md5=md5, progress=False)
    assert p.read_bytes() == payload
    p2 = download_url(url, out, "data2.bin", sha256=sha, progress=False)
    assert p2.read_bytes() == payload
    # a mismatch leaves the existing file untouched and no temporary file behind
    (out / "old.bin").write_bytes(b"previous content")
    with pytest.raises(ChecksumError, match="old.bin"):
        download_url(url, out, "old.bin", md5="0" * 32, progress=False)
    assert (out / "old.bin").read_bytes() == b"previous content"
    assert sorted(f.name for f in out.iterdir()) == ["data.bin", "data2.bin", "old.bin"]
    with pytest.raises(ValueError, match="checksum"):
        download_url(url, out, "x.bin", progress=False)


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_DATA", "/some/where")
    assert default_data_dir() == Path("/some/where")
    monkeypatch.delenv("MINIDL_DATA")
    assert default_data_dir() is None


def test_to_arrays_reads_file_backed_dataset() -> None:
    X, y = to_arrays(_SlowDataset(5))
    np.testing.assert_array_equal(X[:, 0], np.arange(5.0))
    assert y.dtype == np.int64

    class Ragged(_SlowDataset):
        def __getitem__(self, i: int):
            return np.zeros(i + 1), i

    with pytest.raises(ValueError, match="different shapes"):
        to_arrays(Ragged(3))


def test_minidl_data_does_not_import_torch() -> None:
    code = "import sys, minidl.data; assert 'torch' not in sys.modules, 'minidl.data imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
