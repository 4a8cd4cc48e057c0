"""Finding scene files on disk and fetching the missing ones, always verified.

Files are looked up in the package's embedded directory (``extra_dirs``), then in
:func:`search_dirs`: an explicit ``data_dir``, ``$MSSFE_DATA_DIR``, the user cache. A found
file is checked against the registry's size and SHA-256; a small ``<name>.sha256ok`` stamp
beside it records a successful check so that large files are not re-hashed on every load.
Only files whose SHA-256 is known are downloaded; a download goes through pooch, which writes a
temporary file and moves it into place only once its hash matches, so a cut connection never
leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import platformdirs

from mssfe.data.registry import RemoteFile
from mssfe.errors import ChecksumError, DataError, DatasetNotFoundError, MssfeError
from mssfe.utils.atomic import atomic_write_json, sha256_file
from mssfe.utils.paths import describe_path

ENV_VAR = "MSSFE_DATA_DIR"
CACHE_ENV_VAR = "MSSFE_CACHE_DIR"
STAMP_SUFFIX = ".sha256ok"


def cache_dir() -> Path:
    """The per-user cache directory (``$MSSFE_CACHE_DIR`` overrides it, e.g. in tests and CI)."""
    override = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("mssfe"))


def _data_directory(path: str | Path, option: str) -> Path:
    """A data directory the user named: a missing one is fine (downloads create it), anything
    but a directory is refused rather than silently skipped."""
    directory = Path(path).expanduser()
    what = describe_path(directory)
    if what not in ("a directory", "nothing at that path"):
        raise DataError(
            "not a directory", file=directory, field=option, expected="a directory", got=what
        )
    return directory


def search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """Directories searched for scene files, in order: ``data_dir``, ``$MSSFE_DATA_DIR``, cache."""
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(_data_directory(data_dir, "--data-dir"))
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        candidates.append(_data_directory(env, f"${ENV_VAR}"))
    candidates.append(cache_dir())
    unique: list[Path] = []
    for directory in candidates:
        if directory not in unique:
            unique.append(directory)
    return unique


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Check ``path`` against the registry's size, then SHA-256; ChecksumError on a mismatch."""
    if not path.is_file():
        raise DatasetNotFoundError(
            "file not found", file=path, expected="an existing file", got="nothing at that path"
        )
    hint = "; delete it so that a verified copy can be downloaded, or replace it by hand"
    if remote.size is not None:
        size = path.stat().st_size
        if size != remote.size:
            raise ChecksumError(
                f"file size differs from the registry's{hint}",
                file=path,
                field="size",
                expected=f"{remote.size} bytes",
                got=f"{size} bytes",
            )
    if remote.sha256 is not None:
        digest = sha256_file(path)
        if digest.lower() != remote.sha256.lower():
            raise ChecksumError(
                f"SHA-256 differs from the registry's{hint}",
                file=path,
                field="sha256",
                expected=remote.sha256,
                got=digest,
            )


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _stamp_record(path: Path, remote: RemoteFile) -> dict[str, Any]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": remote.sha256}


def _stamp_is_current(path: Path, remote: RemoteFile) -> bool:
    try:
        recorded = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _stamp_record(path, remote))


def _verify_cached(path: Path, remote: RemoteFile) -> None:
    """Verify ``path`` unless a current stamp says it was verified; stamp it when possible."""
    if remote.sha256 is None:
        verify_file(path, remote)  # size only: cheap
        return
    if _stamp_is_current(path, remote):
        return
    verify_file(path, remote)
    _write_stamp(path, remote)


def _write_stamp(path: Path, remote: RemoteFile) -> None:
    """Record a successful verification beside ``path`` when its directory is writable."""
    if remote.sha256 is None or not os.access(path.parent, os.W_OK):
        return
    # The stamp only saves time; a failed write (full disk, race) must not fail the load.
    with contextlib.suppress(MssfeError):
        atomic_write_json(_stamp_path(path), _stamp_record(path, remote))


# ---------------------------------------------------------------------------------------------
# Locating and fetching
# ---------------------------------------------------------------------------------------------


def _where(dirs: Sequence[Path]) -> str:
    return ", ".join(str(d) for d in dirs)


def _first_writable(dirs: Sequence[Path]) -> Path | None:
    for directory in dirs:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory
    return None


def locate_file(
    remote: RemoteFile,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    extra_dirs: Sequence[Path] = (),
    progress: bool = True,
) -> Path:
    """Path of a verified copy of ``remote``, downloading it when allowed and verifiable.

    Raises DatasetNotFoundError (naming the file, every directory searched and the URL) when
    the file is nowhere and cannot be downloaded, ChecksumError when a copy is wrong.
    """
    dirs = search_dirs(data_dir)
    searched = [*extra_dirs, *dirs]
    for directory in extra_dirs:  # package data: small, verified every time, never stamped
        candidate = directory / remote.name
        if candidate.is_file():
            verify_file(candidate, remote)
            return candidate
    for directory in dirs:
        candidate = directory / remote.name
        if candidate.is_file():
            _verify_cached(candidate, remote)
            return candidate
    _check_downloadable(remote, searched, download)
    dest = _first_writable(dirs)
    if dest is None:
        raise DatasetNotFoundError(
            f"not found, and none of the data directories is writable to download it into; "
            f"searched: {_where(searched)}. Download {remote.url} by hand into one of them",
            file=remote.name,
        )
    try:
        path = fetch(remote, dest, progress=progress)
    except DatasetNotFoundError as exc:
        cause = exc.__cause__ or exc
        raise DatasetNotFoundError(
            f"not found in {_where(searched)}, and the download from {remote.url} failed "
            f"({type(cause).__name__}: {cause}). Check the network, or download the file by "
            "hand into one of those directories",
            file=remote.name,
        ) from exc
    _write_stamp(path, remote)  # fetch verified size and SHA-256 before the move
    return path


def _check_downloadable(remote: RemoteFile, searched: Sequence[Path], download: bool) -> None:
    """Raise DatasetNotFoundError unless a verified automatic download may be attempted."""
    place = f"place it in one of: {_where(searched)} (or set {ENV_VAR}, or pass a data dir)"
    if remote.url is None:
        raise DatasetNotFoundError(
            f"not found and has no public download URL; searched {_where(searched)}; {place}",
            file=remote.name,
        )
    if not download:
        raise DatasetNotFoundError(
            f"not found in {_where(searched)} and downloading is disabled; enable downloads "
            f"or fetch {remote.url} and {place}",
            file=remote.name,
        )
    if remote.sha256 is None:
        raise DatasetNotFoundError(
            f"not found in {_where(searched)}; the registry records no SHA-256 for it, so it "
            f"is never downloaded automatically (downloads must be verified). Download "
            f"{remote.url} yourself and {place}",
            file=remote.name,
        )


def fetch(
    remote: RemoteFile, dest_dir: Path, *, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download ``remote`` into ``dest_dir`` and return its path, verified by size and SHA-256.

    The file appears under its final name only complete and verified. Network failures raise
    DatasetNotFoundError (file, URL, reason); wrong bytes raise ChecksumError.
    """
    import pooch
    import requests

    if remote.url is None or remote.sha256 is None:
        raise DataError(
            "cannot download without a URL and a SHA-256",
            file=remote.name,
            expected="url and sha256 in the registry",
            got=f"url={remote.url}, sha256={remote.sha256}",
        )
    downloader = _VerifyingDownloader(remote, progress=progress, timeout=timeout)
    try:
        path = pooch.retrieve(
            remote.url,
            known_hash=f"sha256:{remote.sha256}",
            fname=remote.name,
            path=Path(dest_dir),
            downloader=downloader,
            progressbar=progress,
        )
    except ValueError as exc:  # pooch's hash mismatch; the verifying downloader reports first
        raise ChecksumError(
            f"downloaded from {remote.url} but the bytes are wrong ({exc}); nothing was kept",
            file=remote.name,
            field="sha256",
            expected=remote.sha256,
            got="a different hash",
        ) from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise DatasetNotFoundError(
            f"download from {remote.url} failed: {type(exc).__name__}: {exc}",
            file=remote.name,
        ) from exc
    return Path(path)


class _VerifyingDownloader:
    """pooch downloader that checks size and SHA-256 of the temporary file before the move.

    Raising here (ChecksumError) makes pooch delete the temporary file, so wrong bytes never
    appear under the final name, and the error can report the actual hash.
    """

    def __init__(self, remote: RemoteFile, *, progress: bool, timeout: float) -> None:
        import pooch

        self.remote = remote
        self.http = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)

    def __call__(self, url: str, output_file: Any, pooch: Any) -> None:
        self.http(url, output_file, pooch)
        tmp = Path(output_file if isinstance(output_file, str | os.PathLike) else output_file.name)
        try:
            verify_file(tmp, self.remote)
        except ChecksumError as exc:
            raise ChecksumError(
                f"downloaded from {url} but the bytes differ from the registry's; the download "
                "was deleted (the server's file may have changed, or the transfer was corrupted)",
                file=self.remote.name,
                field=exc.field,
                expected=exc.expected,
                got=exc.got,
            ) from exc
