"""The public API: a stable, documented list, imported lazily (``import mssfe`` stays light)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mssfe
from mssfe.errors import ConfigError
from mssfe.training.config import RunConfig
from mssfe.workflows.train import run_config

HEAVY = ("torch", "sklearn", "matplotlib", "rasterio", "h5py", "scipy")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_import_mssfe_loads_no_heavy_library() -> None:
    loaded = _modules_after("import mssfe")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_loads_no_heavy_library() -> None:
    code = "from mssfe.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_all_is_the_documented_list_and_every_name_resolves() -> None:
    assert sorted(mssfe.__all__) == sorted(["__version__", *mssfe._EXPORTS])
    for name, (module, attribute) in mssfe._EXPORTS.items():
        value = getattr(mssfe, name)
        assert value is getattr(importlib.import_module(module), attribute)
        assert value.__doc__ and value.__doc__.strip(), f"mssfe.{name} has no docstring"
        assert name in dir(mssfe)


def test_every_public_name_is_in_the_api_docs() -> None:
    text = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text(encoding="utf-8")
    missing = [name for name in mssfe.__all__ if f"mssfe.{name}" not in text]
    assert not missing, missing


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        mssfe.trian  # noqa: B018


def test_run_config_applies_options_like_the_command_line(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('model = "ssftt"\n[model_args]\npatch_size = 9\n[optim]\nmax_epochs = 50\n')
    config = run_config(toml, epochs=5, split="random:5", device="cpu")
    assert config.model == "ssftt" and config.model_args == {"patch_size": 9}
    assert config.optim.max_epochs == 5 and config.data.split == "random:5"
    assert config.runtime.device == "cpu" and config.data.scene == "SalinasA"
    switched = run_config(config, model="ms2fenet", model_args={"partitions": 2})
    assert switched.model_args == {"partitions": 2}  # ssftt's options did not carry over
    assert run_config(RunConfig(), scene=None).data.scene == "SalinasA"  # None keeps a value
    with pytest.raises(ConfigError, match="unknown option"):
        run_config(None, epoch=5)
