"""Run configuration as frozen dataclasses, read from TOML and overridden from the CLI.

``None`` in :class:`OptimConfig` means "the model's own default" (the registry's training
defaults, under the recipe's); ``None`` in :class:`RecipeConfig` means "the named recipe's
value". :func:`mssfe.training.prepare.resolve` fills both in and returns a
:class:`ResolvedRunConfig`, the only config the trainer takes, so the run directory records
every value used. A config.toml without a ``[recipe]`` table (written before recipes existed)
is the ``paper`` recipe. Every value is checked once, when a config is made
(``__post_init__``): a bad one is a ConfigError naming the field, what was expected and what
was got.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from mssfe.data.bands import parse_band_spec
from mssfe.data.preprocess import INPUT_SCALES
from mssfe.data.splits import parse_split
from mssfe.errors import ConfigError
from mssfe.models import make_config
from mssfe.utils.paths import describe_path
from mssfe.utils.validation import (
    build_dataclass,
    check_choice,
    check_optional_scalar,
    check_patch_size,
    check_scalar,
)

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "cosine")
PRECISIONS = ("32", "bf16", "16")
DATA_ON_DEVICE = ("auto", "on", "off")
SELECTIONS = ("val", "last")
CLASS_BALANCES = ("none", "sampler", "loss")
SSL_POOLS = ("none", "inductive", "transductive")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds; the epoch generators derive theirs from it


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
    # test on a stratified random subset of at most this many test pixels (None: all of them)
    max_test: int | None = None
    # the cube's bands a run uses: "0:100,120:150" (positions) or "400nm:1300nm" (None: all)
    bands: str | None = None
    keep_bad_bands: bool = False  # keep the bands an ENVI header's bbl marks bad

    def __post_init__(self) -> None:
        parse_split(self.split)  # a malformed protocol fails here, not after the scene loaded
        check_optional_scalar(self.max_test, "max_test", int, min_val=1)
        if self.bands is not None:
            parse_band_spec(self.bands, "bands")  # its form; the cube checks its ranges
        check_scalar(
            self.val_fraction,
            "val_fraction",
            float,
            min_val=0.0,
            max_val=1.0,
            include_boundaries="left",
        )
        check_choice(self.pca_fit, "pca_fit", ("scene", "train"))
        check_choice(self.nan_policy, "nan_policy", ("raise", "median"))
        if (self.cube is None) != (self.labels is None):
            raise ConfigError(
                "a user's cube needs its labels",
                field="cube" if self.cube is None else "labels",
                expected="cube and labels given together",
                got=f"cube {self.cube!r}, labels {self.labels!r}",
            )


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

    def __post_init__(self) -> None:
        _check_optim(self)


@dataclass(frozen=True)
class ResolvedOptimConfig:
    """The optimisation a gradient-trained run used: every value filled in (no defaults left)."""

    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    scheduler: str
    augment: bool

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None:
                raise ConfigError(field=f.name, expected="a value", got="None")
        _check_optim(self)


def _check_optim(o: OptimConfig | ResolvedOptimConfig) -> None:
    """The optimiser's values, each checked alone (``None``: the model's default, later)."""
    if o.optimizer is not None:
        check_choice(o.optimizer, "optimizer", OPTIMIZERS)
    if o.scheduler is not None:
        check_choice(o.scheduler, "scheduler", SCHEDULERS)
    check_optional_scalar(o.lr, "lr", float, min_val=0.0, include_boundaries="neither")
    check_optional_scalar(o.weight_decay, "weight_decay", float, min_val=0.0)
    check_optional_scalar(o.batch_size, "batch_size", int, min_val=1)
    check_optional_scalar(o.max_epochs, "max_epochs", int, min_val=1)
    check_optional_scalar(o.patience, "patience", int, min_val=1)
    check_optional_scalar(o.augment, "augment", bool)


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
    # "component": every input component (PCA output or band) standardised on its own (the
    # authors' input); "global": one common scale, so PCA's variance ordering is kept
    input_scale: str | None = None

    def __post_init__(self) -> None:
        _check_recipe(self)


@dataclass(frozen=True)
class ResolvedRecipeConfig:
    """The recipe a run was trained with: its published version and every part filled in.

    Made by :func:`mssfe.training.recipes.resolve_recipe`; an estimator records it too (it
    uses only the selection part: which labelled pixels it is fitted on).
    """

    name: str
    version: int
    selection: str
    ema: float
    spectral_augment: float
    mix: float
    class_balance: str
    ssl: str
    ssl_threshold: float
    ssl_weight: float
    ssl_ratio: float
    tta: bool
    input_scale: str

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None:
                raise ConfigError(field=f"recipe.{f.name}", expected="a value", got="None")
        _check_recipe(self)


def _check_recipe(r: RecipeConfig | ResolvedRecipeConfig) -> None:
    """A recipe's parts, each checked alone (``None``: the named recipe's value, later).

    The fields are named under ``recipe.`` whether the recipe came from a file, the command
    line (``--recipe mssfe:ema=0.9``) or Python, so every message says which table it is in.
    """
    if r.version is not None:
        check_scalar(r.version, "recipe.version", int, min_val=1)
    for name, choices in (
        ("selection", SELECTIONS),
        ("class_balance", CLASS_BALANCES),
        ("ssl", SSL_POOLS),
        ("input_scale", INPUT_SCALES),
    ):
        if getattr(r, name) is not None:
            check_choice(getattr(r, name), f"recipe.{name}", choices)
    check_optional_scalar(
        r.ema, "recipe.ema", float, min_val=0.0, max_val=1.0, include_boundaries="left"
    )
    for name, high in (
        ("spectral_augment", 10.0),
        ("mix", 1.0),
        ("ssl_threshold", 1.0),
        ("ssl_weight", 100.0),
        ("ssl_ratio", 64.0),
    ):
        check_optional_scalar(getattr(r, name), f"recipe.{name}", float, min_val=0.0, max_val=high)
    check_optional_scalar(r.tta, "recipe.tta", bool)
    if r.ssl not in (None, "none") and r.ssl_ratio is not None and r.ssl_ratio <= 0:
        raise ConfigError(
            field="recipe.ssl_ratio", expected=f"> 0 with ssl {r.ssl!r}", got=repr(r.ssl_ratio)
        )


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how it runs; does not change results on CPU (deterministic)."""

    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "32"  # 32 | bf16 | 16
    threads: int | None = None  # torch intra-op threads; None = all cores
    workers: int | None = None  # DataLoader worker processes; None: 0 on CPU, up to 4 on GPU
    deterministic: bool = True
    progress: bool = True
    # training batches cut and augmented on the device from a device copy of the padded cube:
    # auto = on for cuda/mps, off on cpu (mssfe.training.runtime.uses_device_data)
    data_on_device: str = "auto"

    def __post_init__(self) -> None:
        check_choice(self.precision, "precision", PRECISIONS)
        check_choice(self.data_on_device, "data_on_device", DATA_ON_DEVICE)
        check_optional_scalar(self.threads, "threads", int, min_val=1)
        check_optional_scalar(self.workers, "workers", int, min_val=0)


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run depends on, as asked (``None``: the model's default)."""

    model: str = "ms2fenet"
    model_args: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        _check_model_and_seed(self)


@dataclass(frozen=True)
class ResolvedRunConfig:
    """A run's configuration as it ran, written to its directory as config.toml.

    ``model_args`` holds the model's whole configuration; ``optim`` every optimiser value, or
    ``None`` for an estimator (fitted, with no optimiser to record); ``recipe`` every part of
    the training recipe (the published version's values where none was given). Made by
    :func:`mssfe.training.prepare.resolve`.
    """

    model: str
    model_args: dict[str, Any]
    data: DataConfig
    optim: ResolvedOptimConfig | None
    recipe: ResolvedRecipeConfig
    runtime: RuntimeConfig
    seed: int

    def __post_init__(self) -> None:
        _check_model_and_seed(self)

    @property
    def gradient_optim(self) -> ResolvedOptimConfig:
        """The optimiser of a gradient-trained model; a ConfigError for an estimator."""
        if self.optim is None:
            raise ConfigError(
                f"model '{self.model}' is fitted as an estimator",
                field="optim",
                expected="a gradient-trained model",
                got="an estimator",
            )
        return self.optim


def _check_model_and_seed(config: RunConfig | ResolvedRunConfig) -> None:
    model = make_config(config.model, **config.model_args)  # an unknown model or option fails
    check_patch_size(model.patch_size, f"{config.model}.patch_size")
    check_scalar(config.seed, "seed", int, min_val=0, max_val=MAX_SEED)


def config_from_dict(data: dict[str, Any], where: str | Path | None = None) -> RunConfig:
    """A RunConfig from a table (TOML, JSON); errors name ``where`` (a file) and the field."""
    try:
        config: RunConfig = build_dataclass(RunConfig, data)
    except ConfigError as exc:
        if where is None:
            raise
        raise exc.renamed(exc.field, file=where) from None
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML config file; errors name the file and the option."""
    path = Path(path)
    what = describe_path(path)
    if what == "nothing at that path":
        raise ConfigError("config file not found", file=path)
    if what != "a regular file":
        raise ConfigError("", file=path, expected="a TOML config file", got=what)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file ({exc.strerror or exc})", file=path
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=path) from exc
    return config_from_dict(data, where=path)


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_strip_none(v) for v in obj]
    return obj


def config_to_dict(config: RunConfig | ResolvedRunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_to_toml(config: RunConfig | ResolvedRunConfig) -> str:
    """TOML text of a config (``None`` values are omitted: TOML has no null)."""
    return tomli_w.dumps(_strip_none(config_to_dict(config)))


def with_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply dotted overrides such as ``{"optim.lr": 0.01, "model_args.partitions": 2}``.

    ``None`` means "not given" and leaves the value as it is. A bad value is a ConfigError
    whose ``field`` is the dotted name it was given under.
    """
    data = config_to_dict(config)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], dict):
                raise ConfigError(f"unknown section '{part}'", field=dotted)
            node = node[part]
        node[parts[-1]] = value
    return config_from_dict(data)
