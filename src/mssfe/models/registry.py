"""Model registry: models register themselves by name, the rest of the package asks by name.

Modelled on timm's ``_registry``: a model family decorates its build function with
:func:`register_model`; training, evaluation and the CLI call :func:`create_model` or
:func:`make_config` and never import a model class, so adding a baseline touches one file.

Every network takes patches ``(N, 1, B, p, p)`` and returns logits ``(N, n_classes)``. Its
configuration is a frozen dataclass holding the architecture switches and what the model needs
from the data pipeline (:func:`input_needs`): ``n_components`` (PCA components, ``None`` for the
raw bands) and ``patch_size``. A spec says how the model is fitted (:class:`Fit`), so no caller
asks what kind of object it builds. Overrides arrive from TOML, JSON or the command line, so
:func:`make_config` checks names and types once, here, and turns lists into tuples.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from mssfe.errors import ConfigError
from mssfe.utils.suggest import did_you_mean
from mssfe.utils.validation import build_dataclass, check_scalar

BuildFn = Callable[[Any, int, int], nn.Module]
F = TypeVar("F", bound=Callable[..., nn.Module])

#: Fields every model configuration must have: the data pipeline reads them.
REQUIRED_FIELDS = ("n_components", "patch_size")


class Fit(enum.Enum):
    """How a model learns from its training pixels."""

    GRADIENT = "gradient"  # an nn.Module on patches, trained epoch by epoch with an optimiser
    ESTIMATOR = "estimator"  # a scikit-learn style estimator: fit(X (N, C), y), then predict


@dataclass(frozen=True)
class InputNeeds:
    """What a model asks of the data pipeline: its patch side (1: pixel spectra) and the PCA
    components it reduces the bands to (None: the raw bands)."""

    patch_size: int
    n_components: int | None


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    ``build(config, n_bands, n_classes)`` returns a module mapping ``(N, 1, B, p, p)`` to
    ``(N, n_classes)`` (an estimator for :attr:`Fit.ESTIMATOR`); ``n_bands`` is the scene's
    band count (the model reduces it to ``config.n_components`` when that is set).
    ``training`` holds a gradient-trained model's own optimiser defaults (read-only; empty for
    an estimator, which has none); ``paper`` is the citation to print beside results.
    """

    name: str
    config_cls: type
    build: BuildFn
    training: Mapping[str, Any]
    paper: str
    fit: Fit = Fit.GRADIENT


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    config_cls: type,
    *,
    training: Mapping[str, Any] | None = None,
    paper: str,
    fit: Fit = Fit.GRADIENT,
) -> Callable[[F], F]:
    """Decorator registering ``build(config, n_bands, n_classes)`` under ``name``.

    Raises ConfigError for a duplicate name, a config class that is not a frozen dataclass
    with the fields in :data:`REQUIRED_FIELDS`, or optimiser defaults for an estimator.
    """
    _check_config_cls(name, config_cls)
    if name in _REGISTRY:
        raise ConfigError(f"model '{name}' is registered twice")
    if fit is Fit.ESTIMATOR and training:
        raise ConfigError(
            f"model '{name}': an estimator is fitted, not trained with an optimiser",
            field="training",
            expected="no training defaults",
            got=sorted(training),
        )

    def decorator(build: F) -> F:
        _REGISTRY[name] = ModelSpec(
            name=name,
            config_cls=config_cls,
            build=build,
            training=types.MappingProxyType(dict(training or {})),
            paper=paper,
            fit=fit,
        )
        return build

    return decorator


def _check_config_cls(name: str, config_cls: type) -> None:
    if not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"model '{name}': config class {config_cls.__name__} is not a dataclass")
    params = getattr(config_cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise ConfigError(f"model '{name}': config class {config_cls.__name__} must be frozen")
    names = {f.name for f in dataclasses.fields(config_cls)}
    missing = [f for f in REQUIRED_FIELDS if f not in names]
    if missing:
        raise ConfigError(
            f"model '{name}': config class {config_cls.__name__} lacks field(s) {missing}"
        )


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; an unknown name suggests the closest one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = did_you_mean(str(name), _REGISTRY)
        known = ", ".join(list_models())
        raise ConfigError(f"unknown model '{name}'{hint} (known models: {known})") from None


def make_config(name: str, **overrides: Any) -> Any:
    """The model's default configuration with ``overrides`` applied.

    Lists become tuples (TOML and JSON have no tuples). An unknown field or a value of the
    wrong type raises ConfigError naming the model's field, what was expected and what was got.
    """
    return build_dataclass(get_model_spec(name).config_cls, overrides, where=name)


def input_needs(name: str, model_args: Mapping[str, Any]) -> InputNeeds:
    """The patch size and PCA components model ``name`` with ``model_args`` takes."""
    config = make_config(name, **model_args)
    return InputNeeds(int(config.patch_size), config.n_components)


def create_model(name: str, *, n_bands: int, n_classes: int, **cfg: Any) -> nn.Module:
    """Build model ``name`` for a scene with ``n_bands`` bands and ``n_classes`` classes.

    ``cfg`` overrides the model's default configuration (see :func:`make_config`).
    """
    check_scalar(n_bands, "n_bands", int, min_val=1)
    check_scalar(n_classes, "n_classes", int, min_val=1)
    spec = get_model_spec(name)
    return spec.build(make_config(name, **cfg), n_bands, n_classes)
