"""What ``mssfe benchmark`` leaves in its ``--out``: the one place that knows its file names.

A benchmark directory holds results.json (a :class:`~mssfe.evaluation.table.BenchmarkTable`),
results.md and results.csv (the same table for reading), ``splits/`` (one split per (scene,
protocol, seed), shared by every model) and one run directory per cell,
``SCENE/PROTOCOL/MODEL/seedN`` (``MODEL_RECIPE`` for a recipe other than ``paper``). The benchmark writes it; report and compare read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mssfe.errors import DataError
from mssfe.evaluation.compare import PAPER
from mssfe.evaluation.table import BenchmarkTable
from mssfe.training.recipes import recipe_key
from mssfe.training.rundir import RunDir
from mssfe.utils.atomic import atomic_write_json, atomic_write_text
from mssfe.utils.jsonfile import read_json
from mssfe.workflows.train import slug

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
RESULTS_CSV = "results.csv"
PARTIAL = "partial"  # the table of the finished cells of a benchmark still running


@dataclass(frozen=True)
class BenchmarkDir:
    """A benchmark's ``--out`` directory and the paths of everything in it."""

    path: Path

    @classmethod
    def of(cls, path: str | Path) -> BenchmarkDir:
        """The benchmark directory of ``path``: the directory itself or its results.json."""
        path = Path(path)
        return cls(path.parent if path.name == RESULTS_JSON and path.is_file() else path)

    @property
    def results_json(self) -> Path:
        return self.path / RESULTS_JSON

    @property
    def results_md(self) -> Path:
        return self.path / RESULTS_MD

    @property
    def results_csv(self) -> Path:
        return self.path / RESULTS_CSV

    @classmethod
    def table_of(cls, out: str | Path, *, partial: bool = False) -> BenchmarkDir:
        """Where a benchmark of ``out`` writes its table: ``out`` itself, or for a table of the
        cells finished so far (``--finished-only``) ``out/partial``, beside the cells and
        never in place of the full table."""
        return cls(Path(out) / PARTIAL if partial else Path(out))

    def has_results(self) -> bool:
        return self.results_json.is_file()

    def split_path(self, scene: str, protocol: str, seed: int, max_test: int | None) -> Path:
        """The split every model of (scene, protocol, seed) shares (with its test subset)."""
        cap = f"_test{max_test}" if max_test else ""
        return self.path / "splits" / f"{slug(scene)}_{slug(protocol)}_seed{seed}{cap}.npz"

    def cell(
        self, scene: str, protocol: str, model_label: str, seed: int, recipe: str = PAPER
    ) -> RunDir:
        """The run directory of one (scene, protocol, model, seed[, recipe]) cell: ``paper``
        cells where tables before recipes put them (so those resume), the cells of another
        recipe in ``MODEL_RECIPE`` folders beside them, named by the recipe with its version
        made explicit (:func:`recipe_key`), so a new version of a recipe never reuses the runs
        of an older one."""
        key = recipe_key(recipe)
        model = slug(model_label) if key == PAPER else f"{slug(model_label)}_{slug(key)}"
        return RunDir(self.path / slug(scene) / slug(protocol) / model / f"seed{seed}")

    def read(self) -> BenchmarkTable:
        """The table in results.json; a missing or malformed file is a DataError naming it."""
        if not self.has_results():
            raise DataError(
                "no benchmark results here",
                file=self.results_json,
                expected=f"{RESULTS_JSON} of mssfe benchmark",
            )
        return BenchmarkTable.from_json(read_json(self.results_json), file=self.results_json)

    def write(self, table: BenchmarkTable, *, markdown: str, csv: str) -> None:
        """results.json, results.md and results.csv, each atomically."""
        atomic_write_json(self.results_json, table.to_json())
        atomic_write_text(self.results_csv, csv)
        atomic_write_text(self.results_md, markdown)

    def files(self) -> tuple[Path, Path, Path]:
        """results.md, results.csv, results.json: what the CLI names when it is done."""
        return self.results_md, self.results_csv, self.results_json
