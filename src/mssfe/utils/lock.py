"""One writer per output directory: an exclusive, advisory lock held while a process writes there.

Two ``mssfe train`` into the same run directory would each write their own ``config.toml``,
``best.pt`` and ``last.pt`` and both exit 0 with a mixed directory. The first writer holds an
``fcntl.flock`` lock on ``<dir>/.mssfe.lock`` and records who it is in that file; a second writer
is refused with one line naming the holder. The operating system releases a ``flock`` when its
process dies, however it dies (SIGKILL included), so a lock file left by a killed process is
stale by construction: the next writer takes it over and warns that it did.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mssfe.errors import MssfeError
from mssfe.utils.atomic import ensure_dir

LOCK_FILE = ".mssfe.lock"

try:  # POSIX; on other platforms the directory is not locked (the lock is advisory anyway)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class DirectoryBusyError(MssfeError):
    """Another live process holds the directory's lock."""


def _holder_text(raw: str) -> str:
    try:
        info = json.loads(raw)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["started"])))
        return f"process {info['pid']} on {info['host']} ({info['command']}, since {started})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _me() -> dict[str, Any]:
    argv = sys.argv or ["python"]
    program = Path(argv[0]).name
    if program in ("__main__.py", "mssfe"):  # python -m mssfe, or the console script
        program = "mssfe"
    command = " ".join([program, *argv[1:]])
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command[:500],
        "started": time.time(),
    }


@contextlib.contextmanager
def directory_lock(directory: str | Path, what: str = "directory") -> Iterator[Path]:
    """Hold ``directory``'s writer lock for the block (the directory is created if missing).

    Raises :class:`DirectoryBusyError` at once, without waiting, while another live process
    holds it. Re-entering from the process that holds it is refused too: one writer, once.
    """
    directory = ensure_dir(directory)
    path = directory / LOCK_FILE
    if fcntl is None:  # pragma: no cover - Windows
        yield path
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise MssfeError(f"cannot write in {directory}: {exc.strerror or exc}") from exc
    handle: IO[str] = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(handle.read())
            raise DirectoryBusyError(
                f"{directory}: this {what} is being written by {holder}; wait for it to finish "
                f"or write elsewhere (--out)"
            ) from None
        left = handle.read()
        if left.strip():  # its holder died without releasing it (a release empties the file)
            warnings.warn(
                f"{directory}: took over the lock left by {_holder_text(left)}, which is no "
                "longer running",
                stacklevel=3,
            )
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_me()))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file: nobody holds it
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
