"""Files that ship inside the package (Salinas-A cube, label maps of the standard scenes)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def embedded_dir() -> Path:
    """Directory holding the embedded scene files."""
    return Path(str(resources.files("mssfe.data") / "_embedded"))


def embedded_path(filename: str) -> Path | None:
    """Path of an embedded file, or None when the package does not ship it."""
    path = embedded_dir() / filename
    return path if path.is_file() else None
