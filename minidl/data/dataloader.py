"""DataLoader: batches of samples, optionally shuffled, optionally fetched by worker processes.

    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True, generator=minidl.Generator(0))
    len(loader)                    # number of batches: ceil(N / 64), or floor with drop_last=True
    for xb, yb in loader:          # xb: Tensor (64, ...), yb: int64 Tensor (64,)
        ...

**Shuffling.** Each ``iter(loader)`` (one epoch) draws a fresh permutation from ``generator``
(default: the global generator, ``minidl.manual_seed``). The same seed gives the same sequence of
epochs; successive epochs differ because the generator moves on.

**Fast path.** When the dataset has ``get_batch(indices)`` (TensorDataset, ArrayDataset, Subsets
of them, the in-memory MNIST/CIFAR readers) and the collate function is ``default_collate`` or
``numpy_collate``, a batch is one fancy-indexing gather, never a Python loop over samples.

**Workers** (``num_workers > 0``). A ``multiprocessing`` pool fetches *whole batches*: the main
process hands batch k's index list to a worker and receives the collated NumPy batch. Results are
taken back in submission order, at most ``num_workers * prefetch_factor`` batches ahead, so the
batches are exactly those of ``num_workers=0`` (same order, same content) and memory stays bounded.
Random transforms inside workers draw from minidl's global generator, which each worker re-seeds
*per batch* from ``(base_seed, batch_index)``; ``base_seed`` is drawn once per epoch from the
loader's generator (torch draws it the same way). Augmented batches are therefore reproducible and
independent of how many workers there are and of which worker ran which batch (but differ from
``num_workers=0``, whose transforms use the global stream directly, as in torch). Workers are
forked where the platform allows (Linux): the dataset is inherited, not pickled. Batches travel back
through a pipe with ``pickle``; that is trusted data between our own processes, never a file.
Whether workers pay off depends on how much per-sample Python work there is (image decoding, per-
sample transforms): for in-memory arrays on the fast path they only add copying.
"""
from __future__ import annotations

import collections
import math
import multiprocessing as mp
import pickle
import random as _pyrandom
import traceback
from numbers import Number
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from minidl import random as _random
from minidl.tensor import Tensor

Collate = Callable[[list[Any]], Any]


# ---------------------------------------------------------------------------------------- collate
def _collate(batch: list[Any], to_out: Callable[[np.ndarray], Any]) -> Any:
    """Stack a list of samples field-wise; ``to_out`` wraps each stacked ndarray (Tensor or not).

    Rules (torch's ``default_collate``, with minidl's label rule):
    - ndarrays / minidl Tensors -> stacked along a new first axis, dtype kept;
    - Python floats -> float64; bools -> bool; integers (Python or NumPy, any width) -> int64
      (class labels); other NumPy scalars keep their dtype;
    - strings -> the list as is; tuples/lists -> a list of collated fields; dicts -> a dict;
      namedtuples -> the same namedtuple type.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return to_out(np.stack([b.numpy() for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUS":
            raise TypeError(f"default_collate: batch must contain numeric arrays; found dtype {elem.dtype}")
        shapes = {b.shape for b in batch}
        if len(shapes) != 1:
            raise RuntimeError(f"stack expects each array to be equal size, but got shapes {sorted(shapes)} "
                               "in the same batch (resize/crop images to one size, or write a collate_fn)")
        return to_out(np.stack(batch))
    if isinstance(elem, (bool, np.bool_)):
        return to_out(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, (int, np.integer)):
        return to_out(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return to_out(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, np.generic) and isinstance(elem, Number):
        return to_out(np.asarray(batch, dtype=elem.dtype))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, dict):
        return {k: _collate([b[k] for b in batch], to_out) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(_collate(list(f), to_out) for f in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        if len({len(b) for b in batch}) != 1:
            raise RuntimeError("each element in list of batch should be of equal size")
        return [_collate(list(f), to_out) for f in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain arrays, numbers, dicts or lists; found {type(elem)}")


def default_collate(batch: list[Any]) -> Any:
    """A list of samples -> a batch of ``minidl.Tensor``s (see ``_collate`` for the rules)."""
    return _collate(batch, Tensor)


def numpy_collate(batch: list[Any]) -> Any:
    """Like ``default_collate`` but the leaves stay ndarrays (e.g. for the torch backend to convert)."""
    return _collate(batch, lambda a: a)


def _wrap_fields(fields: tuple[np.ndarray, ...], collate_fn: Collate) -> Any:
    """A ``get_batch`` result (stacked ndarrays) in the form ``collate_fn`` would have produced."""
    def leaf(a: np.ndarray) -> Any:
        if a.ndim == 1 and a.dtype.kind in "iu":
            a = a.astype(np.int64, copy=False)  # labels: int64, as default_collate makes them
        return Tensor(a) if collate_fn is default_collate else a
    return [leaf(f) for f in fields]


def _fetch(dataset: Any, indices: np.ndarray, collate_fn: Collate) -> Any:
    """One batch: the vectorised gather when possible, else per-sample reads and ``collate_fn``."""
    if collate_fn in (default_collate, numpy_collate) and hasattr(dataset, "get_batch"):
        return _wrap_fields(dataset.get_batch(indices), collate_fn)
    return collate_fn([dataset[int(i)] for i in indices])


# ---------------------------------------------------------------------------------------- workers
_worker_state: dict[str, Any] = {}


def _worker_init(dataset: Any, collate_fn: Collate, worker_init_fn: Callable[[int], None] | None,
                 counter: Any) -> None:
    with counter.get_lock():
        worker_id = counter.value
        counter.value += 1
    _worker_state.update(dataset=dataset, collate_fn=collate_fn, worker_id=worker_id)
    if worker_init_fn is not None:
        worker_init_fn(worker_id)


def _worker_fetch(task: tuple[int, int, np.ndarray]) -> tuple[bool, bytes]:
    """Runs in a worker: seed this batch's random streams, fetch, collate to NumPy (cheap to send).

    Returns ``(ok, payload)``: the pickled batch, or the pickled exception (with the worker's
    traceback). Pickling here, not in the pool's machinery, means a batch or an exception that
    cannot be pickled is reported as an error instead of silently hanging the pool.
    """
    base_seed, batch_index, indices = task
    try:
        seed = int(np.random.SeedSequence([base_seed, batch_index]).generate_state(1, np.uint64)[0] >> 1)
        _random.manual_seed(seed)
        np.random.seed(seed % 2**32)
        _pyrandom.seed(seed)
        collate_fn = _worker_state["collate_fn"]
        # default_collate's Tensors are rebuilt in the parent: ship plain arrays.
        batch = _fetch(_worker_state["dataset"], indices,
                       numpy_collate if collate_fn is default_collate else collate_fn)
        return True, pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001  (re-raised in the parent)
        where = (f"in DataLoader worker {_worker_state.get('worker_id')} (batch {batch_index}):\n"
                 + traceback.format_exc())
        try:
            return False, pickle.dumps((e, where))
        except Exception:  # noqa: BLE001  an exception that cannot be pickled
            return False, pickle.dumps((RuntimeError(f"{type(e).__name__}: {e}"), where))


def _to_tensors(batch: Any) -> Any:
    if isinstance(batch, np.ndarray):
        return Tensor(batch)
    if isinstance(batch, dict):
        return {k: _to_tensors(v) for k, v in batch.items()}
    if isinstance(batch, list):
        return [_to_tensors(v) for v in batch]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_tensors(v) for v in batch))
    return batch


# ---------------------------------------------------------------------------------------- loader
class DataLoader:
    """Iterate over ``dataset`` in batches (torch.utils.data.DataLoader's signature, a subset).

    - ``batch_size``: samples per batch (``None``: yield single samples, uncollated, as torch does);
    - ``shuffle``: a new permutation each epoch, from ``generator`` (default: the global one);
    - ``sampler``: an iterable of indices to use instead (exclusive with ``shuffle``);
    - ``drop_last``: drop the last incomplete batch;
    - ``collate_fn``: list of samples -> batch (default ``default_collate``: minidl Tensors);
    - ``num_workers``, ``prefetch_factor``, ``worker_init_fn``: worker processes (module docstring).
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False,
                 sampler: Iterable[int] | None = None, num_workers: int = 0,
                 collate_fn: Collate | None = None, pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 generator: _random.Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False) -> None:
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                             "let num_workers > 0 to enable multiprocessing.")
        if persistent_workers:
            raise NotImplementedError("persistent_workers: minidl starts a fresh pool each epoch")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn or default_collate
        self.pin_memory = pin_memory  # accepted for signature compatibility; there is no device to pin for
        self.drop_last = drop_last
        self.timeout = timeout if timeout > 0 else None
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)

    def _indices(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if self.shuffle:
            return _random.generator(self.generator).permutation(n).astype(np.int64)
        return np.arange(n, dtype=np.int64)

    def _n_samples(self) -> int:
        if self.sampler is not None and hasattr(self.sampler, "__len__"):
            return len(self.sampler)  # type: ignore[arg-type]
        return len(self.dataset)

    def __len__(self) -> int:
        n = self._n_samples()
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _batches(self, order: np.ndarray) -> list[np.ndarray]:
        bs = self.batch_size
        n_full = len(order) // bs
        out = [order[k * bs:(k + 1) * bs] for k in range(n_full)]
        if not self.drop_last and len(order) % bs:
            out.append(order[n_full * bs:])
        return out

    def __iter__(self) -> Iterator[Any]:
        order = self._indices()
        if self.batch_size is None:
            return (self.dataset[int(i)] for i in order)
        batches = self._batches(order)
        if self.num_workers == 0:
            return (_fetch(self.dataset, b, self.collate_fn) for b in batches)
        base_seed = int(_random.generator(self.generator).integers(0, 2**62))
        return self._iter_workers(batches, base_seed)

    def _iter_workers(self, batches: Sequence[np.ndarray], base_seed: int) -> Iterator[Any]:
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("fork" if "fork" in methods else None)
        counter = ctx.Value("i", 0)
        pool = ctx.Pool(self.num_workers, initializer=_worker_init,
                        initargs=(self.dataset, self.collate_fn, self.worker_init_fn, counter))
        window = self.num_workers * self.prefetch_factor
        pending: collections.deque = collections.deque()
        try:
            next_k = 0
            while next_k < len(batches) and len(pending) < window:
                pending.append(pool.apply_async(_worker_fetch, ((base_seed, next_k, batches[next_k]),)))
                next_k += 1
            while pending:
                ok, payload = pending.popleft().get(self.timeout)
                if not ok:
                    err, where = pickle.loads(payload)
                    if hasattr(err, "add_note"):  # Python >= 3.11
                        err.add_note(where)
                    raise err
                batch = pickle.loads(payload)  # from our own forked worker: trusted, not a file
                if next_k < len(batches):
                    pending.append(pool.apply_async(_worker_fetch, ((base_seed, next_k, batches[next_k]),)))
                    next_k += 1
                yield _to_tensors(batch) if self.collate_fn is default_collate else batch
        finally:
            pool.terminate()
            pool.join()
