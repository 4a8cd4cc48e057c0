"""Atomic file writes: a reader sees the old file or the complete new one, never half of one.

Write to a temporary file in the same directory, flush and fsync it, then ``os.replace`` it
over the target and fsync the directory. The file gets the mode a plain ``open`` would give it
(0666 less the process umask: 0644 under the usual umask 022), not ``mkstemp``'s private 0600. Failures (full disk, read-only directory) raise a
:class:`~mssfe.errors.MssfeError` naming the target and leave any previous file intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from mssfe.errors import MssfeError


def _creation_mode() -> int:
    """0666 less the process umask, the mode ``open(path, "w")`` creates files with."""
    mask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only if the block ends without error."""
    target = Path(path)
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports 'w' and 'wb', got {mode!r}")
    ensure_dir(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise MssfeError(f"cannot write {target}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _creation_mode())
        handle: IO[Any]
        with os.fdopen(fd, "w", encoding="utf-8") if mode == "w" else os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MssfeError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_dir(path: str | Path) -> Path:
    """``mkdir -p path``; a parent that is a file, a read-only or full disk is an MssfeError."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise MssfeError(
            f"cannot create directory {directory}: a file of that name is in the way"
        ) from None
    except OSError as exc:
        raise MssfeError(f"cannot create directory {directory}: {exc.strerror or exc}") from exc
    return directory


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def atomic_save(path: str | Path, writer: Callable[[IO[bytes]], None]) -> None:
    """Run ``writer(handle)`` on a temporary binary file, then move it into place."""
    with atomic_open(path, "wb") as handle:
        writer(handle)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
