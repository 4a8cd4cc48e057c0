"""Reading the JSON files mssfe writes, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mssfe.errors import DataError


def read_json(path: str | Path) -> Any:
    """The parsed content of ``path``; an unreadable or damaged file raises :class:`DataError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read JSON ({exc})", file=path) from None
