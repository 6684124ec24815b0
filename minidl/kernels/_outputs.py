"""The kernels' large outputs come from a cache of freed blocks (a caching allocator, as torch keeps
for CUDA memory), so that a training or saliency step does not map fresh pages for every activation.

**Why.**  A step allocates the same large arrays every time: VGG16 at batch 8 has activations of
103 MB.  glibc serves any block above 32 MB with a fresh ``mmap`` and unmaps it on ``free``, so the
next step's array is new memory again, and the OS must fault in and zero each page on first touch.
NumPy asks for transparent huge pages on arrays this size, and a huge page may first need memory
compaction.  Measured on VGG16's input-gradient pass (batch 8, 224x224, 2 threads, AMD EPYC Zen 4):
14,000-16,000 page faults and 0.9-2.2 s of system time per pass (the pass takes 4.4-6.2 s), and
0.3 ms per fault in the ReLU backward alone.  torch's pass faulted ~0 times in the same process.

**How.**  ``empty(shape, dtype)`` hands out an array viewing a cached ``uint8`` block.  Every view of
a block keeps a reference to it (NumPy points a view's ``base`` at the array that owns the memory),
so a block is free again exactly when the cache holds the only reference: no hook on ``free`` is
needed.  A request, rounded up to whole 2 MB huge pages, takes the smallest free block that fits with
at most 1/8 to spare, else a new block.

**Bounds.**  Arrays under ``MIN_BYTES`` come from ``np.empty`` (malloc's heap reuses those already).
The blocks together hold at most ``MINIDL_CACHE_MB`` (environment, default 4096; 0 turns the cache
off); past it, free blocks are dropped (oldest first) and, if the live ones alone are over, the array
is a plain ``np.empty``.  ``empty_cache()`` (also ``minidl.kernels.empty_cache``) drops every free
block, as ``torch.cuda.empty_cache()`` does for CUDA memory.

**Cost.**  Freed blocks are not merged or split as malloc's are, so the cache holds some memory that
the current step does not use: VGG16's peak (both passes, batch 8) rose from 1,705 to 1,899 MB.
Letting a request take any free block up to 4x its size did not lower it (1,932 MB).
"""
from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

MIN_BYTES = 4 << 20         # smaller outputs: plain np.empty
ALIGN = 2 << 20             # blocks are whole huge pages
_blocks: list[np.ndarray] = []
_lock = threading.Lock()


def _refs_when_free() -> int:
    """What ``_is_free`` reads for a block that only the cache holds (measured, as it varies with Python)."""
    probe = [np.empty(0)]
    return sys.getrefcount(probe[0])


_FREE_REFS = _refs_when_free()


def _limit_bytes() -> int:
    raw = os.environ.get("MINIDL_CACHE_MB", "4096")
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"MINIDL_CACHE_MB must be a number of megabytes, not {raw!r}") from None
    return int(max(mb, 0.0) * 2 ** 20)


def _is_free(i: int) -> bool:
    """True when block i of the cache is referenced by nothing but the cache."""
    return sys.getrefcount(_blocks[i]) == _FREE_REFS


def empty(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-contiguous array, like ``np.empty(shape, dtype)``, from the cache when large."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    limit = _limit_bytes()
    if nbytes > limit:
        return np.empty(shape, dtype)
    want = -(-nbytes // ALIGN) * ALIGN       # blocks are whole multiples of ALIGN
    with _lock:
        best = -1
        for i in range(len(_blocks)):
            size = _blocks[i].size
            if want <= size <= want + want // 8 and _is_free(i) and (best < 0 or size < _blocks[best].size):
                best = i
        if best < 0:
            total, i = sum(b.size for b in _blocks), 0
            while total + want > limit and i < len(_blocks):
                if _is_free(i):
                    total -= _blocks[i].size
                    del _blocks[i]          # the oldest free block goes back to the OS
                else:
                    i += 1
            if total + want > limit:
                return np.empty(shape, dtype)
            _blocks.append(np.empty(want, np.uint8))
            best = len(_blocks) - 1
        return _blocks[best][:nbytes].view(dtype).reshape(shape)


def empty_like(a: np.ndarray) -> np.ndarray:
    """``empty(a.shape, a.dtype)``."""
    return empty(a.shape, a.dtype)


def empty_cache() -> None:
    """Drop every free block (the memory goes back to the OS); blocks still in use stay."""
    with _lock:
        keep = [i for i in range(len(_blocks)) if not _is_free(i)]
        _blocks[:] = [_blocks[i] for i in keep]


def cached_bytes() -> tuple[int, int]:
    """(bytes in all cached blocks, bytes in the free ones)."""
    with _lock:
        free = [i for i in range(len(_blocks)) if _is_free(i)]
        return sum(b.size for b in _blocks), sum(_blocks[i].size for i in free)
