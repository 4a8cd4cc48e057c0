"""A set of output files that appears whole or not at all, however the writer is stopped.

``mssfe predict`` and ``mssfe report`` write several files into one ``--out`` (a class map, its
PNG and ``prediction.json``; figures, ``report.md`` and ``report.html``). Killed half way through
rewriting an existing ``--out``, they used to leave a new ``class_map.tif`` beside an old
``prediction.json``. Here every file is first written into a staging directory inside ``--out``;
only when all exist does the old *record* file (the one that says the set is finished) go, the
staged files move in by ``rename``, and the record moves in last. A reader that finds the record
finds the rest of its set; one that does not, finds no finished set. Other files a user keeps in
``--out`` are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mssfe.errors import MssfeError
from mssfe.utils.atomic import ensure_dir, fsync_dir
from mssfe.utils.lock import directory_lock
from mssfe.utils.paths import describe_path

STAGING_PREFIX = ".mssfe-staging-"


def check_output_dir(out: str | Path, option: str = "--out") -> Path:
    """``out`` is a directory or nothing yet, and a file can be created in it: checked before
    any work, so a long computation never ends in an unwritable output."""
    out = Path(out)
    what = describe_path(out)
    if what not in ("a directory", "nothing at that path"):
        raise MssfeError(f"{option} {out}: expected a directory to write into, got {what}")
    ensure_dir(out)
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise MssfeError(f"{option} {out}: cannot write there ({exc.strerror or exc})") from None
    return out


@contextlib.contextmanager
def output_set(out: str | Path, record: str, option: str = "--out") -> Iterator[Path]:
    """Yield a staging directory; when the block ends without error, its files replace their
    namesakes in ``out`` with ``record`` moved last (see the module docstring).

    ``out`` is locked for the block: a second writer of the same directory is refused.
    """
    out = check_output_dir(out, option)
    with directory_lock(out, "output directory"):
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        try:
            yield staging
            _publish(staging, out, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, out: Path, record: str) -> None:
    names = sorted(p.name for p in staging.iterdir())
    if record not in names:
        raise MssfeError(f"{out}: the output set was not finished: {record} was never written")
    try:
        (out / record).unlink(missing_ok=True)  # from now on no finished set is claimed
        fsync_dir(out)
        for name in [n for n in names if n != record] + [record]:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(staging / name, target)
        fsync_dir(out)
    except OSError as exc:
        raise MssfeError(f"cannot write {out}: {exc.strerror or exc}") from exc
