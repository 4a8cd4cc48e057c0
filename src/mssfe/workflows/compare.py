"""``mssfe compare``: the reference model's standing across benchmark tables, written out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mssfe.errors import ConfigError
from mssfe.evaluation.compare import Standing, best_of, format_standings, table_standings
from mssfe.utils.atomic import atomic_write_text
from mssfe.viz.standing import figure_standings
from mssfe.viz.style import save_figure
from mssfe.workflows.benchmark_dir import BenchmarkDir


def standings(
    tables: Sequence[str | Path], reference: str, *, best: bool = False
) -> list[Standing]:
    """The reference model's standing in every (scene, split) of ``tables`` (dirs or json files).

    ``best``: the tables are one grid under several training budgets; each other model is
    taken at the better of its budgets (:func:`~mssfe.evaluation.compare.best_of`).
    A (scene, split) the reference did not run in is left out; none at all is an error.
    """
    found: list[Standing] = []
    read = [BenchmarkDir.of(table).read() for table in tables]
    if best:
        try:
            meta, rows = best_of([(t.meta, t.rows) for t in read], reference)
        except ValueError as exc:
            raise ConfigError(f"--best-of: {exc}") from None
        source = "best of " + ", ".join(str(t) for t in tables)
        found += table_standings(meta, rows, reference, source=source)
    else:
        for table, one in zip(tables, read, strict=True):
            found += table_standings(one.meta, one.rows, reference, source=str(table))
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
    best: bool = False,
) -> tuple[str, list[Path]]:
    """The standings as Markdown, also saved to ``out`` and plotted to ``figure`` when given;
    ``best``: every other model at the better of the tables' budgets (see :func:`standings`).

    Returns the Markdown and the paths written.
    """
    found = standings(tables, reference, best=best)
    text = format_standings(found, reference)
    written: list[Path] = []
    if out:
        atomic_write_text(out, text)
        written.append(Path(out))
    if figure:
        written.append(save_figure(figure_standings(found, reference), figure))
    return text, written
