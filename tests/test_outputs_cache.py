"""The kernels' cache of large output blocks (``minidl/kernels/_outputs.py``).

A block may be handed out again only once no array views it any more; a live array must never share
memory with a new one.  Checked through the arrays' data addresses and by writing through them.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl.kernels
from minidl.kernels import _outputs as O
from minidl.kernels import conv, conv_reference as cref, elementwise

MB = 1 << 20
SHAPE = (2, 16, 256, 256)        # 8 MB of float32: above MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIDL_CACHE_MB", raising=False)
    monkeypatch.setattr(O, "_blocks", [])


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_a_freed_block_is_reused_and_a_live_one_never() -> None:
    a = O.empty(SHAPE, np.float32)
    assert a.shape == SHAPE and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    first = address(a)
    b = O.empty(SHAPE, np.float32)
    assert address(b) != first                        # a is alive: a new block
    del a
    c = O.empty(SHAPE, np.float32)
    assert address(c) == first                        # a's block, free again
    view = c[1]                                       # a view alone keeps the block in use
    del c
    d = O.empty(SHAPE, np.float32)
    assert not np.shares_memory(d, view) and not np.shares_memory(d, b)
    view[...] = 1.0
    d[...] = 2.0
    b[...] = 3.0
    assert (view == 1.0).all() and (d == 2.0).all()
    assert O.cached_bytes() == (3 * 8 * MB, 0)


def test_blocks_fit_sizes_and_dtypes() -> None:
    a = O.empty((3 * MB,), np.bool_)                  # 3 MB: under MIN_BYTES, plain np.empty
    assert a.base is None and O.cached_bytes() == (0, 0)
    m = O.empty((5 * MB,), np.bool_)                  # 5 MB, rounded to a 6 MB block
    blk = address(m)
    del m
    m2 = O.empty((5 * MB + 7,), np.bool_)             # same rounded size: same block
    assert address(m2) == blk
    del m2
    big = O.empty((2 * MB,), np.float64)              # 16 MB: 6 MB is too small, and a 16 MB block
    assert address(big) != blk                        # is not given to a 6 MB request (1/8 slack)
    del big
    small = O.empty((1536 * 1024,), np.float32)       # 6 MB again: the 6 MB block, not the 16 MB one
    assert address(small) == blk and O.cached_bytes() == (22 * MB, 16 * MB)


def test_the_limit_drops_free_blocks_then_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_CACHE_MB", "20")
    a = O.empty(SHAPE, np.float32)
    b = O.empty(SHAPE, np.float32)                    # 16 MB cached, both in use
    c = O.empty(SHAPE, np.float32)                    # 24 MB would pass the limit: plain np.empty
    assert c.base is None and O.cached_bytes() == (16 * MB, 0)
    del a, b
    d = O.empty((4, 16, 256, 256), np.float32)        # 16 MB: the two free 8 MB blocks are dropped
    assert O.cached_bytes() == (16 * MB, 0) and d.base is O._blocks[0]
    monkeypatch.setenv("MINIDL_CACHE_MB", "0")        # 0: the cache is off
    assert O.empty(SHAPE, np.float32).base is None
    monkeypatch.setenv("MINIDL_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="MINIDL_CACHE_MB"):
        O.empty(SHAPE, np.float32)


def test_empty_cache_keeps_the_blocks_in_use() -> None:
    a = O.empty(SHAPE, np.float32)
    b = O.empty(SHAPE, np.float32)
    del b
    minidl.kernels.empty_cache()
    assert O.cached_bytes() == (8 * MB, 0) and a.base is O._blocks[0]


def test_kernels_reusing_blocks_stay_correct() -> None:
    """Two convolutions and ReLUs in a row, each output landing in the block the previous one freed
    (the cache makes that the normal case), against the reference."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 128, 128)).astype(np.float32)
    w = rng.standard_normal((32, 8, 3, 3)).astype(np.float32)
    seen = set()
    for _ in range(2):
        y = conv.conv2d_forward(x, w, None, 1, 1, 1)          # 4 MB: from the cache
        z, positive = elementwise.relu_forward(y)
        seen.add(address(y))
        ref = cref.conv2d_forward(x.astype(np.float64), w.astype(np.float64), None, 1, 1, 1)
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(z, np.maximum(y, 0))
        np.testing.assert_array_equal(positive, y > 0)
        del y, z, positive
    assert len(seen) == 1          # the second pass reused the first pass's block
