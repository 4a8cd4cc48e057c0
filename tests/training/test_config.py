"""Run configs: TOML round trip, CLI-style overrides, clear errors on bad options."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from mssfe.errors import ConfigError
from mssfe.training.config import (
    DataConfig,
    OptimConfig,
    ResolvedRunConfig,
    RunConfig,
    config_to_toml,
    load_config,
    with_overrides,
)
from mssfe.training.prepare import resolve
from mssfe.training.rundir import RunDir


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


def test_resolve_leaves_no_default_to_fill_for_a_gradient_trained_model() -> None:
    resolved = resolve(with_overrides(RunConfig(), {"optim.lr": 0.02}))
    assert isinstance(resolved, ResolvedRunConfig)
    assert resolved.optim is not None and None not in asdict(resolved.optim).values()
    assert (resolved.optim.lr, resolved.optim.batch_size) == (0.02, 64)  # asked, then default
    assert resolved.model_args["patch_size"] == 15  # the model's whole configuration
    assert resolve(resolved) == resolved


def test_an_estimator_records_no_optimiser(tmp_path: Path) -> None:
    """The SVM no longer fakes optimiser defaults: what a benchmark's shared epoch budget asks
    of it is not recorded (it is not used), and its config.toml has no [optim] table."""
    asked = RunConfig(model="svm", optim=OptimConfig(max_epochs=30, lr=0.5))
    resolved = resolve(asked)
    assert resolved.optim is None
    assert "[optim]" not in config_to_toml(resolved)
    with pytest.raises(ConfigError, match="fitted as an estimator"):
        _ = resolved.gradient_optim
    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(resolved))
    assert resolve(load_config(path)) == resolved


def test_a_run_directory_written_before_keeps_matching(tmp_path: Path) -> None:
    """config.toml of an SVM run written by the code before this change, with the optimiser
    values it faked: the run still counts as the same configuration (a benchmark resumes)."""
    run_dir = tmp_path / "seed0"
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(
        'model = "svm"\nseed = 0\n'
        "[model_args]\npatch_size = 1\nC_grid = [1.0, 10.0, 100.0, 1000.0, 10000.0]\n"
        "gamma_grid = [0.01, 0.1, 1.0, 10.0]\ncv = 3\n"
        '[data]\nscene = "SalinasA"\nsplit = "random:5"\nval_fraction = 0.1\n'
        'pca_fit = "scene"\nnan_policy = "raise"\ndownload = true\n'
        '[optim]\noptimizer = "adam"\nlr = 0.001\nweight_decay = 0.0\nbatch_size = 1\n'
        'max_epochs = 1\npatience = 1\nscheduler = "none"\naugment = false\n'
        '[runtime]\ndevice = "auto"\nprecision = "32"\ndeterministic = true\nprogress = true\n'
    )
    asked = RunConfig(
        model="svm", data=DataConfig(split="random:5"), optim=OptimConfig(max_epochs=30)
    )
    RunDir(run_dir).check_same_config(asked)  # no error
    with pytest.raises(ConfigError, match=r"another configuration: data\.split"):
        RunDir(run_dir).check_same_config(RunConfig(model="svm", data=DataConfig(split="random:6")))


def test_a_band_spec_is_checked_when_the_config_is_made(tmp_path) -> None:
    """data.bands is part of the run's config: a malformed spec fails before any data loads,
    naming the file, the field and the part."""
    import pytest

    from mssfe.errors import ConfigError
    from mssfe.training.config import load_config

    path = tmp_path / "run.toml"
    path.write_text('[data]\nbands = "0:100,400nm"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: data.bands: band spec '0:100,400nm', part '400nm'")
    path.write_text('[data]\nbands = "0:100,400nm:900nm"\nkeep_bad_bands = true\n')
    assert load_config(path).data.bands == "0:100,400nm:900nm"
