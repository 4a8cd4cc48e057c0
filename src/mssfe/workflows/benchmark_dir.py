"""What ``mssfe benchmark`` leaves in its ``--out`` directory, read back by report and compare."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mssfe.errors import DataError
from mssfe.utils.jsonfile import read_json

RESULTS_FILE = "results.json"  # what mssfe benchmark writes into its --out
REQUIRED_ROW_FIELDS = ("scene", "protocol", "model", "oa_mean")


def load_benchmark(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Meta and rows of a benchmark's results.json: {"meta": ..., "rows": [...]}, or a bare list
    of rows (no meta); tolerant of missing fields (shown as –) and of extra ones (kept)."""
    data = read_json(path)
    meta: dict[str, Any] = {}
    if isinstance(data, Mapping):
        meta = dict(data.get("meta") or {})
        data = data.get("rows") or data.get("results") or []
    if not isinstance(data, list):
        raise DataError(
            "benchmark results must be a list of rows",
            file=path,
            expected="list",
            got=type(data).__name__,
        )
    return meta, [dict(row) for row in data if isinstance(row, Mapping)]


def load_benchmark_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a benchmark's results.json (see :func:`load_benchmark`)."""
    return load_benchmark(path)[1]


def read_table(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A benchmark table (its ``--out`` directory or results.json) whose rows can be ranked."""
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(
            "no benchmark results here", file=file, expected="results.json of mssfe benchmark"
        )
    meta, rows = load_benchmark(file)
    for i, row in enumerate(rows):
        for key in REQUIRED_ROW_FIELDS:
            if key not in row:
                raise DataError(
                    "a benchmark row lacks a field", file=file, field=f"rows[{i}].{key}"
                )
    return meta, rows
