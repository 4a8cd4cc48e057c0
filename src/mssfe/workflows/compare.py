"""``mssfe compare``: the reference model's standing across benchmark tables, written out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mssfe.errors import ConfigError
from mssfe.evaluation.compare import Standing, format_standings, table_standings
from mssfe.utils.atomic import atomic_write_text
from mssfe.viz.standing import figure_standings
from mssfe.viz.style import save_figure
from mssfe.workflows.benchmark_dir import BenchmarkDir


def standings(tables: Sequence[str | Path], reference: str) -> list[Standing]:
    """The reference model's standing in every (scene, split) of ``tables`` (dirs or json files).

    A (scene, split) the reference did not run in is left out; none at all is an error.
    """
    found: list[Standing] = []
    for table in tables:
        read = BenchmarkDir.of(table).read()
        found += table_standings(read.meta, read.rows, reference, source=str(table))
    if not found:
        raise ConfigError(
            f"--reference: model {reference!r} is in none of the tables "
            f"({', '.join(str(t) for t in tables)})"
        )
    return found


def compare(
    tables: Sequence[str | Path],
    reference: str = "ms2fenet",
    *,
    out: str | Path | None = None,
    figure: str | Path | None = None,
) -> tuple[str, list[Path]]:
    """The standings as Markdown, also saved to ``out`` and plotted to ``figure`` when given.

    Returns the Markdown and the paths written.
    """
    found = standings(tables, reference)
    text = format_standings(found, reference)
    written: list[Path] = []
    if out:
        atomic_write_text(out, text)
        written.append(Path(out))
    if figure:
        written.append(save_figure(figure_standings(found, reference), figure))
    return text, written
