"""A benchmark table's records: its rows and what it was run with (results.json).

``mssfe benchmark`` writes them, ``report`` and ``compare`` read them; no file I/O here
(:class:`mssfe.workflows.benchmark_dir.BenchmarkDir` owns the files). Every table written so
far reads: a file with no ``format_version`` is version 1, today's layout; tables from before
the paired column lack ``oa_per_seed``, ``best_epochs`` and ``test_pixels`` (None); a bare list
of rows has no meta. Fields this version does not know are kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mssfe.errors import DataError
from mssfe.utils.jsonfile import record_from_json, record_to_json

TABLE_FORMAT_VERSION = 1

#: Fields of a table run with training recipes; a table written before recipes has none (its
#: rows are all ``paper``) and is written back without them.
_RECIPE_FIELDS = ("recipe", "recipe_version", "ssl_pool", "tta")


@dataclass(frozen=True, kw_only=True)
class BenchmarkRow:
    """One (scene, protocol, model) of a benchmark: its metrics over seeds and its costs.

    OA, AA and kappa are fractions; ``*_per_seed`` and ``epochs`` follow ``seeds``.
    ``parameters`` and ``flops_per_pixel`` are None for an estimator; ``labelled_train_pixels``
    counts training plus validation pixels.
    """

    scene: str
    simulated: bool = False
    protocol: str
    model: str
    recipe: str | None = None  # as the benchmark was asked (``mssfe:tta=false``); None: paper
    recipe_version: str | None = None  # what its runs record: ``mssfe v1*``
    ssl_pool: str | None = None  # the unlabelled pool of its semi-supervised part
    tta: bool | None = None  # its test pass averaged the 8 flips/rotations
    seeds: tuple[int, ...] = ()
    oa_per_seed: tuple[float, ...] | None = None
    oa_mean: float
    oa_std: float | None = None
    aa_mean: float | None = None
    aa_std: float | None = None
    kappa_mean: float | None = None
    kappa_std: float | None = None
    per_class_mean: tuple[float, ...] = ()
    per_class_std: tuple[float, ...] = ()
    class_names: tuple[str, ...] = ()
    parameters: int | None = None
    flops_per_pixel: int | None = None
    train_seconds: float | None = None
    test_pixels_per_s: float | None = None
    leakage: float | None = None
    labelled_train_pixels: float | None = None
    test_pixels: float | None = None
    train_per_class: float | None = None
    epochs: tuple[int, ...] = ()
    best_epochs: tuple[int, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_simulated(self) -> bool:
        """Simulated by its flag or by its name (``-sim``): never shown as a real scene."""
        return self.simulated or self.scene.endswith("-sim")

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self, drop_none=_RECIPE_FIELDS)

    @classmethod
    def from_json(
        cls, data: Any, *, file: str | Path | None = None, where: str = ""
    ) -> BenchmarkRow:
        return record_from_json(cls, data, file=file, where=where)


@dataclass(frozen=True, kw_only=True)
class EpochBudget:
    """The training budget shared by every network of a table (None: each model's own)."""

    max_epochs: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class BenchmarkMeta:
    """How a table was run: its grid, budget, test subset, guard band, machine and date."""

    scenes: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    epoch_budget: EpochBudget = field(default_factory=EpochBudget)
    max_test: int | None = None
    guard_patch: int | None = None
    recipes: tuple[str, ...] | None = None  # None: a table of before recipes (paper)
    machine: Mapping[str, Any] = field(default_factory=dict)
    packages: Mapping[str, Any] = field(default_factory=dict)
    wall_seconds_this_invocation: float | None = None
    date: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class BenchmarkTable:
    """What results.json holds: ``{"format_version", "meta", "rows"}``."""

    format_version: int = TABLE_FORMAT_VERSION
    meta: BenchmarkMeta = field(default_factory=BenchmarkMeta)
    rows: tuple[BenchmarkRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "meta": record_to_json(self.meta, drop_none=("recipes",)),
            "rows": [row.to_json() for row in self.rows],
        }

    @classmethod
    def from_json(cls, data: Any, *, file: str | Path | None = None) -> BenchmarkTable:
        """A table from results.json as any version wrote it (a bare list: rows, no meta)."""
        raw_rows: Any = data  # a bare list: rows, no meta
        raw_meta: Any = {}
        version: Any = 1
        if isinstance(data, Mapping):
            raw_meta = data.get("meta") or {}
            raw_rows = data.get("rows", data.get("results", []))
            version = data.get("format_version", 1)
        if not isinstance(raw_rows, list):
            raise DataError(
                "benchmark results must be a list of rows",
                file=file,
                field="rows",
                expected="list",
                got=type(raw_rows).__name__,
            )
        head = record_from_json(_Head, {"format_version": version, "meta": raw_meta}, file=file)
        rows = tuple(
            BenchmarkRow.from_json(row, file=file, where=f"rows[{i}]")
            for i, row in enumerate(raw_rows)
        )
        return cls(format_version=head.format_version, meta=head.meta, rows=rows)


@dataclass(frozen=True, kw_only=True)
class _Head:
    """The version and meta of results.json, read (and checked) as one record."""

    format_version: int = TABLE_FORMAT_VERSION
    meta: BenchmarkMeta = field(default_factory=BenchmarkMeta)


def rows_of(rows: Sequence[BenchmarkRow], scene: str, protocol: str) -> list[BenchmarkRow]:
    """The rows of one (scene, protocol), in table order."""
    return [r for r in rows if r.scene == scene and r.protocol == protocol]
