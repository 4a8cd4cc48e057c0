"""Named, versioned training recipes: what every torch network is trained with.

A recipe fixes the parts of :class:`~mssfe.training.config.RecipeConfig` (model selection,
weight averaging, augmentation, class balance, semi-supervised learning, test-time
augmentation) and may set optimiser defaults that sit between the model's registry defaults
and the user's own values. A version, once published, never changes: a changed setting is a
new version, so a run directory's ``[recipe]`` table always means what it meant when written.

``paper`` is the training this package always had (the authors' layers with our Adam and
early stopping on the validation pixels); it adds nothing, so its runs are bit-identical to
those made before recipes existed. ``mssfe`` is ours for few labels and leakage-free splits;
``docs/recipes.md`` says how each of its settings was chosen without reading a test pixel.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mssfe.errors import ConfigError
from mssfe.training.config import RecipeConfig, config_from_dict
from mssfe.utils.suggest import did_you_mean

SELECTIONS = ("val", "last")
CLASS_BALANCES = ("none", "sampler", "loss")
SSL_POOLS = ("none", "inductive", "transductive")

#: The parts of a recipe: every RecipeConfig field but its name and version.
PARTS = tuple(f.name for f in dataclasses.fields(RecipeConfig) if f.name not in ("name", "version"))


@dataclass(frozen=True)
class Recipe:
    """One published recipe version: a value for every part, and optimiser defaults."""

    name: str
    version: int
    parts: Mapping[str, Any]
    optim: Mapping[str, Any]
    summary: str


#: Today's training, part by part: nothing added.
_PAPER_PARTS = {
    "selection": "val",
    "ema": 0.0,
    "spectral_augment": 0.0,
    "mix": 0.0,
    "class_balance": "none",
    "ssl": "none",
    "ssl_threshold": 0.95,
    "ssl_weight": 1.0,
    "ssl_ratio": 1.0,
    "tta": False,
}

_RECIPES: dict[str, dict[int, Recipe]] = {}


def _expect_choice(
    parts: Mapping[str, Any], key: str, choices: tuple[str, ...], where: str
) -> None:
    if parts[key] not in choices:
        raise ConfigError(
            f"{where}.{key}: expected one of {', '.join(choices)}, got {parts[key]!r}"
        )


def _expect_range(
    parts: Mapping[str, Any], key: str, low: float, high: float, where: str, *, open_high: bool
) -> None:
    value = parts[key]
    inside = low <= value < high if open_high else low <= value <= high
    if not inside:
        bracket = ")" if open_high else "]"
        raise ConfigError(
            f"{where}.{key}: expected a number in [{low}, {high}{bracket}, got {value!r}"
        )


def check_parts(parts: Mapping[str, Any], where: str = "recipe") -> None:
    """Every part in its range; a message names the field, what was expected and what was got."""
    _expect_choice(parts, "selection", SELECTIONS, where)
    _expect_choice(parts, "class_balance", CLASS_BALANCES, where)
    _expect_choice(parts, "ssl", SSL_POOLS, where)
    _expect_range(parts, "ema", 0.0, 1.0, where, open_high=True)
    _expect_range(parts, "spectral_augment", 0.0, 10.0, where, open_high=False)
    _expect_range(parts, "mix", 0.0, 1.0, where, open_high=False)
    _expect_range(parts, "ssl_threshold", 0.0, 1.0, where, open_high=False)
    _expect_range(parts, "ssl_weight", 0.0, 100.0, where, open_high=False)
    _expect_range(parts, "ssl_ratio", 0.0, 64.0, where, open_high=False)
    if parts["ssl"] != "none" and parts["ssl_ratio"] <= 0:
        raise ConfigError(f"{where}.ssl_ratio: expected > 0 with ssl {parts['ssl']!r}, got 0")


def _publish(name: str, version: int, summary: str, optim: Mapping[str, Any], **parts: Any) -> None:
    values = {**_PAPER_PARTS, **parts}
    if set(values) != set(PARTS):
        raise ConfigError(f"recipe {name} v{version}: parts {sorted(values)} != {sorted(PARTS)}")
    recipe = Recipe(name, version, MappingProxyType(values), MappingProxyType(dict(optim)), summary)
    check_parts(recipe.parts, f"recipe {name} v{version}")
    _RECIPES.setdefault(name, {})[version] = recipe


_publish(
    "paper",
    1,
    "the authors' layers with our Adam, early stopping on the validation pixels, flips/rot90",
    optim={},
)

# v1: chosen by benchmarks/select_recipe.py on validation folds of the training pixels of
# Salinas-A random:5 (docs/recipes.md: validation OA 98.3 against paper's 93.3 and 91.7 with
# the inductive pool); frozen before any result table was run with it.
_publish(
    "mssfe",
    1,
    "fixed cosine schedule on all labelled pixels with weight averaging, spectral "
    "augmentation and same-class mixing, class-balanced epochs, FixMatch-style consistency "
    "on every pixel not trained on (transductive), test-time flips/rotations",
    optim={"scheduler": "cosine"},
    selection="last",
    ema=0.99,
    spectral_augment=1.0,
    mix=0.5,
    class_balance="sampler",
    ssl="transductive",
    tta=True,
)


def list_recipes() -> list[str]:
    return sorted(_RECIPES)


def get_recipe(name: str, version: int | None = None) -> Recipe:
    """The recipe ``name`` at ``version`` (``None``: its latest)."""
    versions = _RECIPES.get(name)
    if versions is None:
        raise ConfigError(
            f"recipe.name: expected one of {', '.join(list_recipes())}, got {name!r}"
            f"{did_you_mean(str(name), _RECIPES)}"
        )
    if version is None:
        return versions[max(versions)]
    if version not in versions:
        raise ConfigError(
            f"recipe.version: recipe {name!r} has versions {sorted(versions)}, got {version!r}"
        )
    return versions[version]


def resolve_recipe(recipe: RecipeConfig) -> RecipeConfig:
    """The recipe with its version and every part filled in (values given are kept), checked."""
    published = get_recipe(recipe.name, recipe.version)
    given = dataclasses.asdict(recipe)
    filled = {k: (given[k] if given[k] is not None else published.parts[k]) for k in PARTS}
    check_parts(filled)
    return RecipeConfig(name=published.name, version=published.version, **filled)


def recipe_optim_defaults(recipe: RecipeConfig) -> Mapping[str, Any]:
    """Optimiser defaults the recipe sets over the model's registry defaults."""
    return get_recipe(recipe.name, recipe.version).optim


def recipe_label(recipe: RecipeConfig) -> str:
    """``'mssfe v1'``, or ``'mssfe v1*'`` when a part differs from the published recipe."""
    published = get_recipe(recipe.name, recipe.version)
    given = dataclasses.asdict(recipe)
    changed = any(given[k] is not None and given[k] != published.parts[k] for k in PARTS)
    return f"{published.name} v{published.version}{'*' if changed else ''}"


def _part_value(text: str) -> Any:
    """A part's value as written on a command line: TOML literal, else the bare text."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_recipe(text: str) -> RecipeConfig:
    """``mssfe`` or ``mssfe:ssl=transductive,tta=false`` -> a checked RecipeConfig.

    The name may carry a version (``mssfe@1``); parts not written take the recipe's values.
    """
    head, _, rest = text.partition(":")
    name, _, version = head.partition("@")
    parts: dict[str, Any] = {}
    for item in filter(None, (piece.strip() for piece in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key.strip() not in PARTS:
            raise ConfigError(
                f"recipe {text!r}: expected NAME[:PART=VALUE,...] with PART one of "
                f"{', '.join(PARTS)}, got {item!r}"
            )
        parts[key.strip()] = _part_value(value)
    if version and not version.isdigit():
        raise ConfigError(f"recipe {text!r}: expected a version number after '@', got {version!r}")
    config = config_from_dict(
        {"recipe": {"name": name.strip(), "version": int(version) if version else None, **parts}},
        where=f"recipe {text!r}",
    ).recipe
    resolve_recipe(config)  # an unknown recipe or a bad value fails here, before any training
    return config


def recipe_record(recipe: RecipeConfig, *, network: bool = True) -> dict[str, Any]:
    """What metrics.json says of how a run was trained: the recipe's label, its SSL pool and
    whether the test pass averaged the 8 flips/rotations. A classic (non-network) model takes
    only the recipe's selection part (which pixels train): no SSL, no TTA."""
    return {
        "recipe": recipe_label(recipe),
        "ssl_pool": (recipe.ssl or "none") if network else "none",
        "tta": bool(recipe.tta) if network else False,
    }
