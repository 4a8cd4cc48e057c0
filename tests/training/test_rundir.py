"""The run directory and its records: what earlier versions wrote still reads.

``runs_b24dd1c/`` holds run directories written by the code at commit b24dd1c, before records
carried a format version (an MS²FENet run on a 30-column crop of Salinas-A, 2 epochs, without
its last.pt; an SVM run; each group's summary). They must read, resume as finished, report,
re-evaluate and match their own configuration, untouched.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mssfe.cli import main
from mssfe.data.scenes import load_scene
from mssfe.errors import DataError
from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.inference import evaluate_run
from mssfe.training.rundir import (
    EpochRecord,
    GroupDir,
    MetricsRecord,
    RunDir,
    RunRecord,
)
from mssfe.training.trainer import run_or_resume

OLD = Path(__file__).parent / "runs_b24dd1c" / "SalinasA"
OLD_NET = RunConfig(
    model="ms2fenet",
    model_args={"patch_size": 9, "n_components": 10},
    data=DataConfig(scene="SalinasA", split="random:5"),
    optim=OptimConfig(max_epochs=2, patience=2),
    runtime=RuntimeConfig(progress=False, device="cpu"),
)
OLD_SVM = RunConfig(
    model="svm",
    data=DataConfig(scene="SalinasA", split="random:5"),
    runtime=RuntimeConfig(progress=False),
)


@pytest.fixture
def old_runs(tmp_path: Path) -> Path:
    """A copy of the b24dd1c run directories, so a test that writes cannot change them."""
    shutil.copytree(OLD, tmp_path / "SalinasA")
    return tmp_path / "SalinasA"


def _crop() -> object:
    full = load_scene("SalinasA")
    return dataclasses.replace(
        full, cube=np.ascontiguousarray(full.require_cube()[:, :30]), labels=full.labels[:, :30]
    )


def test_records_written_before_versions_read_as_version_1(old_runs: Path) -> None:
    net = RunDir(old_runs / "ms2fenet" / "random-5" / "seed0")
    metrics = net.read_metrics()
    assert metrics.format_version == 1 and metrics.world_size == 1 and metrics.n_fit is None
    assert (metrics.model, metrics.protocol, metrics.epochs) == ("ms2fenet", "random:5", 2)
    raw = json.loads(net.metrics_file.read_text())
    assert metrics.to_json() == {"format_version": 1, **raw}  # nothing lost on the way
    assert [e.epoch for e in net.read_log()] == [1, 2]
    assert net.read_record().config["optim"]["max_epochs"] == 2
    assert net.read_config().optim is not None and net.read_config().optim.lr == 0.001
    svm = RunDir(old_runs / "svm" / "random-5" / "seed0").read_metrics()
    assert svm.fitted is not None and svm.n_fit == 30 and svm.world_size is None
    summary = GroupDir(old_runs / "svm" / "random-5").read()
    assert summary.seeds == (0, 1) and summary.summary.n_runs == 2


def test_an_old_run_is_kept_as_finished_and_matches_its_config(old_runs: Path) -> None:
    """A benchmark or ``mssfe train`` meeting an old run directory reuses it, untouched: the
    SVM's config.toml holds the optimiser values it faked, and still matches."""
    svm = old_runs / "svm" / "random-5" / "seed0"
    before = {p.name: p.read_bytes() for p in svm.iterdir()}
    result = run_or_resume(OLD_SVM, svm)
    assert result.metrics == RunDir(svm).read_metrics().metrics
    net = old_runs / "ms2fenet" / "random-5" / "seed0"
    assert run_or_resume(OLD_NET, net, scene=_crop()).epochs == 2
    assert {p.name: p.read_bytes() for p in svm.iterdir()} == before


def test_an_old_run_re_evaluates_reports_and_predicts(old_runs: Path, tmp_path: Path) -> None:
    net = old_runs / "ms2fenet" / "random-5" / "seed0"
    stored = RunDir(net).read_metrics().metrics
    assert evaluate_run(net, scene=_crop()).oa == pytest.approx(stored.oa)
    assert main(["report", str(net), "--no-maps", "--out", str(tmp_path / "r")]) == 0
    assert "ms2fenet on SalinasA" in (tmp_path / "r" / "report.md").read_text()
    group = old_runs / "svm" / "random-5"
    assert main(["report", str(group), "--out", str(tmp_path / "g")]) == 0
    md = (tmp_path / "g" / "report.md").read_text()
    assert "| 0 | " in md and "| seed1 | – |" in md  # seed1 was not kept in the fixture


def test_a_newer_format_is_refused_with_its_file_and_field(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    shutil.copy(OLD / "svm" / "random-5" / "seed0" / "metrics.json", run.metrics_file)
    data = json.loads(run.metrics_file.read_text())
    run.metrics_file.write_text(json.dumps({**data, "format_version": 2}))
    with pytest.raises(DataError, match=r"metrics\.json: field 'format_version'.*expected 1 to 1"):
        run.read_metrics()
    run.metrics_file.write_text(json.dumps({**data, "n_train": "many"}))
    with pytest.raises(DataError, match=r"field 'n_train'.*expected int, got str 'many'"):
        run.read_metrics()
    del data["scene"]
    run.metrics_file.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"field 'scene': a field is missing"):
        run.read_metrics()


def test_records_round_trip_and_the_log_skips_a_torn_line(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    entries = [
        EpochRecord(epoch=e, loss=1 / e, train_acc=0.5, val_loss=float("nan"), val_acc=0.4,
                    lr=1e-3, seconds=0.1)
        for e in (1, 2, 3)
    ]  # fmt: skip
    for entry in entries:
        run.append_log(entry)
    with open(run.log_file, "a") as handle:
        handle.write('{"epoch": 4, "loss": 0.')  # killed mid-write
    assert [e.epoch for e in run.read_log()] == [1, 2, 3]
    assert len(run.repair_log(2)) == 1  # the torn line, dropped with a warning
    assert [e.epoch for e in run.read_log()] == [1, 2]
    record = RunRecord(seed=3, config={"model": "svm"}, wall_time_s=None)
    run.write_results(RunDir(OLD / "svm" / "random-5" / "seed0").read_metrics(), record)
    assert run.read_record() == record
    assert json.loads(run.record_file.read_text())["format_version"] == 1
    metrics = RunDir(OLD / "svm" / "random-5" / "seed0").read_metrics()
    assert MetricsRecord.from_json(metrics.to_json()) == metrics
