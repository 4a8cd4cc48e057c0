"""Training batches cut on the device (runtime.data_on_device) train exactly as the host's.

On CPU the device path draws from CPU generators seeded as the host path's, so every batch,
and so every loss and weight, is the host path's: the tests compare them for equality.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mssfe.data.device_patches import DevicePatches
from mssfe.data.scenes import Scene, load_scene
from mssfe.errors import ConfigError
from mssfe.training.checkpoint import load_checkpoint
from mssfe.training.config import (
    DataConfig,
    OptimConfig,
    RecipeConfig,
    RunConfig,
    RuntimeConfig,
    config_to_toml,
)
from mssfe.training.runtime import uses_device_data
from mssfe.training.trainer import _StopRequested, train

HOST = RunConfig(
    model="ms2fenet",
    model_args={"patch_size": 9, "n_components": 12},
    data=DataConfig(scene="SalinasA", split="random:5"),
    optim=OptimConfig(max_epochs=2, patience=10, batch_size=8, augment=False),
    runtime=RuntimeConfig(progress=False, threads=1, data_on_device="off"),
    seed=3,
)


def _on_device(config: RunConfig) -> RunConfig:
    return replace(config, runtime=replace(config.runtime, data_on_device="on"))


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene("SalinasA")


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def _same_run(first: Path, second: Path) -> None:
    assert _losses(first) == pytest.approx(_losses(second), rel=1e-6, abs=0)
    a, b = load_checkpoint(first / "last.pt")["model"], load_checkpoint(second / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_batches_train_as_the_host_batches(
    tmp_path: Path, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No augmentation: two epochs give the host path's losses and weights."""
    train(HOST, tmp_path / "host", scene=scene)
    cut = DevicePatches.get_batch
    calls: list[int] = []

    def counted(self: DevicePatches, positions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        calls.append(len(positions))
        return cut(self, positions)

    monkeypatch.setattr(DevicePatches, "get_batch", counted)
    train(_on_device(HOST), tmp_path / "device", scene=scene)
    assert calls  # the device run did cut its batches on the device
    _same_run(tmp_path / "host", tmp_path / "device")
    assert 'data_on_device = "on"' in (tmp_path / "device" / "config.toml").read_text()


def test_device_augmentation_and_ssl_draw_as_the_host(tmp_path: Path, scene: Scene) -> None:
    """Flips, spectral augmentation, same-class mixing, the class-balanced sampler and the
    SSL pool's unlabelled batches (the mssfe recipe, with flips on) are drawn as on the host:
    same losses, same weights, all finite."""
    config = replace(
        HOST,
        optim=replace(HOST.optim, augment=True),
        recipe=RecipeConfig(name="mssfe", ssl_ratio=0.5),
    )
    train(config, tmp_path / "host", scene=scene)
    train(_on_device(config), tmp_path / "device", scene=scene)
    losses = _losses(tmp_path / "device")
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    _same_run(tmp_path / "host", tmp_path / "device")


def test_device_run_resumes_to_the_same_weights(tmp_path: Path, scene: Scene) -> None:
    """Each batch's generator is seeded by (seed, epoch, batch): nothing to save, a resumed
    device run ends where an uninterrupted one does."""
    config = _on_device(replace(HOST, optim=replace(HOST.optim, augment=True)))
    train(config, tmp_path / "full", scene=scene)
    with pytest.raises(_StopRequested):
        train(config, tmp_path / "cut", scene=scene, stop_after_epoch=1)
    train(None, tmp_path / "cut", scene=scene, resume=True)
    _same_run(tmp_path / "full", tmp_path / "cut")


def test_data_on_device_is_checked_and_recorded() -> None:
    with pytest.raises(ConfigError, match="data_on_device"):
        RuntimeConfig(data_on_device="yes")
    assert 'data_on_device = "auto"' in config_to_toml(RunConfig())
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not uses_device_data("auto", cpu) and uses_device_data("auto", cuda)
    assert uses_device_data("on", cpu) and not uses_device_data("off", cuda)


def test_a_host_run_resumes_on_the_device_to_the_same_weights(tmp_path: Path, scene: Scene) -> None:
    """--data-on-device is a runtime option: a run cut on the host may resume on the device
    (and is recorded so), ending where an uninterrupted run does."""
    config = replace(HOST, optim=replace(HOST.optim, augment=True))
    train(config, tmp_path / "full", scene=scene)
    with pytest.raises(_StopRequested):
        train(config, tmp_path / "cut", scene=scene, stop_after_epoch=1)
    train(_on_device(config), tmp_path / "cut", scene=scene, resume=True)
    _same_run(tmp_path / "full", tmp_path / "cut")
    assert 'data_on_device = "on"' in (tmp_path / "cut" / "config.toml").read_text()
