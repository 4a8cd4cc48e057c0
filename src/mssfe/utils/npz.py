"""Reading the project's own .npz files (splits, preprocessors) without ever unpickling."""

from __future__ import annotations

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
