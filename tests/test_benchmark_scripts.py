"""Benchmark scripts run here: the GPU one as a CPU smoke, the analysis ones on real runs or cells."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, script)  # a script's dataclasses look it up there
    spec.loader.exec_module(script)
    return script


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script measures for minutes")
def test_gpu_resident_says_no_cuda_and_writes_its_smoke_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script("gpu_resident", monkeypatch)
    out = tmp_path / "table.md"
    assert script.main(["--out", str(out)]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    text = out.read_text()
    assert "CPU smoke run (no CUDA device): not a GPU measurement" in text
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| authors") or line.startswith("| ours")
    ]
    assert [r.split(" | ")[:2] for r in rows] == [
        ["| authors", "host"],
        ["| authors", "device"],
        ["| ours", "host"],
        ["| ours", "device"],
    ]


def test_ssl_pool_diagnosis_recomputes_the_runs_test_accuracy_and_its_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real run on the embedded Salinas-A: the script's test-pixel accuracy is the run's
    recorded OA, and its pool is every pixel neither trained nor validated on."""
    from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
    from mssfe.training.rundir import RunDir
    from mssfe.training.trainer import train

    run_dir = tmp_path / "run"
    config = RunConfig(
        model="ms2fenet",
        model_args={"patch_size": 9, "n_components": 10},
        data=DataConfig(scene="SalinasA", split="random:5"),
        optim=OptimConfig(max_epochs=2, patience=2, lr=0.01),
        runtime=RuntimeConfig(progress=False, device="cpu", threads=1),
    )
    result = train(config, run_dir)
    script = _script("ssl_pool_diagnosis", monkeypatch)
    row = script.diagnose(run_dir)
    split = RunDir(run_dir).read_split()
    assert row["pool"] == 86 * 83 - split.train.size - split.val.size
    assert row["test_accuracy_%"] == pytest.approx(100 * result.metrics.oa, abs=1e-6)
    assert 0 <= row["confidently_wrong_%"] <= 100 - row["pool_accuracy_%"] + 1e-9
    out = tmp_path / "diag.md"
    assert script.main([str(run_dir), "--out", str(out)]) == 0
    assert f"| {tmp_path.name}/run | 0 | {row['pool']} | " in out.read_text()


def test_paired_cells_pairs_seed_by_seed_on_the_shared_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    def write(cell: str, oas: dict[int, float], name: str = "metrics.json") -> None:
        for seed, oa in oas.items():
            run = tmp_path / cell / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            (run / name).write_text(json.dumps({"metrics": {"oa": oa}}))

    write("ref", {0: 0.80, 1: 0.90, 2: 0.70})
    write("a", {0: 0.85, 1: 0.88})  # seed 2 unfinished: paired on seeds 0 and 1 only
    write("ref", {0: 0.81, 1: 0.90, 2: 0.70}, "evaluation.json")
    script = _script("paired_cells", monkeypatch)
    out = tmp_path / "paired.md"
    assert script.main([str(tmp_path), "ref", "x=1=a", "ref:evaluation", "--out", str(out)]) == 0
    rows = {line.split(" | ")[0]: line for line in out.read_text().splitlines() if "|" in line}
    assert rows["| x=1"] == "| x=1 | 86.50 ± 2.12 | +1.50 ± 4.95 (1/2) | 85.0, 88.0 |"
    assert rows["| ref:evaluation"].startswith(
        "| ref:evaluation | 80.33 ± 10.02 | +0.33 ± 0.58 (1/3)"
    )
    with pytest.raises(SystemExit, match="no finished seed"):
        script.main([str(tmp_path), "ref", "missing"])


def test_keep_cells_saves_finished_cells_without_weights_and_a_restored_dir_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mssfe.workflows.benchmark import benchmark

    script = _script("keep_cells", monkeypatch)
    args = dict(
        scenes=["SalinasA"],
        models=["svm", "cnn3d"],
        splits=["disjoint"],
        seeds=2,
        epochs=1,
        max_test=200,
        progress=False,
    )
    first = benchmark(out=tmp_path / "bench", **args)  # type: ignore[arg-type]
    unfinished = tmp_path / "bench/SalinasA/disjoint/cnn3d/seed1"
    (unfinished / "metrics.json").unlink()  # as if the session ended during this cell

    kept = tmp_path / "kept"
    assert script.save(tmp_path / "bench", kept) == 3
    assert not list(kept.rglob("*.pt")) and not list(kept.rglob(".mssfe.lock"))
    assert not (kept / "SalinasA/disjoint/cnn3d/seed1").exists()
    assert list((kept / "splits").iterdir())

    moved = tmp_path / "elsewhere"  # another machine: only the repository came along
    assert script.restore(kept, moved) == 3
    partial = benchmark(out=moved, finished_only=True, **args)  # type: ignore[arg-type]
    assert len(partial.rows) == 2
    assert [r.seeds for r in partial.rows] == [(0, 1), (0,)]  # svm both seeds, cnn3d seed 0

    resumed = benchmark(out=moved, **args)  # type: ignore[arg-type]
    trained = [p.parent.name for p in moved.rglob("last.pt")]
    assert trained == ["seed1"]  # only the missing cell trained again; the kept ones were read
    assert [r.oa_per_seed for r in resumed.rows] == [r.oa_per_seed for r in first.rows]


def test_recipe_rule_pairs_v2_with_v1_over_tables_and_keeps_v1_while_a_row_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script("recipe_rule", monkeypatch)
    issue16 = SCRIPTS / "results/issue16"
    tables = [
        issue16 / f"{t}/results.json" for t in ("sa_limited", "sa_fresh", "disjoint_SalinasA")
    ]
    found = script.verdicts(script.per_seed_oa(tables))
    by_row = {(v.scene, v.split): v for v in found}
    few = by_row[("SalinasA", "random:5")]  # seeds 0-4 from one table, the fresh 5-9 from another
    assert few.seeds == tuple(range(10)) and few.winner == "tie"
    assert few.paired.mean == pytest.approx(-0.61, abs=0.01) and few.paired.better == 3
    disjoint = by_row[("SalinasA", "disjoint")]
    assert disjoint.winner == "v2" and disjoint.paired.better == 5
    assert by_row[("IndianPines-sim", "disjoint")].winner == "missing"
    assert script.decision(found).startswith("v1 stays: 3 of 5 rows not complete")

    complete = [replace_row(v, tie=True) for v in found]  # every row in, all ties: v1 stays
    assert script.decision(complete).startswith("v1 stays (0 rows won by v2")
    complete[:3] = [replace_row(v, tie=False) for v in complete[:3]]
    assert script.decision(complete).startswith("v2 becomes the default (3 rows won")

    clash = tmp_path / "clash.json"  # the same seed with another OA in a second table
    data = json.loads(tables[1].read_text())
    data["rows"][[r["recipe_version"] for r in data["rows"]].index("mssfe v1")]["oa_per_seed"][
        0
    ] = 0.5
    clash.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match=r"seed 5 has OA 0\.5 here"):
        script.per_seed_oa([tables[1], clash])


def replace_row(verdict, *, tie: bool):  # type: ignore[no-untyped-def]
    """The verdict of a complete row: v2 ahead by 5 points, or by less than its standard error."""
    import dataclasses

    from mssfe.evaluation.compare import Paired

    mean = 0.1 if tie else 5.0
    return dataclasses.replace(verdict, missing=(), paired=Paired(mean, 1.0, 3, 5))
