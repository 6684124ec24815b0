"""File plumbing shared by the dataset readers: the error type, checksums, reading (gzipped) bytes.

Every reader raises ``CorruptFileError`` (a ``ValueError``) for a file that exists but is not what
it claims to be (truncated, wrong magic number, wrong size, bad checksum), with the file's path in
the message, and ``FileNotFoundError`` for a missing one.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"


class CorruptFileError(ValueError):
    """A data file is truncated, malformed or fails its checksum. ``.path`` names the file."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple:  # picklable, so a DataLoader worker can send it back
        return type(self), (self.path, self.reason)


def file_hash(path: str | os.PathLike, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``md5`` or ``sha256``), read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_integrity(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when the file exists and matches every checksum given (True if none is given)."""
    if not Path(path).is_file():
        return False
    if md5 is not None and file_hash(path, "md5") != md5.lower():
        return False
    if sha256 is not None and file_hash(path, "sha256") != sha256.lower():
        return False
    return True


def read_maybe_gzip(path: str | os.PathLike) -> bytes:
    """All bytes of ``path``, gunzipped when the file starts with the gzip magic (whatever its name).

    A gzip stream cut short (an interrupted download) or with a bad CRC raises ``CorruptFileError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise CorruptFileError(path, f"truncated gzip file ({len(raw):,} bytes; the stream ends before its "
                                     f"end marker: an interrupted download?). Delete it and fetch it again. "
                                     f"[{e}]") from e
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise CorruptFileError(path, f"corrupt gzip file ({e})") from e
