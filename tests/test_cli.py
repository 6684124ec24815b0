"""The command line a newcomer meets: user errors give one clear message and exit status 2 without a
traceback (``--debug`` shows it), bugs still raise; ``--download`` fetches checksummed files (from
``file://`` URLs here: tests never touch the network)."""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples import __main__ as cli
from examples import cnn_data
from examples._runner import UserError, data_dir

ROOT = Path(__file__).resolve().parents[1]


def examples(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, MINIDL_DATA="", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "examples", *argv], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *argv: str
               ) -> subprocess.CompletedProcess:
    """``python -m examples ARGV`` run in this process (cheaper: no interpreter start, no re-import)."""
    monkeypatch.setattr(sys, "argv", ["examples", *argv])
    monkeypatch.setenv("MINIDL_DATA", "")
    try:
        code = cli.main()
    except SystemExit as e:  # argparse
        code = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


def test_missing_mnist_names_the_files_and_the_way_out(tmp_path: Path) -> None:
    proc = examples("cnn", "--dataset", "mnist", "--data-dir", "/nonexistent", "--out", str(tmp_path))
    assert_user_error(proc, "error: ", "/nonexistent/MNIST/raw/t10k-images-idx3-ubyte.gz", "--download",
                      "--data-dir")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = examples("cnn", "--dataset", "mnist", "--data-dir", "/nonexistent", "--out", str(tmp_path), "--debug")
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "UserError" in proc.stderr


def test_image_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty" / "forest").mkdir(parents=True)
    (tmp_path / "empty" / "forest" / "notes.txt").write_text("not an image")
    proc = examples("bow", "--quick", "--train-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run"))
    assert_user_error(proc, "contains no image file", str(tmp_path / "empty" / "forest"))
    proc = examples("cnn", "--train-dir", str(tmp_path / "empty"), "--test-dir", str(tmp_path / "empty"),
                    "--out", str(tmp_path / "run"))  # the same mistake in the other chapter
    assert_user_error(proc, "no .jpg", str(tmp_path / "empty"))


def test_weights_that_do_not_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    np.savez(tmp_path / "other.npz", **{"conv1.weight": np.zeros((3, 3, 5, 5), np.float32)})
    proc = in_process(monkeypatch, capsys, "cnn", "--quick", "--epochs", "1", "--weights",
                      str(tmp_path / "other.npz"), "--out", str(tmp_path / "run"))
    assert_user_error(proc, f"--weights {tmp_path / 'other.npz'} does not fit", "conv1.weight", "Missing key")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    proc = in_process(monkeypatch, capsys, "cnn", "--quick", "--epochs", "1", "--weights",
                      str(tmp_path / "junk.pth"), "--out", str(tmp_path / "run"))
    assert_user_error(proc, "junk.pth")


def test_unknown_option_value_and_unknown_chapter(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    assert_user_error(examples("cnn", "--optimizer", "adamw"), "invalid choice: 'adamw'")
    assert_user_error(in_process(monkeypatch, capsys, "cnnn"), "unknown chapter 'cnnn'")
    assert_user_error(in_process(monkeypatch, capsys, "all", "--only", "circles,cnn"),
                      "--only: unknown chapter(s) circles")


def test_cuda_without_a_gpu_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is not an error here")
    proc = in_process(monkeypatch, capsys, "cnn", "--backend", "torch", "--device", "cuda", "--out", str(tmp_path))
    assert_user_error(proc, "--device cuda", "no CUDA GPU")
    assert not (tmp_path / "metrics.json").exists()
    assert_user_error(in_process(monkeypatch, capsys, "cnn", "--device", "cuda", "--out", str(tmp_path)),
                      "minidl backend runs on the CPU")


def test_torchrun_semantics_are_refused_where_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    assert_user_error(in_process(monkeypatch, capsys, "circles_svm", "--quick", "--distributed", "--out", str(tmp_path)),
                      "does not train on several processes")


def test_bugs_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception that is not a UserError is a bug: it keeps its traceback (no exit status 2)."""
    def broken(argv: list[str]) -> None:
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr("examples.circles_svm.main", broken)
    monkeypatch.setattr(sys, "argv", ["examples", "circles_svm"])
    with pytest.raises(ZeroDivisionError):
        cli.main()


# --------------------------------------------------------------------------- --download (file:// only)
def _idx(data: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in data.shape)
    return gzip.compress(header + data.astype(np.uint8).tobytes())


@pytest.fixture()
def mnist_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """A file:// 'mirror' with four small MNIST-format files; MNIST's md5 table points at them."""
    from minidl.data import MNIST
    rng = np.random.default_rng(0)
    files = {}
    for prefix, n in (("train", 40), ("t10k", 20)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(rng.integers(0, 256, (n, 28, 28)), 0x803)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(np.arange(n) % 10, 0x801)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, blob in files.items():
        (mirror / name).write_bytes(blob)
    monkeypatch.setattr(MNIST, "mirrors", [mirror.as_uri() + "/"])
    monkeypatch.setattr(MNIST, "resources", [(n, hashlib.md5(b).hexdigest()) for n, b in files.items()])
    return files


def _args(**kw: object) -> argparse.Namespace:
    base = dict(train_dir=None, test_dir=None, dataset="mnist", data_dir=None, download=True, seed=0, model="lenet")
    return argparse.Namespace(**{**base, **kw})


def test_download_fetches_checksummed_files_into_the_data_dir(tmp_path: Path, mnist_mirror: dict) -> None:
    data = cnn_data.load(_args(data_dir=str(tmp_path / "data")))
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(mnist_mirror)  # no temporary file left behind
    assert all((raw / n).read_bytes() == b for n, b in mnist_mirror.items())
    assert data.X_train.shape == (40, 1, 28, 28) and data.X_test.shape == (20, 1, 28, 28)
    assert "official split" in data.description


def test_download_defaults_to_the_user_cache(tmp_path: Path, mnist_mirror: dict, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIDL_DATA", "")
    root = data_dir(_args())
    assert root == tmp_path / "cache" / "minidl" and str(root) in capsys.readouterr().out
    cnn_data.load(_args())
    assert (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()


def test_download_with_a_wrong_checksum_keeps_nothing(tmp_path: Path, mnist_mirror: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl.data import MNIST
    bad = [(n, "0" * 32 if n.startswith("t10k-images") else md5) for n, md5 in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", bad)
    with pytest.raises(UserError, match="md5"):
        cnn_data.load(_args(data_dir=str(tmp_path / "data")))
    assert not (tmp_path / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "data" / "MNIST" / "raw").glob("*.part"))


def test_download_command_and_chapter_prefetch(tmp_path: Path, mnist_mirror: dict, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    proc = in_process(monkeypatch, capsys, "download", "mnist", "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 0 and str(tmp_path / "d" / "MNIST" / "raw") in proc.stdout
    assert sorted(p.name for p in (tmp_path / "d" / "MNIST" / "raw").iterdir()) == sorted(mnist_mirror)
    # a chapter that reads MNIST without naming it to the downloader (gan, dann) gets it through data_dir
    root = data_dir(_args(chapter="gan", data_dir=str(tmp_path / "g")))
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").read_bytes() == \
        mnist_mirror["train-images-idx3-ubyte.gz"]
