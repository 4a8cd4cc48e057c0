"""Training recipes: named and versioned, ``paper`` = the training we always had, checked parts."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from mssfe.errors import ConfigError
from mssfe.models import Fit, get_model_spec, list_models
from mssfe.training.config import RecipeConfig, RunConfig, config_to_toml, load_config
from mssfe.training.prepare import FALLBACK_TRAINING, resolve
from mssfe.training.recipes import (
    PARTS,
    get_recipe,
    list_recipes,
    parse_recipe,
    recipe_key,
    recipe_label,
    resolve_recipe,
)

TORCH_MODELS = [m for m in list_models() if get_model_spec(m).fit is Fit.GRADIENT]


def test_both_recipes_are_published_with_every_part() -> None:
    assert list_recipes() == ["mssfe", "paper"]
    for name in list_recipes():
        assert set(get_recipe(name).parts) == set(PARTS)


def test_paper_adds_nothing_to_todays_training() -> None:
    paper = get_recipe("paper")
    assert dict(paper.optim) == {}
    assert paper.parts["selection"] == "val" and paper.parts["ssl"] == "none"
    assert paper.parts["ema"] == paper.parts["spectral_augment"] == paper.parts["mix"] == 0
    assert paper.parts["class_balance"] == "none" and paper.parts["tta"] is False
    assert paper.parts["input_scale"] == "component"  # the authors' per-component input


@pytest.mark.parametrize("model", TORCH_MODELS)
def test_paper_resolves_every_network_to_its_registry_defaults(model: str) -> None:
    resolved = resolve(RunConfig(model=model))
    expected = {**FALLBACK_TRAINING, **get_model_spec(model).training}
    assert asdict(resolved.optim) == {k: expected[k] for k in asdict(resolved.optim)}
    assert resolved.recipe.name == "paper" and resolved.recipe.version == 1


@pytest.mark.parametrize("model", TORCH_MODELS)
def test_mssfe_resolves_for_every_network(model: str) -> None:
    resolved = resolve(RunConfig(model=model, recipe=RecipeConfig(name="mssfe")))
    assert resolved.optim.scheduler == "cosine"  # the recipe's optimiser default
    assert resolved.optim.lr == get_model_spec(model).training.get("lr", FALLBACK_TRAINING["lr"])
    assert resolved.recipe.selection == "last"
    assert resolved.recipe.version == get_recipe("mssfe").version == 1  # the default


def test_a_value_given_beats_the_recipe() -> None:
    config = RunConfig(recipe=RecipeConfig(name="mssfe", ssl="transductive", tta=False))
    resolved = resolve(config)
    assert resolved.recipe.ssl == "transductive" and resolved.recipe.tta is False
    assert resolved.recipe.ema == get_recipe("mssfe").parts["ema"]
    latest = get_recipe("mssfe").version
    assert recipe_label(resolved.recipe) == f"mssfe v{latest}*"  # differs from the published
    assert recipe_label(resolve(RunConfig()).recipe) == "paper v1"


def test_a_config_file_without_a_recipe_table_is_paper(tmp_path: Path) -> None:
    """config.toml as written before recipes existed: resolves to exactly its old values."""
    old = resolve(RunConfig(model="ssftt"))
    text = config_to_toml(old)
    before_recipes = text[: text.index("[recipe]")] + text[text.index("[runtime]") :]
    path = tmp_path / "config.toml"
    path.write_text(before_recipes)
    loaded = load_config(path)
    assert loaded.recipe == RecipeConfig()
    assert resolve(loaded) == old
    assert resolve(resolve(loaded)) == old  # idempotent: a stored config resolves to itself


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        ({"name": "msfe"}, r"recipe\.name: expected one of 'mssfe', 'paper', got 'msfe'"),
        ({"name": "paper", "version": 7}, r"recipe\.version: .*\[1\], got 7"),
        ({"selection": "best"}, r"recipe\.selection: expected one of 'val', 'last', got 'best'"),
        ({"ssl": "both"}, r"recipe\.ssl: expected one of 'none', 'inductive', 'transductive'"),
        ({"class_balance": "weights"}, r"recipe\.class_balance: expected one of"),
        ({"ema": 1.0}, r"recipe\.ema: expected a finite float >= 0 and < 1, got 1\.0"),
        ({"mix": -0.1}, r"recipe\.mix: expected a finite float >= 0 and <= 1, got -0\.1"),
        ({"ssl": "inductive", "ssl_ratio": 0.0}, r"recipe\.ssl_ratio: expected > 0"),
        ({"name": "mssfe", "version": 1, "ssl_ratio": 0.0}, r"recipe\.ssl_ratio: expected > 0"),
        ({"input_scale": "band"}, r"recipe\.input_scale: expected one of 'component', 'global'"),
    ],
)
def test_bad_recipe_values_name_the_field_what_was_expected_and_got(
    parts: dict[str, object], match: str
) -> None:
    """A part is checked when the recipe is made, the name and version (and a part against
    the named recipe's others) when it is resolved; either way before any training."""
    with pytest.raises(ConfigError, match=match):
        resolve_recipe(RecipeConfig(**parts))  # type: ignore[arg-type]


def test_a_recipe_part_of_the_wrong_type_in_a_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[recipe]\nname = "mssfe"\ntta = "yes"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: recipe\.tta: expected bool"):
        load_config(path)


def test_a_version_that_is_not_the_default_stays_reproducible_by_number() -> None:
    """mssfe v2 was published, then not borne out on fresh seeds: the name alone still means
    v1, ``mssfe@2`` gives v2 with its own parts, and a run of it is labelled v2."""
    assert get_recipe("mssfe").version == 1 and get_recipe("mssfe").default
    v2 = get_recipe("mssfe", 2)
    assert not v2.default
    assert (v2.parts["input_scale"], v2.parts["ssl"]) == ("global", "none")
    resolved = resolve(RunConfig(recipe=parse_recipe("mssfe@2")))
    assert resolved.recipe.version == 2 and resolved.recipe.input_scale == "global"
    assert recipe_label(resolved.recipe) == "mssfe v2"
    assert recipe_label(
        resolve(RunConfig(recipe=parse_recipe("mssfe@2:ssl=inductive"))).recipe
    ) == ("mssfe v2*")
    assert recipe_key("mssfe@2:ssl=none") == "mssfe@2:ssl=none"


def test_recipe_key_names_the_version_so_versions_never_share_cells() -> None:
    """Cell folders are named by this key: version 1 as the tables before a second version
    wrote them, any later version with ``@N``, the parts kept as written."""
    latest = get_recipe("mssfe").version
    assert recipe_key("paper") == recipe_key("paper@1") == "paper"
    assert recipe_key("mssfe@1") == "mssfe" and recipe_key("mssfe@1:ssl=none") == "mssfe:ssl=none"
    expected = "mssfe" if latest == 1 else f"mssfe@{latest}"
    assert recipe_key("mssfe") == expected
    assert recipe_key("mssfe:ssl=none,mix=0") == f"{expected}:ssl=none,mix=0"
    with pytest.raises(ConfigError, match=r"recipe\.version"):
        recipe_key("mssfe@99")
