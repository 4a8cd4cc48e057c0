"""Seed groups: the summary names what was trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mssfe.training.config import DataConfig, RunConfig, RuntimeConfig
from mssfe.workflows.train import group_dir, train_seeds


def test_summary_of_a_user_cube_is_titled_with_the_cube(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.array([[1, 1, 2, 2, 3, 3]]), 6, axis=0)
    cube = rng.normal(size=(6, 6, 4)) + labels[..., None]
    np.save(tmp_path / "field_survey.npy", cube.astype(np.float32))
    np.save(tmp_path / "labels.npy", labels)
    config = RunConfig(
        model="svm",
        data=DataConfig(
            cube=str(tmp_path / "field_survey.npy"),
            labels=str(tmp_path / "labels.npy"),
            split="random:0.5",
        ),
        runtime=RuntimeConfig(progress=False),
    )
    train_seeds(config, [0], tmp_path / "runs")
    summary = (group_dir(tmp_path / "runs", config) / "summary.md").read_text()
    assert summary.startswith("# svm on field_survey, split `random:0.5`")
    assert "SalinasA" not in summary
