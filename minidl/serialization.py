"""Checkpoints: ``minidl.save(obj, path)`` and ``minidl.load(path)``, without pickle.

    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "rng": minidl.get_rng_state(), "epoch": 7}, "ckpt.npz")
    ckpt = minidl.load("ckpt.npz")

What can be saved: (nested) dicts, lists and tuples of Tensors (and Parameters), ndarrays, NumPy
scalars, Python ints (any size: the RNG state holds 128-bit ones), floats, bools, strings and None.
Dict keys may be str, int, float, bool or None, and keep their type: an optimiser's state is keyed
by ints 0, 1, ..., and comes back keyed by ints. Anything else raises ``TypeError`` naming where it
sits in the object (``obj['scheduler']['lr_lambdas'][0]``).

File format. One ordinary ``.npz`` archive (a zip of ``.npy`` files, as ``np.savez`` writes it):

- every array leaf is stored under a generated name ``a0``, ``a1``, ... (numeric and string dtypes
  only, so no member ever needs pickle);
- ``__minidl__`` holds UTF-8 JSON (as a uint8 array) describing the structure::

      {"format": "minidl.checkpoint", "version": 1,
       "root": {"type": "dict", "keys": [{"type": "str", "value": "model"}, ...],
                "values": [{"type": "dict", ...}, ...]}}

  Each node has a ``type``: ``none``, ``bool``, ``int``, ``float`` (``value`` is the number, or
  ``"nan"``, ``"inf"``, ``"-inf"``), ``str``, ``list``/``tuple`` (``items``), ``dict``/``ordered_dict``
  (``keys`` and ``values``, two lists of nodes), ``ndarray``, ``numpy_scalar`` and ``tensor``
  (``array`` names the archive member; ``dtype`` and ``shape`` are checked on load; tensors also
  record ``requires_grad`` and whether they were a ``Parameter``).

Floats go through JSON's shortest round-trip representation, so they come back bit for bit.
Shared references are not preserved (a tensor saved twice is stored twice), unlike torch.save.

Safety and integrity. ``load`` opens the archive with ``np.load(allow_pickle=False)`` and never
unpickles anything: a file that is not a zip archive (e.g. a pickle), or an archive holding object
arrays, is refused. A truncated, corrupt or foreign file raises ``CheckpointError`` naming the file
(zip's CRC-32 on each member catches flipped bytes in the data). ``save`` writes a temporary file in
the target's directory, flushes and fsyncs it, then renames it over the target (``os.replace`` is
atomic), so an interrupted save leaves any existing checkpoint untouched.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from minidl.tensor import Tensor

FORMAT = "minidl.checkpoint"
VERSION = 1
META = "__minidl__"
ZIP_MAGIC = b"PK\x03\x04"
_ARRAY_KINDS = "biufcUS"  # bool, ints, floats, complex, strings: the dtypes .npy stores without pickle


class CheckpointError(RuntimeError, ValueError):
    """A checkpoint file is truncated, corrupt, not a minidl checkpoint, or would need unpickling.

    It is a ``RuntimeError`` (what ``torch.load`` raises for a corrupt file) and a ``ValueError`` (what
    minidl's data readers raise for a corrupt data file), so either ``except`` catches it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


# --------------------------------------------------------------------------- save
def save(obj: Any, f: str | os.PathLike) -> None:
    """Write ``obj`` to the file ``f`` (exactly that name; no suffix is added), atomically."""
    path = os.fspath(f)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"minidl.save: directory {directory!r} does not exist (saving {path!r})")
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "root": _encode(obj, "obj", arrays)}
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    members = {META: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **arrays}
    _atomic_write(path, lambda fh: np.savez(fh, **members))


def _atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, fsync it, then rename it onto ``path``.

    Any exception (KeyboardInterrupt included) removes the temporary file and leaves ``path`` as it was.
    The new file keeps the mode of the one it replaces (0o644 for a new file).
    """
    directory = os.path.dirname(os.path.abspath(path))
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on every OS)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _encode(obj: Any, where: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON node for ``obj``; array leaves are added to ``arrays`` under fresh names."""
    if obj is None:
        return {"type": "none"}
    if isinstance(obj, np.generic):  # first: np.float64 is also a Python float
        return _array_node(np.asarray(obj), where, arrays, "numpy_scalar")
    if isinstance(obj, bool):  # before int: bool is an int subclass
        return {"type": "bool", "value": obj}
    if isinstance(obj, int):
        return {"type": "int", "value": int(obj)}
    if isinstance(obj, float):
        return {"type": "float", "value": float(obj) if math.isfinite(obj) else repr(float(obj))}
    if isinstance(obj, str):
        return {"type": "str", "value": obj}
    if isinstance(obj, Tensor):
        from minidl.nn.module import Parameter  # late: minidl.nn imports the package that imports us

        node = _array_node(obj._data, where, arrays, "tensor")
        node.update(requires_grad=bool(obj.requires_grad), parameter=isinstance(obj, Parameter))
        return node
    if isinstance(obj, np.ndarray):
        return _array_node(obj, where, arrays, "ndarray")
    if isinstance(obj, (list, tuple)):
        return {"type": "tuple" if isinstance(obj, tuple) else "list",
                "items": [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        keys, values = [], []
        for k, v in obj.items():
            if k is not None and not isinstance(k, (str, int, float)):
                raise TypeError(f"minidl.save: {where} has a key of type {type(k).__name__} ({k!r}); "
                                "dict keys must be str, int, float, bool or None")
            keys.append(_encode(k, where, arrays))
            values.append(_encode(v, f"{where}[{k!r}]", arrays))
        kind = "ordered_dict" if isinstance(obj, OrderedDict) else "dict"
        return {"type": kind, "keys": keys, "values": values}
    raise TypeError(f"minidl.save: cannot save {where} of type {type(obj).__name__}; checkpoints hold dicts, "
                    "lists and tuples of Tensors, ndarrays, numbers, strings, bools and None")


def _array_node(a: np.ndarray, where: str, arrays: dict[str, np.ndarray], kind: str) -> dict[str, Any]:
    if a.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"minidl.save: {where} has dtype {a.dtype}, which cannot be stored without pickle")
    name = f"a{len(arrays)}"
    arrays[name] = a
    return {"type": kind, "array": name, "dtype": a.dtype.str, "shape": list(a.shape)}


# --------------------------------------------------------------------------- load
def load(f: str | os.PathLike) -> Any:
    """Read a checkpoint written by :func:`save`. Tensors come back as Tensors (Parameters as
    Parameters), ndarrays as ndarrays, int dict keys as ints. Nothing is unpickled."""
    path = os.fspath(f)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"minidl.load: no such checkpoint file: {path!r}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != ZIP_MAGIC:
        raise CheckpointError(path, f"not a minidl checkpoint: a .npz (zip) file starts with {ZIP_MAGIC!r}, "
                                    f"this one with {head!r} (a pickle, a .npy or a truncated file?)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if META not in npz.files:
                raise CheckpointError(path, f"no '{META}' entry: an .npz archive, but not a minidl checkpoint")
            meta = json.loads(_read_member(npz, META, path).tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(path, "the metadata does not describe a minidl checkpoint")
            if meta.get("version") != VERSION:
                raise CheckpointError(path, f"checkpoint format version {meta.get('version')!r} is not supported "
                                            f"(this minidl reads version {VERSION})")
            return _decode(meta["root"], npz, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, TypeError, OSError,
            UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        if isinstance(e, (PermissionError, IsADirectoryError)):
            raise
        raise CheckpointError(path, f"corrupt or truncated checkpoint ({type(e).__name__}: {e})") from e


def _read_member(npz: Any, name: str, path: str) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise CheckpointError(path, f"entry '{name}' is an object array; refusing to unpickle it") from e
        raise


def _decode(node: Any, npz: Any, path: str) -> Any:
    if not isinstance(node, dict) or "type" not in node:
        raise CheckpointError(path, f"malformed metadata node {node!r}")
    kind = node["type"]
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        value = node["value"]
        if type(value) is not {"bool": bool, "int": int, "str": str}[kind]:
            raise CheckpointError(path, f"malformed {kind} node {node!r}")
        return value
    if kind == "float":
        return float(node["value"])  # float("nan"), float("inf") and plain numbers alike
    if kind in ("list", "tuple"):
        items = [_decode(v, npz, path) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind in ("dict", "ordered_dict"):
        keys = [_decode(k, npz, path) for k in node["keys"]]
        values = [_decode(v, npz, path) for v in node["values"]]
        if len(keys) != len(values):
            raise CheckpointError(path, "malformed dict node: different numbers of keys and values")
        return (OrderedDict if kind == "ordered_dict" else dict)(zip(keys, values))
    if kind in ("ndarray", "numpy_scalar", "tensor"):
        name = node["array"]
        if name not in npz.files:
            raise CheckpointError(path, f"the metadata refers to a missing array '{name}'")
        a = _read_member(npz, name, path)
        if a.dtype.str != node["dtype"] or list(a.shape) != list(node["shape"]):
            raise CheckpointError(path, f"array '{name}' is {a.dtype.str} {list(a.shape)} but the metadata "
                                        f"says {node['dtype']} {node['shape']}")
        if kind == "ndarray":
            return a
        if kind == "numpy_scalar":
            return a[()]
        from minidl.nn.module import Parameter

        cls = Parameter if node.get("parameter") else Tensor
        return cls(a, requires_grad=bool(node.get("requires_grad", False)))
    raise CheckpointError(path, f"unknown node type {kind!r} in the metadata")
