"""Training on the real Salinas-A cube: determinism, resume, evaluation, run records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mssfe.data.scenes import Scene, load_scene
from mssfe.data.splits import Split
from mssfe.errors import MssfeError
from mssfe.training.checkpoint import load_checkpoint
from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.inference import evaluate_run
from mssfe.training.trainer import _StopRequested, train

SMALL = RunConfig(
    model="ms2fenet",
    model_args={"patch_size": 9, "n_components": 12},
    data=DataConfig(scene="SalinasA", split="random:10"),
    optim=OptimConfig(max_epochs=4, patience=10, batch_size=16),
    runtime=RuntimeConfig(progress=False, threads=1),
    seed=7,
)


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene("SalinasA")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, scene: Scene) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "full"
    train(SMALL, run_dir, scene=scene)
    return run_dir


def _weights(run_dir: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / name)["model"]


def test_run_directory_holds_every_record(finished_run: Path) -> None:
    for name in (
        "config.toml",
        "split.npz",
        "preprocessor.npz",
        "best.pt",
        "last.pt",
        "log.jsonl",
        "metrics.json",
        "metrics.md",
        "run.json",
    ):
        assert (finished_run / name).is_file(), name
    log = [json.loads(line) for line in (finished_run / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2, 3, 4]
    record = json.loads((finished_run / "run.json").read_text())
    assert record["seed"] == 7
    assert record["packages"]["torch"].startswith("2.13")
    assert record["data"]["cube"]["sha256"].startswith("d75684ed")
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert metrics["scene"] == "SalinasA" and metrics["simulated"] is False
    assert metrics["protocol"] == "random:10"
    assert 0.0 <= metrics["leakage"] <= 1.0
    assert metrics["n_train"] + metrics["n_val"] == 60  # 10 labelled pixels per class, 6 classes


def test_same_seed_gives_identical_weights(
    tmp_path: Path, scene: Scene, finished_run: Path
) -> None:
    train(SMALL, tmp_path / "again", scene=scene)
    first, second = _weights(finished_run), _weights(tmp_path / "again")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_resume_after_interruption_ends_with_the_same_weights(
    tmp_path: Path, scene: Scene, finished_run: Path
) -> None:
    run_dir = tmp_path / "interrupted"
    with pytest.raises(_StopRequested):
        train(SMALL, run_dir, scene=scene, stop_after_epoch=2)
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 2
    result = train(None, run_dir, scene=scene, resume=True)
    assert result.epochs == 4
    reference = _weights(finished_run)
    resumed = _weights(run_dir)
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)
    log = [json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]


def test_evaluate_recomputes_the_stored_metrics(finished_run: Path, scene: Scene) -> None:
    stored = json.loads((finished_run / "metrics.json").read_text())["metrics"]
    again = evaluate_run(finished_run, scene=scene)
    assert again.oa == pytest.approx(stored["oa"])
    assert list(again.per_class) == pytest.approx(stored["per_class"], nan_ok=True)


def test_test_pixels_never_reach_training(finished_run: Path) -> None:
    split = Split.load(finished_run / "split.npz")
    assert not set(split.test) & set(split.train)
    assert not set(split.test) & set(split.val)


def test_a_second_run_into_the_same_directory_is_refused(finished_run: Path, scene: Scene) -> None:
    with pytest.raises(MssfeError, match="resume"):
        train(SMALL, finished_run, scene=scene)


def test_dataloader_workers_do_not_change_the_result(tmp_path: Path, scene: Scene) -> None:
    from dataclasses import replace

    short = replace(SMALL, optim=replace(SMALL.optim, max_epochs=2))
    train(short, tmp_path / "main", scene=scene)
    train(
        replace(short, runtime=replace(short.runtime, workers=2)), tmp_path / "workers", scene=scene
    )
    a, b = _weights(tmp_path / "main"), _weights(tmp_path / "workers")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reusing_a_run_dir_with_another_config_is_refused(finished_run: Path, scene: Scene) -> None:
    from dataclasses import replace

    from mssfe.errors import ConfigError
    from mssfe.training.trainer import run_or_resume

    other = replace(SMALL, optim=replace(SMALL.optim, lr=0.01))
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        run_or_resume(other, finished_run, scene=scene)
    assert run_or_resume(SMALL, finished_run, scene=scene).epochs == 4  # same config: kept


def test_evaluate_command_prints_and_saves_json_and_markdown(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mssfe.cli import main

    assert main(["evaluate", str(finished_run)]) == 0
    out = capsys.readouterr().out
    assert "OA" in out and "Lettuce_romaine_7wk" in out
    saved = json.loads((finished_run / "evaluation.json").read_text())
    assert saved["recomputed"] is True
    assert (
        saved["metrics"]["oa"]
        == json.loads((finished_run / "metrics.json").read_text())["metrics"]["oa"]
    )
    assert "| OA |" in (finished_run / "evaluation.md").read_text()
