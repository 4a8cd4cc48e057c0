"""Recipes in the training loop, on the real Salinas-A cube: what trains, resume, no test labels."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mssfe.data.scenes import Scene, load_scene
from mssfe.data.splits import Split, make_split, subsample_test
from mssfe.training.checkpoint import load_checkpoint, save_checkpoint
from mssfe.training.config import (
    DataConfig,
    OptimConfig,
    RecipeConfig,
    RunConfig,
    RuntimeConfig,
)
from mssfe.training.inference import evaluate_run
from mssfe.training.trainer import _StopRequested, run_or_resume, train


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene("SalinasA")


@pytest.fixture(scope="module")
def split_file(tmp_path_factory: pytest.TempPathFactory, scene: Scene) -> Path:
    """random:10 (1 validation pixel per class) with 300 test pixels: a fast evaluation."""
    split = make_split(scene.labels, "random:10", seed=5, patch_size=9)
    path = tmp_path_factory.mktemp("split") / "split.npz"
    subsample_test(split, scene.labels, 300, seed=5).save(path)
    return path


def _config(split_file: Path, recipe: RecipeConfig, epochs: int = 3) -> RunConfig:
    return RunConfig(
        model="ms2fenet",
        model_args={"patch_size": 9, "n_components": 12},
        data=DataConfig(scene="SalinasA", split=f"file:{split_file}"),
        optim=OptimConfig(max_epochs=epochs, patience=10, batch_size=16),
        recipe=recipe,
        runtime=RuntimeConfig(progress=False, threads=1),
        seed=5,
    )


MSSFE = RecipeConfig(name="mssfe", version=1)  # v1: with its semi-supervised part


@pytest.fixture(scope="module")
def mssfe_run(tmp_path_factory: pytest.TempPathFactory, scene: Scene, split_file: Path) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "mssfe"
    train(_config(split_file, MSSFE), run_dir, scene=scene)
    return run_dir


def _state(run_dir: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    """Every tensor a checkpoint holds: the network, and the weight average if there is one."""
    ck = load_checkpoint(run_dir / name)
    tensors = {f"model.{k}": v for k, v in ck["model"].items()}
    if "average" in ck:
        tensors |= {f"average.{k}": v for k, v in ck["average"]["model"].items()}
    return tensors


def _identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mssfe_trains_every_labelled_pixel_for_a_fixed_schedule(mssfe_run: Path) -> None:
    split = Split.load(mssfe_run / "split.npz")
    assert split.val.size == 0 and split.train.size == 60  # 10 per class, none held back
    metrics = json.loads((mssfe_run / "metrics.json").read_text())
    assert metrics["n_train"] == 60 and metrics["n_val"] == 0
    assert metrics["recipe"] == "mssfe v1" and metrics["tta"] is True
    assert metrics["ssl_pool"] == "transductive"
    assert metrics["best_epoch"] == metrics["epochs"] == 3  # the last epoch, not a chosen one
    log = [json.loads(line) for line in (mssfe_run / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2, 3]
    assert all(np.isnan(e["val_acc"]) and 0 <= e["ssl_confident"] <= 1 for e in log)
    assert [e["lr"] for e in log][-1] == 0.0  # the cosine schedule ran to its end
    record = json.loads((mssfe_run / "run.json").read_text())
    assert record["config"]["recipe"]["name"] == "mssfe"
    assert record["config"]["recipe"]["ssl"] == "transductive"


def test_the_evaluated_network_is_the_weight_average(mssfe_run: Path, scene: Scene) -> None:
    best, last = load_checkpoint(mssfe_run / "best.pt"), load_checkpoint(mssfe_run / "last.pt")
    averaged = last["average"]["model"]
    assert all(torch.equal(best["model"][k], averaged[k]) for k in averaged)
    assert not all(torch.equal(last["model"][k], averaged[k]) for k in averaged)
    stored = json.loads((mssfe_run / "metrics.json").read_text())["metrics"]
    assert evaluate_run(mssfe_run, scene=scene).oa == pytest.approx(stored["oa"])  # with TTA


def test_an_interrupted_mssfe_run_resumes_to_identical_weights_and_average(
    mssfe_run: Path, scene: Scene, split_file: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "interrupted"
    with pytest.raises(_StopRequested):
        train(_config(split_file, MSSFE), run_dir, scene=scene, stop_after_epoch=1)
    train(None, run_dir, scene=scene, resume=True)
    assert _identical(_state(run_dir), _state(mssfe_run))
    assert _identical(_state(run_dir, "best.pt"), _state(mssfe_run, "best.pt"))


def _scrambled(scene: Scene, test: np.ndarray) -> Scene:
    labels = scene.labels.copy()
    rng = np.random.default_rng(0)
    labels.flat[test] = (labels.flat[test] + rng.integers(1, scene.n_classes, test.size) - 1) % (
        scene.n_classes
    ) + 1  # every test pixel gets another class
    return dataclasses.replace(scene, labels=labels)


@pytest.mark.parametrize(
    "recipe",
    [
        RecipeConfig(name="mssfe", ssl="transductive", class_balance="loss"),
        RecipeConfig(name="mssfe", ssl="inductive", selection="val"),
    ],
    ids=["transductive", "inductive"],
)
def test_test_pixels_labels_never_reach_training(
    recipe: RecipeConfig, scene: Scene, split_file: Path, tmp_path: Path
) -> None:
    """Train twice on one split, once with every test pixel relabelled: identical weights."""
    test = Split.load(split_file).test
    config = _config(split_file, recipe, epochs=2)
    train(config, tmp_path / "true", scene=scene)
    train(config, tmp_path / "scrambled", scene=_scrambled(scene, test))
    assert _identical(_state(tmp_path / "true"), _state(tmp_path / "scrambled"))
    assert _identical(
        _state(tmp_path / "true", "best.pt"), _state(tmp_path / "scrambled", "best.pt")
    )


def test_a_run_written_before_recipes_resumes_and_is_reused_as_paper(
    scene: Scene, split_file: Path, tmp_path: Path
) -> None:
    """Its config.toml has no [recipe] table: it resumes as paper to the same weights."""
    paper = _config(split_file, RecipeConfig(), epochs=2)
    train(paper, tmp_path / "reference", scene=scene)
    run_dir = tmp_path / "old"
    with pytest.raises(_StopRequested):
        train(paper, run_dir, scene=scene, stop_after_epoch=1)
    text = (run_dir / "config.toml").read_text()
    start, end = text.index("[recipe]"), text.index("[runtime]")
    (run_dir / "config.toml").write_text(text[:start] + text[end:])
    assert run_or_resume(paper, run_dir, scene=scene).epochs == 2  # same config: resumed
    assert _identical(_state(run_dir), _state(tmp_path / "reference"))
    assert evaluate_run(run_dir, scene=scene).oa == pytest.approx(
        json.loads((run_dir / "metrics.json").read_text())["metrics"]["oa"]
    )


def _forget_recipe_part(run_dir: Path, part: str) -> None:
    """Make ``run_dir`` look written by code from before recipe ``part`` existed: no such
    line in config.toml, no such key in run.json's config or in last.pt's run identity."""
    toml = run_dir / "config.toml"
    lines = toml.read_text().splitlines(keepends=True)
    toml.write_text("".join(line for line in lines if not line.startswith(f"{part} =")))
    run = json.loads((run_dir / "run.json").read_text())
    del run["config"]["recipe"][part]
    (run_dir / "run.json").write_text(json.dumps(run))
    checkpoint = load_checkpoint(run_dir / "last.pt")
    identity = json.loads(checkpoint["identity"])
    del identity["config"]["recipe"][part]
    checkpoint["identity"] = json.dumps(identity)
    save_checkpoint(run_dir / "last.pt", {k: v for k, v in checkpoint.items() if "format" not in k})


def test_a_run_written_before_input_scale_existed_resumes_and_is_reused(
    scene: Scene, split_file: Path, tmp_path: Path
) -> None:
    """mssfe v1 was always trained with per-component scaling: a run recorded without the
    ``input_scale`` part is that run, so it resumes to the same weights and is then reused."""
    config = _config(split_file, RecipeConfig(name="mssfe", version=1, ssl="none"), epochs=2)
    train(config, tmp_path / "reference", scene=scene)
    run_dir = tmp_path / "old"
    with pytest.raises(_StopRequested):
        train(config, run_dir, scene=scene, stop_after_epoch=1)
    _forget_recipe_part(run_dir, "input_scale")
    assert run_or_resume(config, run_dir, scene=scene).epochs == 2  # resumed, not refused
    assert _identical(_state(run_dir), _state(tmp_path / "reference"))
    before = (run_dir / "metrics.json").read_text()
    run_or_resume(config, run_dir, scene=scene)  # finished: reused as it is
    assert (run_dir / "metrics.json").read_text() == before
    changed = _config(
        split_file, RecipeConfig(name="mssfe", version=1, ssl="none", input_scale="global")
    )
    with pytest.raises(Exception, match="input_scale"):  # the other scaling is another run
        run_or_resume(dataclasses.replace(changed, optim=config.optim), run_dir, scene=scene)


@pytest.mark.parametrize(("model", "shared"), [("ms2fenet", True), ("svm", False)])
def test_input_scale_global_scales_a_networks_input_only(
    model: str, shared: bool, scene: Scene, split_file: Path, tmp_path: Path
) -> None:
    """A network trained with ``input_scale=global`` gets one divisor for all its input
    components (saved with the run, so evaluate/predict reuse it); a classic model takes only
    the recipe's selection part and keeps per-component scaling."""
    recipe = RecipeConfig(name="mssfe", ssl="none", input_scale="global")
    base = _config(split_file, recipe, epochs=1)
    args = base.model_args if model == "ms2fenet" else {"n_components": 12}
    config = dataclasses.replace(base, model=model, model_args=args)
    train(config, tmp_path / model, scene=scene)
    out_std = np.load(tmp_path / model / "preprocessor.npz")["out_std"]
    assert np.ptp(out_std) == 0 if shared else np.ptp(out_std) > 0
    recorded = json.loads((tmp_path / model / "run.json").read_text())["config"]["recipe"]
    assert recorded["input_scale"] == "global"
