"""Issue 19, classes 2 and 5: a rerun never returns results of other data, and ``--resume``
checks what it reads (checkpoint, config.toml, run.json, data, log) against each other.

Every case is one line on stderr and exit code 2, or a run that completes with what was asked
recorded; the messages are the ones docs/reliability.md quotes.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mssfe.errors import ConfigError
from mssfe.training import trainer
from mssfe.training.checkpoint import load_checkpoint, save_checkpoint
from mssfe.training.config import RunConfig, with_overrides

NET = ["--model", "ms2fenet", "--model-arg", "patch_size=9", "--model-arg", "n_components=12",
       "--split", "random:5", "--batch-size", "16", "--threads", "1", "--no-progress"]  # fmt: skip


def one_line(r) -> str:
    (line,) = r.err.strip().splitlines()
    assert r.rc == 2 and line.startswith("mssfe: error: ") and "Traceback" not in r.err, r.err
    return line


def tiny_files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.zeros((12, 12), np.int64)
    labels[:6], labels[6:] = 1, 2
    np.save(folder / "cube.npy", rng.normal(size=(12, 12, 16)).astype(np.float32))
    np.save(folder / "labels.npy", labels)
    return folder / "cube.npy", folder / "labels.npy"


def small_config(cube: Path, labels: Path, **over) -> RunConfig:
    return with_overrides(RunConfig(), {
        "model": "ms2fenet", "model_args": {"patch_size": 9, "n_components": 12},
        "data.cube": str(cube), "data.labels": str(labels), "data.split": "random:5",
        "optim.max_epochs": 4, "optim.batch_size": 16, "runtime.progress": False,
        "runtime.threads": 1, **over})  # fmt: skip


@pytest.fixture(scope="module")
def interrupted_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 4 epochs stopped after epoch 2 (last.pt at epoch 2, no metrics)."""
    root = tmp_path_factory.mktemp("interrupted")
    cube, labels = tiny_files(root / "data")
    run_dir = root / "run"
    with pytest.raises(trainer._StopRequested):
        trainer.train(small_config(cube, labels), run_dir, stop_after_epoch=2)
    return run_dir


@pytest.fixture
def interrupted(interrupted_template: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(interrupted_template, run_dir)
    (run_dir / ".mssfe.lock").unlink(missing_ok=True)
    return run_dir


def logged_epochs(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


def cube_of(run_dir: Path) -> Path:
    return Path(tomllib.loads((run_dir / "config.toml").read_text())["data"]["cube"])


def edit_config(run_dir: Path, old: str, new: str) -> None:
    path = run_dir / "config.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# --------------------------------------------------------------------------- class 2: stale data


@pytest.mark.parametrize("which", ["cube", "labels"])
def test_rerun_of_a_finished_run_after_its_data_changed_is_refused(cli, tmp_path, which) -> None:
    cube, labels = tiny_files(tmp_path / "data")
    argv = ["train", "--cube", str(cube), "--labels", str(labels), *NET, "--epochs", "1",
            "--out", str(tmp_path / "runs")]  # fmt: skip
    assert cli(*argv).rc == 0
    (run_dir,) = (tmp_path / "runs").glob("*/*/*/seed0")
    metrics = (run_dir / "metrics.json").read_bytes()
    recorded = json.loads((run_dir / "run.json").read_text())["data"][which]["sha256"]
    changed = cube if which == "cube" else labels
    array = np.load(changed)
    if which == "cube":
        array[0, 0, 0] += 1.0
    else:
        array[0, 0] = 2
    np.save(changed, array)
    line = one_line(cli(*argv))
    assert str(run_dir) in line and str(changed) in line
    assert f"recorded {recorded}" in line and "--out" in line
    assert (run_dir / "metrics.json").read_bytes() == metrics  # nothing rewritten


def test_rerun_with_the_same_data_still_reuses_the_finished_run(cli, tmp_path) -> None:
    cube, labels = tiny_files(tmp_path / "data")
    argv = ["train", "--cube", str(cube), "--labels", str(labels), *NET, "--epochs", "1",
            "--out", str(tmp_path / "runs")]  # fmt: skip
    assert cli(*argv).rc == 0
    (run_dir,) = (tmp_path / "runs").glob("*/*/*/seed0")
    before = (run_dir / "metrics.json").stat().st_mtime_ns
    assert cli(*argv).rc == 0
    assert (run_dir / "metrics.json").stat().st_mtime_ns == before


def test_run_or_resume_refuses_a_finished_run_of_other_data(tmp_path) -> None:
    """The reuse path both `mssfe train` and `mssfe benchmark` take, given a loaded scene."""
    from dataclasses import replace

    from mssfe.data.scenes import load_user_scene
    from mssfe.errors import DataError

    cube, labels = tiny_files(tmp_path / "data")
    config = small_config(cube, labels, **{"optim.max_epochs": 1})
    scene = load_user_scene(cube, labels)
    trainer.run_or_resume(config, tmp_path / "run", scene=scene)
    assert trainer.run_or_resume(config, tmp_path / "run", scene=scene).epochs == 1  # reused
    other = {**scene.sources, "labels": {"path": str(labels), "sha256": "0" * 64}}
    with pytest.raises(DataError, match=r"trained on other data: labels .* now 0{64}"):
        trainer.run_or_resume(config, tmp_path / "run", scene=replace(scene, sources=other))


def test_resume_after_the_cube_changed_is_refused(cli, interrupted) -> None:
    original = cube_of(interrupted)  # the template's, shared by the copies: restored
    kept = original.read_bytes()
    array = np.load(original)
    array[3, 3, 3] -= 2.0
    try:
        np.save(original, array)  # the same path, other content
        line = one_line(cli("train", "--resume", str(interrupted)))
    finally:
        original.write_bytes(kept)
    assert str(original) in line and "sha256" in line and "recorded" in line
    assert load_checkpoint(interrupted / "last.pt")["epoch"] == 2


# --------------------------------------------------------------------------- class 5: options


def test_resume_with_more_epochs_trains_them_and_records_them(cli, interrupted) -> None:
    r = cli("train", "--resume", str(interrupted), "--epochs", "6", "--no-progress")
    assert r.rc == 0, r.err
    assert logged_epochs(interrupted) == [1, 2, 3, 4, 5, 6]
    assert "max_epochs = 6" in (interrupted / "config.toml").read_text()
    assert json.loads((interrupted / "metrics.json").read_text())["epochs"] == 6
    assert json.loads((interrupted / "run.json").read_text())["config"]["optim"]["max_epochs"] == 6


def test_resume_with_more_patience_is_applied_and_recorded(cli, interrupted) -> None:
    r = cli("train", "--resume", str(interrupted), "--patience", "50", "--no-progress")
    assert r.rc == 0, r.err
    assert "patience = 50" in (interrupted / "config.toml").read_text()


def test_resume_with_more_epochs_under_the_cosine_schedule_is_refused(cli, tmp_path) -> None:
    cube, labels = tiny_files(tmp_path / "data")
    run_dir = tmp_path / "run"
    with pytest.raises(trainer._StopRequested):
        trainer.train(small_config(cube, labels, **{"optim.scheduler": "cosine"}), run_dir,
                      stop_after_epoch=1)  # fmt: skip
    line = one_line(cli("train", "--resume", str(run_dir), "--epochs", "6"))
    assert "--epochs" in line and "cosine" in line


def test_resume_with_fewer_epochs_than_trained_is_refused(cli, interrupted) -> None:
    line = one_line(cli("train", "--resume", str(interrupted), "--epochs", "1"))
    assert "--epochs" in line and "2 epochs" in line


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--lr", "0.5"], "--lr"),
        (["--patch-size", "11"], "--patch-size"),
        (["--model", "cnn3d"], "--model"),
        (["--batch-size", "32"], "--batch-size"),
        (["--split", "random:3"], "--split"),
        (["--out", "elsewhere"], "--out"),
    ],
    ids=["lr", "patch-size", "model", "batch-size", "split", "out"],
)
def test_resume_refuses_options_that_would_change_the_run(cli, interrupted, argv, option) -> None:
    before = (interrupted / "config.toml").read_bytes()
    line = one_line(cli("train", "--resume", str(interrupted), *argv))
    assert option in line and "--resume" in line
    assert (interrupted / "config.toml").read_bytes() == before


def test_resume_with_the_same_value_or_runtime_options_is_accepted(cli, interrupted) -> None:
    r = cli("train", "--resume", str(interrupted), "--lr", "0.001", "--threads", "1",
            "--no-progress")  # fmt: skip
    assert r.rc == 0, r.err
    assert logged_epochs(interrupted) == [1, 2, 3, 4]


def test_python_resume_with_another_config_is_refused(interrupted) -> None:
    data = cube_of(interrupted).parent
    other = small_config(data / "cube.npy", data / "labels.npy", **{"optim.lr": 0.5})
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        trainer.train(other, interrupted, resume=True)


# --------------------------------------------------------------------------- class 5: run dir


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("lr = 0.001", "lr = 0.5", "optim.lr"),
        ("patch_size = 9", "patch_size = 11", "model_args.patch_size"),
        ('cube = "', 'cube = "/elsewhere', "data.cube"),
    ],
    ids=["lr", "patch-size", "cube-path"],
)
def test_resume_refuses_an_edited_config(cli, interrupted, old, new, field) -> None:
    edit_config(interrupted, old, new)
    line = one_line(cli("train", "--resume", str(interrupted)))
    assert str(interrupted / "config.toml") in line and field in line and "recorded" in line


@pytest.mark.parametrize("other", ["model", "scene", "scene, before checkpoints recorded it"])
def test_resume_refuses_a_checkpoint_of_another_run(cli, interrupted, tmp_path, other) -> None:
    """last.pt of another model, or of another scene (a 3-class cube); a checkpoint written
    before checkpoints carried their run's identity is refused when its weights do not fit."""
    data = cube_of(interrupted).parent
    cube, labels = data / "cube.npy", data / "labels.npy"
    if other == "model":
        config = small_config(cube, labels, model="cnn3d", model_args={})
    else:
        cube, labels = tiny_files(tmp_path / "scene")
        three = np.load(labels)
        three[:3] = 3
        np.save(labels, three)
        config = small_config(cube, labels)
    with pytest.raises(trainer._StopRequested):
        trainer.train(config, tmp_path / "other", stop_after_epoch=1)
    checkpoint = load_checkpoint(tmp_path / "other" / "last.pt")
    if other.endswith("recorded it"):
        del checkpoint["identity"]
    save_checkpoint(interrupted / "last.pt", {k: v for k, v in checkpoint.items()
                                             if k not in ("format", "format_version")})  # fmt: skip
    line = one_line(cli("train", "--resume", str(interrupted)))
    assert str(interrupted / "last.pt") in line
    assert "written by another run" in line or "does not fit this run" in line


def test_resume_refuses_best_pt_copied_over_last_pt(cli, interrupted) -> None:
    shutil.copy(interrupted / "best.pt", interrupted / "last.pt")
    line = one_line(cli("train", "--resume", str(interrupted)))
    assert str(interrupted / "last.pt") in line and "best.pt" in line


def test_resume_repairs_a_cut_last_log_line(cli, interrupted) -> None:
    """A run killed while writing epoch 3's line: the line is dropped with a warning."""
    with open(interrupted / "log.jsonl", "a") as handle:
        handle.write('{"epoch": 3, "loss": 0.69')
    r = cli("train", "--resume", str(interrupted), "--no-progress")
    assert r.rc == 0, r.err
    (warning,) = [line for line in r.err.splitlines() if line.startswith("mssfe: warning:")]
    assert str(interrupted / "log.jsonl") in warning and "cut" in warning
    assert logged_epochs(interrupted) == [1, 2, 3, 4]


def test_resume_repairs_a_log_cut_into_bytes_that_are_not_text(cli, interrupted) -> None:
    with open(interrupted / "log.jsonl", "ab") as handle:
        handle.write(b'{"epoch": 3, "lo\xff\xfe')
    r = cli("train", "--resume", str(interrupted), "--no-progress")
    assert r.rc == 0, r.err
    assert "log.jsonl" in r.err and logged_epochs(interrupted) == [1, 2, 3, 4]


def test_resume_of_an_svm_run_is_one_clear_line(cli, tmp_path) -> None:
    cube, labels = tiny_files(tmp_path / "data")
    assert (
        cli(
            "train",
            "--cube",
            str(cube),
            "--labels",
            str(labels),
            "--model",
            "svm",
            "--split",
            "random:5",
            "--no-progress",
            "--out",
            str(tmp_path / "runs"),
        ).rc
        == 0
    )
    (run_dir,) = (tmp_path / "runs").glob("*/svm/*/seed0")
    line = one_line(cli("train", "--resume", str(run_dir)))
    assert "svm" in line and "nothing to resume" in line and "optim" not in line
