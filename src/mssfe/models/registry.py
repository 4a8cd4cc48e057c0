"""Model registry: models register themselves by name, the rest of the package asks by name.

Modelled on timm's ``_registry``: a model family decorates its build function with
:func:`register_model`; training, evaluation and the CLI call :func:`create_model` or
:func:`make_config` and never import a model class, so adding a baseline touches one file.

Every model takes patches ``(N, 1, B, p, p)`` and returns logits ``(N, n_classes)``. Its
configuration is a frozen dataclass holding the architecture switches and what the model needs
from the data pipeline: ``n_components`` (PCA components, ``None`` for the raw bands) and
``patch_size``. Overrides arrive from TOML, JSON or the command line, so :func:`make_config`
checks names and types once, here, and turns lists into tuples.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from mssfe.errors import ConfigError
from mssfe.utils.suggest import did_you_mean

BuildFn = Callable[[Any, int, int], nn.Module]
F = TypeVar("F", bound=Callable[..., nn.Module])

#: Fields every model configuration must have: the data pipeline reads them.
REQUIRED_FIELDS = ("n_components", "patch_size")


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    ``build(config, n_bands, n_classes)`` returns a module mapping ``(N, 1, B, p, p)`` to
    ``(N, n_classes)``; ``n_bands`` is the scene's band count (the model reduces it to
    ``config.n_components`` when that is set). ``training`` holds the model's own training
    defaults (read-only); ``paper`` is the citation to print beside results.
    """

    name: str
    config_cls: type
    build: BuildFn
    training: Mapping[str, Any]
    paper: str
    kind: str = "torch"  # "torch": an nn.Module on patches; "sklearn": a fit/predict estimator


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    config_cls: type,
    *,
    training: Mapping[str, Any],
    paper: str,
    kind: str = "torch",
) -> Callable[[F], F]:
    """Decorator registering ``build(config, n_bands, n_classes)`` under ``name``.

    Raises ConfigError for a duplicate name or a config class that is not a frozen dataclass
    with the fields in :data:`REQUIRED_FIELDS`.
    """
    _check_config_cls(name, config_cls)
    if name in _REGISTRY:
        raise ConfigError(f"model '{name}' is registered twice")

    def decorator(build: F) -> F:
        _REGISTRY[name] = ModelSpec(
            name=name,
            config_cls=config_cls,
            build=build,
            training=types.MappingProxyType(dict(training)),
            paper=paper,
            kind=kind,
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
    wrong type raises ConfigError naming the field, what was expected and what was got.
    """
    spec = get_model_spec(name)
    cls = spec.config_cls
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in valid:
            hint = did_you_mean(key, valid)
            raise ConfigError(
                f"model '{name}': unknown config field '{key}'{hint} "
                f"(valid fields: {', '.join(valid)})"
            )
        value = _to_tuples(value)
        if not _matches(value, hints[key]):
            raise ConfigError(
                f"model '{name}': config field '{key}' expects {_hint_name(hints[key])}, "
                f"got {value!r} ({type(value).__name__})"
            )
        values[key] = value
    return cls(**values)


def create_model(name: str, *, n_bands: int, n_classes: int, **cfg: Any) -> nn.Module:
    """Build model ``name`` for a scene with ``n_bands`` bands and ``n_classes`` classes.

    ``cfg`` overrides the model's default configuration (see :func:`make_config`).
    """
    for arg, value in (("n_bands", n_bands), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"create_model: {arg} must be a positive int, got {value!r}")
    spec = get_model_spec(name)
    return spec.build(make_config(name, **cfg), n_bands, n_classes)


def _to_tuples(value: Any) -> Any:
    """Lists (from TOML, JSON or argparse) become tuples, recursively."""
    if isinstance(value, list | tuple):
        return tuple(_to_tuples(v) for v in value)
    return value


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type hint (the subset that config dataclasses use)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(
            _matches(v, a) for v, a in zip(value, args, strict=True)
        )
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint this checker does not model: leave it to the config's own checks


def _hint_name(hint: Any) -> str:
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")
