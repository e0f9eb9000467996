"""Small file helpers every stage uses: content hashes and atomic writes.

Atomic means a reader sees the old file or the new one, never half of one: the bytes go to a
temporary file in the same folder (same filesystem), which is then renamed over the target. An
interrupted writer leaves at most a hidden ``.NAME.*.tmp`` file, never a truncated ``NAME``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (videos can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating the parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's name:
    what a one-line error quotes of the cause."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else exc.__class__.__name__


def cache_root(kind: str) -> Path:
    """``$DANCENOW_CACHE/KIND`` if ``DANCENOW_CACHE`` is set, else ``~/.cache/dancenow/KIND``."""
    root = os.environ.get("DANCENOW_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "dancenow") / kind


def atomic_destination(path: str | os.PathLike[str]) -> Path:
    """A temporary path beside ``path`` for writers that need a file name (``torch.save``, numpy).

    Write to it, then ``os.replace(tmp, path)``; on failure, unlink it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)
