"""Saying what is at a path, so an error names the real problem ("a named pipe", "a symbolic
link loop") instead of the nearest wrong guess ("a directory", "nothing at that path")."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def describe_path(path: str | Path) -> str:
    """What ``path`` is, in words: "a regular file", "a directory", "nothing at that path", ..."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a broken symbolic link (to {os.readlink(path)})"
        return "nothing at that path"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"an unreadable path ({exc.strerror or exc})"
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((words for test, words in kinds if test(mode)), "a special file")
