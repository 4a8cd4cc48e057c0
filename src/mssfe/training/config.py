"""Run configuration as frozen dataclasses, read from TOML and overridden from the CLI.

``None`` in :class:`OptimConfig` means "the model's own default" (the registry's training
defaults, under the recipe's); ``None`` in :class:`RecipeConfig` means "the named recipe's
value". :func:`mssfe.training.prepare.resolve` fills both in, so the run directory records every
value used. A config.toml without a ``[recipe]`` table (written before recipes existed) is the
``paper`` recipe.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from mssfe.errors import ConfigError
from mssfe.utils.paths import describe_path
from mssfe.utils.suggest import did_you_mean


@dataclass(frozen=True)
class DataConfig:
    """Which pixels, which protocol: the scene (or a user's cube) and the split."""

    scene: str = "SalinasA"
    split: str = "random:0.1"
    val_fraction: float = 0.1
    pca_fit: str = "scene"  # "scene" (all pixels, no labels) or "train"
    data_dir: str | None = None
    cube: str | None = None  # a user's cube file instead of a registered scene
    labels: str | None = None
    var: str | None = None
    labels_var: str | None = None
    nan_policy: str = "raise"
    download: bool = True


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation; ``None`` takes the model's registry default."""

    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    max_epochs: int | None = None
    patience: int | None = None  # early stopping on the validation subset
    scheduler: str | None = None  # "none" or "cosine"
    augment: bool | None = None  # random flips / rot90 of training patches


@dataclass(frozen=True)
class RecipeConfig:
    """How a network is trained beyond its optimiser: a named, versioned recipe and its parts.

    ``name`` and ``version`` pick a recipe of :mod:`mssfe.training.recipes` (``version``
    ``None``: its latest); every part left ``None`` takes that recipe's value, a part given
    overrides it on its own. Every part works for every torch network.
    """

    name: str = "paper"
    version: int | None = None
    # "val": early stopping and the best epoch on the validation pixels; "last": a fixed
    # schedule on all labelled pixels (the split's validation pixels train too), last weights
    selection: str | None = None
    ema: float | None = None  # decay of a moving average of the weights; 0 = off
    spectral_augment: float | None = None  # strength of band gain/offset, illumination, noise
    mix: float | None = None  # share of training patches mixed with a same-class patch
    class_balance: str | None = None  # "none", "sampler" or "loss"
    ssl: str | None = None  # unlabelled pool of consistency training: none/inductive/transductive
    ssl_threshold: float | None = None  # teacher confidence a pseudo-label needs
    ssl_weight: float | None = None  # weight of the unlabelled loss
    ssl_ratio: float | None = None  # unlabelled patches per labelled patch in a step
    tta: bool | None = None  # average the 8 flips/rotations at evaluation


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how it runs; does not change results on CPU (deterministic)."""

    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "32"  # 32 | bf16 | 16
    threads: int | None = None  # torch intra-op threads; None = all cores
    workers: int | None = None  # DataLoader worker processes; None: 0 on CPU, up to 4 on GPU
    deterministic: bool = True
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run depends on; written to the run directory as config.toml."""

    model: str = "ms2fenet"
    model_args: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    seed: int = 0


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """Validate (and mildly coerce int -> float) a config value against its type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__} {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got bool {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(
            f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            hint = did_you_mean(key, names)
            raise ConfigError(
                f"{where}: unknown option '{key}'{hint}; valid options: {', '.join(names)}"
            )
        sub = hints[key]
        if dataclasses.is_dataclass(sub) and isinstance(sub, type):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table, got {value!r}")
            kwargs[key] = _from_dict(sub, value, f"{where}.{key}")
        else:
            kwargs[key] = _check_type(value, sub, f"{where}.{key}")
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], where: str = "config") -> RunConfig:
    cfg: RunConfig = _from_dict(RunConfig, data, where)
    return cfg


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML config file; errors name the file and the option."""
    path = Path(path)
    what = describe_path(path)
    if what == "nothing at that path":
        raise ConfigError(f"{path}: config file not found")
    if what != "a regular file":
        raise ConfigError(f"{path}: expected a TOML config file, got {what}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return config_from_dict(data, where=str(path))


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_strip_none(v) for v in obj]
    return obj


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_to_toml(config: RunConfig) -> str:
    """TOML text of a config (``None`` values are omitted: TOML has no null)."""
    return tomli_w.dumps(_strip_none(config_to_dict(config)))


def with_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply dotted overrides such as ``{"optim.lr": 0.01, "model_args.partitions": 2}``."""
    data = config_to_dict(config)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], dict):
                raise ConfigError(f"override '{dotted}': unknown section '{part}'")
            node = node[part]
        node[parts[-1]] = value
    return config_from_dict(data, where="options")
