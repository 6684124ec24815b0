"""Where data lives, and downloading it (only when the user asks, always with a checksum).

- ``default_data_dir()``: ``$MINIDL_DATA`` as a Path, or None (examples then use embedded data);
  ``default_cache_dir()``: the per-user folder ``--download`` uses when no data directory is given.
- ``download_url(url, root, filename, md5=..., sha256=...)``: fetch to a temporary file next to the
  destination while hashing, compare with the expected checksum, and only then ``os.replace`` it
  into place (atomic on one file system). A mismatch deletes the temporary file and raises
  ``ChecksumError``; an interrupted download never leaves a half-written file under the final name.
  A download without any checksum is refused.
- ``extract_archive(path, to)``: unpack a .tar(.gz) refusing members that would land outside ``to``.

Dataset classes call these only with ``download=True``; tests never download (they use file:// URLs).
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from minidl.data._files import CorruptFileError, check_integrity


class ChecksumError(CorruptFileError):
    """A downloaded (or found) file does not have the expected checksum."""


class DownloadError(RuntimeError):
    """No mirror could deliver a file (no network, a moved URL); the message lists what was tried."""


def default_data_dir() -> Path | None:
    """``$MINIDL_DATA`` (the folder of real datasets), or None when unset or empty."""
    d = os.environ.get("MINIDL_DATA")
    return Path(d) if d else None


def default_cache_dir() -> Path:
    """Where ``--download`` puts datasets when no data directory is given: a per-user cache folder,
    ``$XDG_CACHE_HOME/minidl`` (default ``~/.cache/minidl``; ``%LOCALAPPDATA%\\minidl`` on Windows)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "minidl"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minidl"


def download_url(url: str, root: str | os.PathLike, filename: str | None = None, md5: str | None = None,
                 sha256: str | None = None, *, chunk: int = 1 << 20, progress: bool = True) -> Path:
    """Download ``url`` to ``root/filename`` unless a file with the right checksum is already there.

    Returns the path. Raises ``ValueError`` without a checksum, ``ChecksumError`` on a mismatch
    (the final path is then untouched), ``urllib.error.URLError`` when the URL cannot be fetched.
    """
    if md5 is None and sha256 is None:
        raise ValueError("download_url: refusing to download without an md5 or sha256 checksum")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    dest = root / (filename or os.path.basename(urllib.request.urlparse(url).path))
    if check_integrity(dest, md5, sha256):
        return dest
    hashes = {name: hashlib.new(name) for name, want in (("md5", md5), ("sha256", sha256)) if want}
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}")
            for block in iter(lambda: resp.read(chunk), b""):
                out.write(block)
                for h in hashes.values():
                    h.update(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
            out.flush()
            os.fsync(out.fileno())
        for name, want in (("md5", md5), ("sha256", sha256)):
            if want and hashes[name].hexdigest() != want.lower():
                raise ChecksumError(dest, f"downloaded from {url} but its {name} is {hashes[name].hexdigest()}, "
                                          f"expected {want.lower()}; the file was discarded")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def extract_archive(path: str | os.PathLike, to: str | os.PathLike) -> Path:
    """Unpack a tar / tar.gz archive into ``to``; members escaping ``to`` (``..``, absolute paths,
    links) are refused with ``CorruptFileError``."""
    path, to = Path(path), Path(to)
    to.mkdir(parents=True, exist_ok=True)
    dest = to.resolve()
    try:
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()) or (target != dest and dest not in target.parents):
                    raise CorruptFileError(path, f"unsafe archive member {m.name!r}")
            tar.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(dest)
    except (tarfile.TarError, EOFError) as e:
        raise CorruptFileError(path, f"unreadable archive ({e})") from e
    return to
