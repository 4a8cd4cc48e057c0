"""Reading the project's own .npz files (splits, preprocessors) without ever unpickling."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from mssfe.errors import DataError


def load_npz_arrays(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz archive; a missing, foreign or corrupt file is a DataError."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise DataError(f"{what} file not found", file=path) from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, AttributeError, TypeError) as exc:
        # a .npy (no archive), a pickle, a truncated zip ...
        raise DataError(f"not a readable {what} file ({exc})", file=path) from None


def read_metadata(raw: np.ndarray, path: str | Path, *, fmt: str, version: int, what: str) -> dict:
    """The JSON metadata string of one of our archives, checked for its format and version."""
    try:
        meta = json.loads(str(raw.item()))
    except (ValueError, TypeError) as exc:
        raise DataError(f"metadata is not JSON ({exc})", file=path, field="metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise DataError(
            f"not an mssfe {what}",
            file=path,
            field="metadata.format",
            expected=fmt,
            got=meta.get("format") if isinstance(meta, dict) else type(meta).__name__,
        )
    if meta.get("version") != version:
        raise DataError(
            f"unsupported {what} version",
            file=path,
            field="metadata.version",
            expected=version,
            got=meta.get("version"),
        )
    return meta
