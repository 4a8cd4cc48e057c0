"""A worker process that ends when the process that started it dies.

``mssfe benchmark --jobs N`` trains its cells in spawned pool workers. When the benchmark is
killed (SIGKILL, an out-of-memory kill, a closed terminal), the workers are not: each would
go on training its cell for minutes, holding the cell's lock and the cores, with nobody to
read its result. :func:`exit_with_parent`, run as the pool's initializer, watches the
parent's sentinel (a pipe the operating system closes when the parent dies, however it dies)
and interrupts the worker as Ctrl-C would: ``finally`` blocks run, the cell's lock is
released and its atomic writes stay whole, so the next benchmark resumes it from ``last.pt``.
Left to itself the interrupted pool worker would take the next queued cell; a cell run inside
:func:`orphan_guard` ends the process instead, once the interrupt has unwound, and a queued
cell never starts. A worker that does not stop within ``grace_s`` seconds is ended outright.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["exit_with_parent", "orphan_guard"]


def exit_with_parent(grace_s: float = 30.0) -> None:
    """Start a daemon thread that interrupts, then ends, this process when its parent dies.

    Does nothing in a process that ``multiprocessing`` did not start (no parent to watch).
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    threading.Thread(
        target=_watch, args=(parent, grace_s), name="mssfe-parent-watch", daemon=True
    ).start()


def _exit_if_orphaned() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        os._exit(1)


@contextlib.contextmanager
def orphan_guard() -> Iterator[None]:
    """Run one unit of a worker's work: not at all if the parent has died, and end the
    process (instead of taking more work) when the parent's death interrupted it."""
    _exit_if_orphaned()
    try:
        yield
    except KeyboardInterrupt:
        _exit_if_orphaned()  # the interrupt came from the watch: unwound, locks released
        raise


def _watch(parent: multiprocessing.process.BaseProcess, grace_s: float) -> None:
    parent.join()  # returns when the parent's sentinel closes: the parent has died
    print(
        f"mssfe: worker {os.getpid()}: the process that started it ({parent.pid}) has died; "
        "stopping (the cell resumes from its last checkpoint)",
        file=sys.stderr,
        flush=True,
    )
    os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt in the main thread; wakes a sleep
    threading.Event().wait(grace_s)
    os._exit(1)
