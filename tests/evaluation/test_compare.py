"""`mssfe compare`: the reference model's standing across benchmark tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mssfe.cli import main
from mssfe.errors import ConfigError, DataError
from mssfe.evaluation.compare import format_standings, paired_difference
from mssfe.evaluation.table import BenchmarkRow
from mssfe.workflows.compare import standings

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "issue6"


def _row(model: str, seeds: list[int], oa: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "scene": "PaviaU-sim",
        "simulated": True,
        "protocol": "random:0.01",
        "model": model,
        "seeds": seeds,
        "oa_per_seed": oa,
        "oa_mean": sum(oa) / len(oa),
        "oa_std": 0.0,
        **extra,
    }


def _table(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    out = tmp_path / name
    out.mkdir()
    meta = {"epoch_budget": {"max_epochs": 30, "patience": 10}}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}))
    return out


def test_standing_in_a_committed_table_agrees_with_the_table_itself() -> None:
    """On the PaviaU-sim table a real benchmark wrote: the rank follows the mean OA column, and
    the rival's paired difference is the one the table prints in its own paired column."""
    table = RESULTS / "pu"
    rows = json.loads((table / "results.json").read_text())["rows"]
    found = standings([table], "ms2fenet")
    assert [(s.scene, s.protocol) for s in found] == list(
        dict.fromkeys((r["scene"], r["protocol"]) for r in rows)
    )
    markdown = (table / "results.md").read_text()
    for s in found:
        sub = [r for r in rows if r["protocol"] == s.protocol]
        ordered = [r["model"] for r in sorted(sub, key=lambda r: r["oa_mean"], reverse=True)]
        assert ordered.index("ms2fenet") + 1 == s.rank
        assert s.rival is not None and s.rival.model == ordered[1 if s.rank == 1 else 0]
        section = markdown.split(f"split `{s.protocol}`")[1]
        printed = re.search(rf"^\| {re.escape(s.rival.model)} \| [^|]+\| ([^|]+) \|", section, re.M)
        assert printed is not None and printed.group(1).strip() == str(s.paired)


def test_pairs_only_the_seeds_both_models_ran() -> None:
    ref = _row("ms2fenet", [0, 1, 2], [0.90, 0.80, 0.70])
    other = _row("ssrn", [1, 2, 3], [0.85, 0.60, 0.99])
    paired = paired_difference(BenchmarkRow.from_json(other), BenchmarkRow.from_json(ref))
    assert paired is not None
    assert (paired.n, paired.better) == (2, 1)
    assert paired.mean == pytest.approx(((0.85 - 0.80) + (0.60 - 0.70)) / 2 * 100)
    lone = BenchmarkRow.from_json(_row("svm", [7], [0.5]))
    assert paired_difference(lone, BenchmarkRow.from_json(ref)) is None


def test_rank_rival_and_sentence(tmp_path: Path) -> None:
    rows = [
        _row("ms2fenet", [0, 1], [0.90, 0.92], flops_per_pixel=10),
        _row("ssrn", [0, 1], [0.95, 0.97], flops_per_pixel=40),
        _row("svm", [0, 1], [0.80, 0.81]),
    ]
    (s,) = standings([_table(tmp_path, "t", rows)], "ms2fenet")
    assert (s.rank, s.n_models, s.beaten) == (2, 3, 1)
    assert s.rival is not None and s.rival.model == "ssrn"
    text = format_standings([s], "ms2fenet")
    assert "| 2 of 3 | ssrn (96.00) | +5.00 ± 0.00 (2/2) | 1 of 2 | 4.0x |" in text
    assert "`ms2fenet` 2nd of 3, 5.00 points below ssrn; ssrn better on 2/2 seeds." in text
    assert "first in 0 of the 1" in text


def test_a_table_without_the_reference_is_skipped_and_none_at_all_is_an_error(
    tmp_path: Path,
) -> None:
    with_ref = _table(tmp_path, "a", [_row("ms2fenet", [0], [0.9]), _row("svm", [0], [0.8])])
    without = _table(tmp_path, "b", [_row("svm", [0], [0.8])])
    assert [s.source for s in standings([with_ref, without], "ms2fenet")] == [str(with_ref)]
    with pytest.raises(ConfigError, match="'ms2fenet' is in none of the tables"):
        standings([without], "ms2fenet")


def test_bad_input_names_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing.*results\.json"):
        standings([tmp_path / "missing"], "ms2fenet")
    row = _row("ms2fenet", [0], [0.9])
    del row["oa_mean"]
    with pytest.raises(DataError, match=r"results\.json: field 'rows\[0\]\.oa_mean'"):
        standings([_table(tmp_path, "t", [row])], "ms2fenet")


def test_figure_draws_every_paired_model_of_every_row() -> None:
    from mssfe.viz.standing import figure_standings

    found = standings([RESULTS / "pu", RESULTS / "sa_disjoint"], "ms2fenet")
    fig = figure_standings(found, "ms2fenet")
    ax = fig.axes[0]
    assert len(found) == 4 and all(len(s.pairs) == 6 for s in found)  # 7 models per row
    assert len(ax.containers) == 4 * 6  # one error bar per (row, other model)
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == [
        f"{s.scene}{' (simulated)' if s.simulated else ''} {s.protocol}" for s in found
    ]


def test_cli_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "summary.md", tmp_path / "summary.png"
    assert main(["compare", str(RESULTS / "pu"), "--out", str(out), "--figure", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert out.read_text() in printed
    assert "PaviaU-sim (simulated) | `random:0.01` | 69% | 5 |" in out.read_text()
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def _budget_table(tmp_path: Path, name: str, epochs: int, rows: list[dict[str, Any]]) -> Path:
    out = _table(tmp_path, name, rows)
    payload = json.loads((out / "results.json").read_text())
    payload["meta"] = {"epoch_budget": {"max_epochs": epochs, "patience": 10}, "seeds": [0, 1, 2]}
    (out / "results.json").write_text(json.dumps(payload))
    return out


def test_best_of_takes_each_rival_at_its_better_budget_and_the_reference_as_first_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HybridSN trails under the shared budget and leads under its own: with --best-of the
    rival is HybridSN at its own budget, named so; the reference keeps its first-table row
    even where another table holds a better one (picking by test OA may only favour rivals)."""
    shared = _budget_table(tmp_path, "shared", 30, [
        _row("ms2fenet", [0, 1, 2], [0.90, 0.91, 0.92]),
        _row("hybridsn", [0, 1, 2], [0.58, 0.60, 0.59]),
        _row("svm", [0, 1, 2], [0.85, 0.86, 0.84]),
    ])  # fmt: skip
    own = _budget_table(tmp_path, "own", 100, [
        _row("ms2fenet", [0, 1, 2], [0.99, 0.99, 0.99]),
        _row("hybridsn", [0, 1, 2], [0.93, 0.94, 0.95]),
        _row("svm", [0, 1, 2], [0.80, 0.81, 0.82]),
    ])  # fmt: skip
    (standing,) = standings([shared, own], "ms2fenet", best=True)
    assert standing.reference.oa_per_seed == (0.90, 0.91, 0.92)  # the first table's
    assert standing.rival is not None and standing.rival.model == "hybridsn [100 ep / patience 10]"
    paired = standing.paired
    assert paired is not None and paired.better == 3 and paired.mean == pytest.approx(3.0)
    assert "svm" in standing.pairs  # the SVM's shared-budget row (better there), unmarked
    assert standing.pairs["svm"].mean == pytest.approx(-6.0)
    # without --best-of each table stands alone: HybridSN is last in the first
    plain = standings([shared, own], "ms2fenet")
    assert [s.rank for s in plain] == [1, 1]
    assert main(["compare", str(shared), str(own), "--best-of"]) == 0
    assert "hybridsn [100 ep / patience 10]" in capsys.readouterr().out


def test_best_of_refuses_tables_on_other_pixels(tmp_path: Path) -> None:
    a = _budget_table(tmp_path, "a", 30, [_row("ms2fenet", [0], [0.9])])
    b = _budget_table(tmp_path, "b", 100, [_row("ms2fenet", [0], [0.9])])
    payload = json.loads((b / "results.json").read_text())
    payload["meta"]["max_test"] = 3000
    (b / "results.json").write_text(json.dumps(payload))
    with pytest.raises(ConfigError, match="--best-of: tables differ in max_test"):
        standings([a, b], "ms2fenet", best=True)


def test_sentence_of_a_partial_table_says_its_means_are_over_different_seeds(
    tmp_path: Path,
) -> None:
    """The rival finished one seed of three: its mean is not comparable with the reference's,
    so the sentence names both seed sets and the paired difference (before, it printed the
    gap of the two means alone: 0.65 points below where the paired difference was +0.07)."""
    rows = [
        _row("ms2fenet", [0, 1, 2], [0.99, 0.96, 0.99]),
        _row("ssrn", [1], [0.985]),
    ]
    (s,) = standings([_table(tmp_path, "t", rows)], "ms2fenet")
    text = format_standings([s], "ms2fenet")
    assert (
        "`ms2fenet` 2nd of 2, 0.50 points below ssrn; ssrn better on 1/1 seeds; the means are "
        "over different seeds (ssrn seed 1, `ms2fenet` seeds 0, 1, 2), paired on the 1 shared: "
        "+2.50." in text
    )
    full = [_row("ms2fenet", [0, 1], [0.9, 0.9]), _row("svm", [0, 1], [0.8, 0.8])]
    (t,) = standings([_table(tmp_path, "u", full)], "ms2fenet")
    assert "different seeds" not in format_standings([t], "ms2fenet")
