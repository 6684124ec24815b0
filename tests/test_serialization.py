"""minidl.save / minidl.load: round trips, never unpickling, atomic writes, corrupt files, and resuming
training bit-identically from a checkpoint (model, optimiser, scheduler and RNG state)."""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import nn, optim
from minidl.optim import lr_scheduler
from minidl.serialization import META, CheckpointError


def assert_same(a: Any, b: Any, where: str = "obj") -> None:
    """Structural, type-exact and bit-exact equality (floats by bit pattern, so nan == nan, -0.0 != 0.0)."""
    assert type(a) is type(b), f"{where}: type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), f"{where}: keys {list(a)} != {list(b)}"
        for (ka, va), kb in zip(a.items(), b.keys()):
            assert type(ka) is type(kb), f"{where}: key {ka!r} type {type(ka).__name__} != {type(kb).__name__}"
            assert_same(va, b[kb], f"{where}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, minidl.Tensor):
        assert a.requires_grad == b.requires_grad, f"{where}: requires_grad differs"
        assert_same(a._data, b._data, f"{where}.data")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"{where}: values differ"
    elif isinstance(a, float):
        assert math.copysign(1, a) == math.copysign(1, b) and (a == b or (a != a and b != b)), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def roundtrip(obj: Any, tmp_path: Path) -> Any:
    path = tmp_path / "ckpt.npz"
    minidl.save(obj, path)
    return minidl.load(path)


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.float16,
                                   np.complex128, ">f8"])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)])
def test_arrays_and_tensors_round_trip(dtype: Any, shape: tuple, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = np.asarray(rng.normal(size=shape) * 100).astype(dtype)
    assert isinstance(a, np.ndarray) and a.shape == shape
    obj = {"array": a, "tensor": minidl.Tensor(a.copy()), "list": [a[()] if a.ndim == 0 else a.T]}
    back = roundtrip(obj, tmp_path)
    assert_same(back, obj)
    assert back["array"].flags.writeable  # loaded arrays are ordinary, writable arrays


def test_python_and_numpy_scalars_keep_their_types(tmp_path: Path) -> None:
    obj = {"int": 3, "big": 2**127 + 5, "neg": -(2**70), "float": 0.1, "nan": math.nan, "inf": -math.inf,
           "negzero": -0.0, "tiny": 5e-324, "true": True, "none": None, "str": "épsilon ∑ \"q\"", "empty": "",
           "np64": np.float64(0.1), "np32": np.float32(1.5), "npint": np.int64(-7), "npbool": np.bool_(True)}
    assert_same(roundtrip(obj, tmp_path), obj)


def test_nested_structures_and_key_types(tmp_path: Path) -> None:
    obj = {"a": [1, (2.5, "x", None), [], {}, ()], 0: {1: {"deep": [[[np.arange(3)]]]}}, 2.5: "float key",
           None: "none key", True: "bool key", "od": OrderedDict([("z", 1), ("a", 2)]), "tuple": (np.ones(2),)}
    back = roundtrip(obj, tmp_path)
    assert_same(back, obj)
    assert isinstance(back["od"], OrderedDict) and not isinstance(back[0], OrderedDict)


def test_model_optimizer_scheduler_and_rng_state_round_trip(tmp_path: Path) -> None:
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 5])
    model(minidl.randn(5, 3, dtype=minidl.float64)).sum().backward()
    opt.step()
    sched.step()
    obj = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
           "rng": minidl.get_rng_state(), "epoch": 1}
    back = roundtrip(obj, tmp_path)
    assert_same(back, obj)
    assert list(back["optimizer"]["state"]) == [0, 1, 2, 3]  # int keys stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # a tuple, as saved
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == ["0.weight", "0.bias", "2.weight",
                                                                             "2.bias"]


def test_parameters_come_back_as_parameters(tmp_path: Path) -> None:
    p = nn.Parameter(np.arange(4.0))
    back = roundtrip({"p": p, "t": minidl.tensor([1.0], requires_grad=True)}, tmp_path)
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert not isinstance(back["t"], nn.Parameter) and back["t"].requires_grad


arrays_1d = st.builds(lambda n, s: np.random.default_rng(s).normal(size=n), st.integers(0, 4), st.integers(0, 9))
leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=True),
                   st.text(max_size=5), arrays_1d)
trees = st.recursive(leaves, lambda kids: st.one_of(st.lists(kids, max_size=3), st.tuples(kids, kids),
                                                    st.dictionaries(st.one_of(st.text(max_size=3),
                                                                              st.integers(-5, 5)), kids, max_size=3)),
                     max_leaves=12)


@settings(max_examples=30, deadline=None)
@given(trees)
def test_any_supported_tree_round_trips(tree: Any) -> None:
    with tempfile.TemporaryDirectory() as d:  # hypothesis runs many examples per test: one folder each
        assert_same(roundtrip(tree, Path(d)), tree)


def test_unsupported_objects_raise_type_error_naming_where(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"obj\['sched'\]\['fn'\]\[0\].*function"):
        minidl.save({"sched": {"fn": [lambda t: t]}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dtype object"):
        minidl.save({"a": np.array([{"x": 1}], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="key of type tuple"):
        minidl.save({(1, 2): 3}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists() and os.listdir(tmp_path) == []  # nothing left behind


def test_save_writes_exactly_the_given_name(tmp_path: Path) -> None:
    minidl.save({"x": 1}, tmp_path / "model.pt")
    assert os.listdir(tmp_path) == ["model.pt"]
    assert minidl.load(str(tmp_path / "model.pt")) == {"x": 1}


def test_the_file_is_a_plain_npz_with_json_metadata(tmp_path: Path) -> None:
    """The format as documented: readable with NumPy alone, without pickle."""
    minidl.save({"w": minidl.tensor([1.0, 2.0]), "state": {0: np.zeros(2, np.float32)}}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        meta = json.loads(z[META].tobytes())
        assert meta["format"] == "minidl.checkpoint" and meta["version"] == 1
        root = meta["root"]
        assert [k["value"] for k in root["keys"]] == ["w", "state"]
        w = root["values"][0]
        assert w["type"] == "tensor" and w["dtype"] == "<f4" and w["shape"] == [2]
        np.testing.assert_array_equal(z[w["array"]], [1.0, 2.0])
        assert root["values"][1]["keys"][0] == {"type": "int", "value": 0}


# --------------------------------------------------------------------------- never unpickle
class _Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.marker),))


def test_object_array_in_a_crafted_npz_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    good = tmp_path / "good.npz"
    minidl.save({"w": np.zeros(1)}, good)
    with np.load(good, allow_pickle=False) as z:
        meta = z[META]
    evil = tmp_path / "evil.npz"
    np.savez(evil, **{META: meta, "a0": np.array([_Payload(marker)], dtype=object)})  # np.savez pickles this one
    with pytest.raises(CheckpointError, match=r"evil\.npz.*refusing to unpickle"):
        minidl.load(evil)
    assert not marker.exists()
    # the metadata entry itself as a pickled object array
    evil2 = tmp_path / "evil2.npz"
    np.savez(evil2, **{META: np.array([_Payload(marker)], dtype=object)})
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        minidl.load(evil2)
    assert not marker.exists()
    # the control: the payload really does run when unpickled (so the assertions above can fail)
    with np.load(evil, allow_pickle=True) as z:
        z["a0"]
    assert marker.exists()


def test_a_pickle_file_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    with pytest.raises(CheckpointError, match=r"model\.npz.*not a minidl checkpoint"):
        minidl.load(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- corrupt and foreign files
def _checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "ckpt.npz"
    minidl.save({"w": np.arange(100.0), "opt": {0: {"step": 3.0, "exp_avg": np.ones((4, 5))}}}, path)
    return path


@pytest.mark.parametrize("keep", [0, 3, 10, 200, 0.5, -1, -22, -100])
def test_truncated_checkpoint_raises_naming_the_file(keep: float, tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    raw = path.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else keep % len(raw)
    path.write_bytes(raw[:n])
    with pytest.raises(CheckpointError, match=r"ckpt\.npz"):
        minidl.load(path)


def _member_data_ranges(path: Path) -> dict[str, tuple[int, int]]:
    """Byte range of each member's stored data in the zip (after its local header)."""
    raw = path.read_bytes()
    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            off = info.header_offset
            name_len = int.from_bytes(raw[off + 26:off + 28], "little")
            extra_len = int.from_bytes(raw[off + 28:off + 30], "little")
            start = off + 30 + name_len + extra_len
            out[info.filename] = (start, start + info.compress_size)
    return out


@pytest.mark.parametrize("member", ["a0.npy", "a1.npy", META + ".npy"])
@pytest.mark.parametrize("where", [0.05, 0.5, 0.99])
def test_flipped_bytes_raise_naming_the_file(member: str, where: float, tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    start, end = _member_data_ranges(path)[member]
    raw = bytearray(path.read_bytes())
    raw[start + int((end - start) * where)] ^= 0x5A
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"ckpt\.npz"):
        minidl.load(path)


def test_foreign_files_raise_clear_errors(tmp_path: Path) -> None:
    npy = tmp_path / "a.npy"
    np.save(npy, np.arange(3))
    with pytest.raises(CheckpointError, match=r"a\.npy.*not a minidl checkpoint"):
        minidl.load(npy)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.npz"):
        minidl.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(2))  # an npz, but not ours
    with pytest.raises(CheckpointError, match=r"plain\.npz.*not a minidl checkpoint"):
        minidl.load(plain)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        minidl.load(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        minidl.save({}, tmp_path / "no_such_dir" / "c.npz")


def _with_meta(tmp_path: Path, meta: Any, **arrays: np.ndarray) -> Path:
    path = tmp_path / "crafted.npz"
    raw = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    np.savez(path, **{META: np.frombuffer(raw, np.uint8)}, **arrays)
    return path


@pytest.mark.parametrize("meta,arrays,message", [
    (b"{not json", {}, "corrupt"),
    ({"format": "something else", "version": 1, "root": {"type": "none"}}, {}, "does not describe"),
    ({"format": "minidl.checkpoint", "version": 99, "root": {"type": "none"}}, {}, "version 99"),
    ({"format": "minidl.checkpoint", "version": 1, "root": {"type": "ndarray", "array": "a7", "dtype": "<f8",
                                                            "shape": [2]}}, {}, "missing array 'a7'"),
    ({"format": "minidl.checkpoint", "version": 1, "root": {"type": "ndarray", "array": "a0", "dtype": "<f8",
                                                            "shape": [3]}}, {"a0": np.zeros(2)}, "metadata says"),
    ({"format": "minidl.checkpoint", "version": 1, "root": {"type": "gadget"}}, {}, "unknown node type"),
    ({"format": "minidl.checkpoint", "version": 1, "root": {"type": "int", "value": "7"}}, {}, "malformed"),
    ({"format": "minidl.checkpoint", "version": 1, "root": {"type": "list"}}, {}, "corrupt"),
])
def test_inconsistent_metadata_is_refused(meta: Any, arrays: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=rf"crafted\.npz.*{message}"):
        minidl.load(_with_meta(tmp_path, meta, **arrays))


def test_checkpoint_error_is_both_runtime_and_value_error() -> None:
    assert issubclass(CheckpointError, RuntimeError) and issubclass(CheckpointError, ValueError)


# --------------------------------------------------------------------------- atomic writes
def _no_temp_files(directory: Path) -> None:
    left = [n for n in os.listdir(directory) if n.endswith(".tmp")]
    assert not left, f"temporary files left behind: {left}"


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_never_corrupts_the_existing_checkpoint(exc: BaseException, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = _checkpoint(tmp_path)
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def crash_mid_write(fp: Any, array: np.ndarray, *args: Any, **kwargs: Any) -> None:
        calls.append(array.shape)
        if len(calls) == 2:  # the first member is written, the second half-written, then the "crash"
            fp.write(b"\x93NUMPY partial")
            raise exc
        real_write_array(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", crash_mid_write)
    with pytest.raises(type(exc)):
        minidl.save({"w": np.full(1000, 7.0), "v": np.ones(1000), "u": np.zeros(3)}, path)
    assert len(calls) == 2  # the crash did happen mid-write
    monkeypatch.undo()
    assert path.read_bytes() == before
    _no_temp_files(tmp_path)
    np.testing.assert_array_equal(minidl.load(path)["w"], np.arange(100.0))


def test_failed_rename_leaves_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _checkpoint(tmp_path)
    before = path.read_bytes()

    def no_replace(src: Any, dst: Any) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError, match="rename failed"):
        minidl.save({"new": 1}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    _no_temp_files(tmp_path)


def test_save_fsyncs_the_temporary_file_before_renaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    minidl.save({"w": np.ones(3)}, tmp_path / "c.npz")
    assert events[:2] == ["fsync", "replace"], events
    _no_temp_files(tmp_path)


def test_overwriting_keeps_the_file_mode(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    os.chmod(path, 0o640)
    minidl.save({"x": 2}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640 and minidl.load(path) == {"x": 2}


# --------------------------------------------------------------------------- resuming training
def _train(n_steps: int, split: int | None, tmp_path: Path, make_opt: Any, make_sched: Any,
           restore_rng: bool = True) -> list[np.ndarray]:
    """Train a float64 MLP with dropout on a fixed problem; minibatches and dropout masks come from
    minidl's global RNG. With ``split``, stop after ``split`` steps, checkpoint, rebuild everything from
    scratch under another seed, load, and continue."""
    data_rng = np.random.default_rng(42)
    X = minidl.tensor(data_rng.normal(size=(64, 4)))
    y = minidl.tensor(data_rng.integers(0, 3, size=64))
    loss_fn = nn.CrossEntropyLoss()

    def build(seed: int) -> tuple[Any, Any, Any]:
        minidl.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 3)).double()
        opt = make_opt(model.parameters())
        return model, opt, make_sched(opt)

    model, opt, sched = build(0)
    start = 0
    if split is not None:
        for step in range(split):
            _one_step(model, opt, sched, X, y, loss_fn)
        path = tmp_path / "resume.npz"
        minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": minidl.get_rng_state(), "step": split}, path)
        del model, opt, sched
        model, opt, sched = build(1234)  # fresh objects, different weights and RNG stream
        ckpt = minidl.load(path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if restore_rng:
            minidl.set_rng_state(ckpt["rng"])
        start = ckpt["step"]
    for step in range(start, n_steps):
        _one_step(model, opt, sched, X, y, loss_fn)
    return [p.detach().numpy().copy() for p in model.parameters()]


def _one_step(model: Any, opt: Any, sched: Any, X: Any, y: Any, loss_fn: Any) -> None:
    idx = minidl.randperm(64)[:16].numpy()
    opt.zero_grad()
    loss_fn(model(minidl.tensor(X.numpy()[idx])), minidl.tensor(y.numpy()[idx])).backward()
    opt.step()
    sched.step()


RESUME_CASES = {
    "adam-exponential": (lambda ps: optim.Adam(ps, lr=0.02, weight_decay=1e-3),
                         lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95)),
    "sgd-momentum-step": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                          lambda o: lr_scheduler.StepLR(o, step_size=5, gamma=0.5)),
    "rmsprop-cosine": (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
                       lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=1e-4)),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_from_checkpoint_is_bit_identical(case: str, tmp_path: Path) -> None:
    make_opt, make_sched = RESUME_CASES[case]
    n = 24
    whole = _train(n, None, tmp_path, make_opt, make_sched)
    resumed = _train(n, n // 2, tmp_path, make_opt, make_sched)
    for a, b in zip(whole, resumed):
        np.testing.assert_array_equal(a, b)
    # control: without the RNG state the dropout masks and minibatches differ, so the test has teeth
    drifted = _train(n, n // 2, tmp_path, make_opt, make_sched, restore_rng=False)
    assert any(not np.array_equal(a, b) for a, b in zip(whole, drifted))


def test_save_needs_a_path_not_a_buffer() -> None:
    """Paths (str or PathLike) only: the atomic write needs a directory to put its temporary file in."""
    with pytest.raises(TypeError):
        minidl.save({}, io.BytesIO())  # type: ignore[arg-type]
