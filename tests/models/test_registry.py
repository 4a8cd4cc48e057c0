"""The model registry: names, configs and overrides."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from torch import nn

from mssfe.errors import ConfigError
from mssfe.models import (
    Fit,
    InputNeeds,
    create_model,
    get_model_spec,
    input_needs,
    list_models,
    make_config,
    register_model,
)
from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig


def test_ms2fenet_is_registered_with_its_defaults() -> None:
    assert "ms2fenet" in list_models()
    spec = get_model_spec("ms2fenet")
    assert spec.config_cls is MS2FENetConfig
    assert "JSTARS" in spec.paper
    assert spec.training["optimizer"] == "adam"
    assert spec.training["lr"] == 1e-3
    assert spec.training["weight_decay"] == 1e-4
    assert spec.training["batch_size"] == 64
    assert spec.training["max_epochs"] == 200
    config = make_config("ms2fenet")
    assert (config.n_components, config.patch_size) == (30, 15)


def test_training_defaults_are_read_only() -> None:
    with pytest.raises(TypeError):
        get_model_spec("ms2fenet").training["lr"] = 1.0  # type: ignore[index]


def test_unknown_model_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'ms2fenet'"):
        get_model_spec("ms2fenett")
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("nope", n_bands=30, n_classes=2)


def test_unknown_config_field_names_it_and_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'partition'.*did you mean 'partitions'.*patch_size"):
        make_config("ms2fenet", partition=2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"partitions": "4"},
        {"partitions": 4.0},
        {"hierarchical": 1},
        {"patch_size": True},
        {"stem_kernel": (7, 3)},
        {"kernels": ((5, 3, 3), (5, 3))},
    ],
)
def test_wrong_type_is_a_config_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=next(iter(overrides))):
        make_config("ms2fenet", **overrides)


def test_lists_from_toml_or_json_become_tuples() -> None:
    config = make_config("ms2fenet", kernels=[[5, 3, 3], [3, 3, 3]], n_components=None)
    assert config.kernels == ((5, 3, 3), (3, 3, 3))
    assert config.n_components is None


def test_create_model_passes_overrides() -> None:
    model = create_model("ms2fenet", n_bands=30, n_classes=3, partitions=2, fusion=False)
    assert isinstance(model, MS2FENet)
    assert model.config.partitions == 2
    assert not model.config.fusion
    assert model.head[-1].out_features == 3


@pytest.mark.parametrize(("n_bands", "n_classes"), [(0, 3), (30, 0), (30.0, 3)])
def test_create_model_checks_sizes(n_bands: object, n_classes: object) -> None:
    with pytest.raises(ConfigError):
        create_model("ms2fenet", n_bands=n_bands, n_classes=n_classes)  # type: ignore[arg-type]


def test_duplicate_or_malformed_registration_is_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        register_model("ms2fenet", MS2FENetConfig, training={}, paper="")

    @dataclass
    class Mutable:
        n_components: int | None = None
        patch_size: int = 1

    with pytest.raises(ConfigError, match="frozen"):
        register_model("mutable-test", Mutable, training={}, paper="")

    @dataclass(frozen=True)
    class NoPatch:
        n_components: int | None = None

    with pytest.raises(ConfigError, match="patch_size"):
        register_model("nopatch-test", NoPatch, training={}, paper="")
    assert "mutable-test" not in list_models()


def test_registered_build_function_is_returned_unchanged() -> None:
    spec = get_model_spec("ms2fenet")
    assert isinstance(spec.build(make_config("ms2fenet"), 30, 2), nn.Module)


def test_input_needs_is_the_one_place_a_patch_size_is_read() -> None:
    assert input_needs("ms2fenet", {}) == InputNeeds(patch_size=15, n_components=30)
    assert input_needs("ms2fenet", {"patch_size": 9, "n_components": None}) == InputNeeds(9, None)
    assert input_needs("svm", {}) == InputNeeds(patch_size=1, n_components=None)


def test_a_spec_says_how_its_model_is_fitted() -> None:
    assert get_model_spec("ms2fenet").fit is Fit.GRADIENT
    assert get_model_spec("svm").fit is Fit.ESTIMATOR

    @dataclass(frozen=True)
    class Est:
        n_components: int | None = None
        patch_size: int = 1

    with pytest.raises(ConfigError, match="an estimator is fitted, not trained with an optimiser"):
        register_model("est-test", Est, training={"lr": 0.1}, paper="", fit=Fit.ESTIMATOR)
    assert "est-test" not in list_models()
