"""Fixtures shared by the evaluation tests: one small real training run per session."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mssfe.data.scenes import load_scene

EPOCHS = 3


def trained_run_dir(factory: pytest.TempPathFactory) -> Path:
    """One small real run per test session, shared by every module that asks (same path)."""
    from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
    from mssfe.training.trainer import train

    full = load_scene("SalinasA")  # its first 30 columns hold all 6 classes: a quicker run
    scene = dataclasses.replace(
        full, cube=np.ascontiguousarray(full.require_cube()[:, :30]), labels=full.labels[:, :30]
    )
    run_dir = factory.getbasetemp() / "shared-ms2fenet-salinasa"
    if not (run_dir / "metrics.json").exists():
        config = RunConfig(
            model="ms2fenet",
            model_args={"patch_size": 9, "n_components": 10},
            data=DataConfig(scene="SalinasA", split="random:10"),
            optim=OptimConfig(max_epochs=EPOCHS, patience=EPOCHS, lr=0.01),
            runtime=RuntimeConfig(progress=False, device="cpu"),
        )
        train(config, run_dir, scene=scene)
    return run_dir


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run_dir(tmp_path_factory)
