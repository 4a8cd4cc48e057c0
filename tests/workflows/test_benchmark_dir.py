"""Benchmark directories and table records: every committed table reads, and the issue-6 tables
render byte-identical to what the code of commit b24dd1c rendered from them.

``rendered/issue6_*_results.md`` and ``rendered/issue6_*_report.md`` were written by that code
(``format_markdown`` and ``mssfe report`` on each committed results.json) before the rows became
records; the committed results.csv and summary.md are compared directly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mssfe.errors import DataError
from mssfe.evaluation.table import BenchmarkRow, BenchmarkTable
from mssfe.workflows.benchmark import format_csv, format_markdown
from mssfe.workflows.benchmark_dir import BenchmarkDir
from mssfe.workflows.compare import compare
from mssfe.workflows.report import write_report

ROOT = Path(__file__).resolve().parents[2]
ISSUE6 = ROOT / "benchmarks" / "results" / "issue6"
TABLES = sorted(p.parent.name for p in ISSUE6.glob("*/results.json"))
RENDERED = Path(__file__).parent / "rendered"
COMMITTED = sorted((ROOT / "benchmarks" / "results").rglob("results.json"))


def test_the_issue6_tables_are_all_here() -> None:
    assert TABLES == ["ip", "pu", "pu_ablation", "sa_disjoint", "sa_limited", "sa_sim"]


@pytest.mark.parametrize("path", COMMITTED, ids=[str(p.parent.name) for p in COMMITTED])
def test_every_committed_table_reads_and_round_trips(path: Path) -> None:
    """No format version in the file: version 1 (a table written since says so). Older tables
    lack the paired and best-epoch columns (None); writing a table read back gives the same
    JSON, plus its version."""
    table = BenchmarkDir.of(path).read()
    assert table.format_version == 1 and table.rows
    again = table.to_json()
    assert again.pop("format_version") == 1
    raw = json.loads(path.read_text())
    assert raw.pop("format_version", 1) == 1
    _assert_kept(raw, again)
    if any(r.oa_per_seed is None for r in table.rows):  # tables of before issue 6
        assert all(r.oa_per_seed is None and r.best_epochs is None for r in table.rows)
        assert "| - |" in format_markdown(table.meta, table.rows)  # no paired column to show


def _assert_kept(raw: object, again: object, where: str = "") -> None:
    """Every value of ``raw`` is in ``again`` unchanged; what ``again`` adds is None (a field
    the older table did not have)."""
    if isinstance(raw, dict) and isinstance(again, dict):
        for key in raw.keys() | again.keys():
            if key not in raw:
                assert again[key] is None, f"{where}.{key}"
            else:
                _assert_kept(raw[key], again.get(key, "<missing>"), f"{where}.{key}")
    elif isinstance(raw, list) and isinstance(again, list):
        assert len(raw) == len(again), where
        for i, (a, b) in enumerate(zip(raw, again, strict=True)):
            _assert_kept(a, b, f"{where}[{i}]")
    else:
        assert json.dumps(raw) == json.dumps(again), where


@pytest.mark.parametrize("name", TABLES)
def test_issue6_table_renders_byte_identical(name: str) -> None:
    table = BenchmarkDir(ISSUE6 / name).read()
    expected = (RENDERED / f"issue6_{name}_results.md").read_text(encoding="utf-8")
    assert format_markdown(table.meta, table.rows) == expected
    assert format_csv(table.rows) == (ISSUE6 / name / "results.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", TABLES)
def test_issue6_report_renders_byte_identical(name: str, tmp_path: Path) -> None:
    shutil.copy(ISSUE6 / name / "results.json", tmp_path / "results.json")
    _, md = write_report(tmp_path, tmp_path / "report", with_maps=False)
    expected = (RENDERED / f"issue6_{name}_report.md").read_text(encoding="utf-8")
    assert md.read_text(encoding="utf-8") == expected


def test_issue6_summary_re_renders_byte_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/results/issue6/summary.md, as issue6_tables.sh made it (tables named as given)."""
    monkeypatch.chdir(ISSUE6)
    order = ["pu", "ip", "sa_sim", "sa_disjoint", "sa_limited", "pu_ablation"]
    text, _ = compare(order, "ms2fenet")
    assert text == (ISSUE6 / "summary.md").read_text(encoding="utf-8")


def test_a_table_names_its_file_and_the_row_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps({"rows": [{"scene": "A", "protocol": "p", "model": "m", "oa_mean": 1}, 3]})
    )
    with pytest.raises(DataError, match=r"results\.json: field 'rows\[1\]': not a JSON object"):
        BenchmarkDir(tmp_path).read()
    path.write_text('"nope"')
    with pytest.raises(DataError, match="list of rows"):
        BenchmarkDir(tmp_path).read()
    path.write_text(json.dumps({"format_version": 2, "rows": []}))
    with pytest.raises(
        DataError, match=r"field 'format_version'.*expected 1 to 1 \(none: 1\), got 2"
    ):
        BenchmarkDir(tmp_path).read()
    with pytest.raises(DataError, match=r"no benchmark results here"):
        BenchmarkDir(tmp_path / "nowhere").read()


def test_a_row_keeps_what_this_version_does_not_know() -> None:
    raw = {"scene": "A-sim", "protocol": "p", "model": "m", "oa_mean": 0.5, "note": "x"}
    row = BenchmarkRow.from_json(raw)
    assert row.is_simulated and row.extra == {"note": "x"} and row.aa_mean is None
    assert BenchmarkTable.from_json([raw]).rows == (row,)
    assert row.to_json()["note"] == "x"
