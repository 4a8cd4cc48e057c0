"""Run configs: TOML round trip, CLI-style overrides, clear errors on bad options."""

from __future__ import annotations

from pathlib import Path

import pytest

from mssfe.errors import ConfigError
from mssfe.training.config import (
    RunConfig,
    config_to_toml,
    load_config,
    with_overrides,
)


def test_toml_round_trip(tmp_path: Path) -> None:
    config = with_overrides(
        RunConfig(),
        {"optim.lr": 0.01, "data.scene": "PaviaU-sim", "seed": 3, "model_args": {"partitions": 2}},
    )
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(config))
    assert load_config(path) == config


def test_file_values_are_overridden_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('model = "ms2fenet"\n[optim]\nlr = 0.005\nmax_epochs = 50\n')
    config = with_overrides(load_config(path), {"optim.max_epochs": 5, "optim.lr": None})
    assert config.optim.max_epochs == 5
    assert config.optim.lr == 0.005  # None means "not given on the command line"


def test_int_is_accepted_where_a_float_is_expected() -> None:
    assert with_overrides(RunConfig(), {"optim.lr": 1}).optim.lr == 1.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[optim]\nlrr = 0.1\n", "did you mean 'lr'"),
        ("[optim]\nmax_epochs = 'ten'\n", "expected int"),
        ("[optim]\naugment = 3\n", "expected bool"),
        ("seed = true\n", "expected int, got bool"),
        ("[data\n", "not valid TOML"),
    ],
)
def test_bad_config_files_name_file_and_option(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert "bad.toml" in str(info.value) or "options" in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
