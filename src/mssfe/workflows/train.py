"""Several seeds of one configuration, and their mean ± std: ``mssfe train`` and its Python
twin :func:`train`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mssfe.data.scenes import Scene, select_scene_bands
from mssfe.errors import ConfigError
from mssfe.evaluation.metrics import Summary, aggregate
from mssfe.training.config import MAX_SEED, RunConfig, load_config, with_overrides
from mssfe.training.prepare import load_scene_for
from mssfe.training.recipes import parse_recipe
from mssfe.training.rundir import GroupDir, GroupSummary, RunResult
from mssfe.training.trainer import run_or_resume
from mssfe.utils.validation import check_seeds


def slug(text: str) -> str:
    """A file-name-safe form of a protocol or scene name ('random:0.1' -> 'random-0.1')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def group_dir(out: str | Path, config: RunConfig) -> Path:
    """``OUT/scene/model/split``; a recipe other than ``paper`` names the model folder
    ``model_recipe``, so both recipes' runs of one split live side by side."""
    model = slug(config.model)
    if config.recipe.name != "paper":
        model += f"_{slug(config.recipe.name)}"
    return Path(out) / slug(scene_title(config, None)) / model / slug(config.data.split)


def scene_title(config: RunConfig, scene: Scene | None) -> str:
    """The name a run group is about: the scene trained on, or the user cube's file stem
    (``config.data.scene`` keeps its default when ``--cube`` is given)."""
    if scene is not None:
        return scene.name
    return Path(config.data.cube).stem if config.data.cube else config.data.scene


def run_dir_for(out: str | Path, config: RunConfig) -> Path:
    return GroupDir(group_dir(out, config)).run(config.seed).path


def train_seeds(
    config: RunConfig,
    seeds: int | Sequence[int],
    out: str | Path,
    *,
    scene: Scene | None = None,
) -> tuple[list[RunResult], Summary]:
    """Train one run per seed (finished runs are kept, interrupted ones resumed) and summarise.

    ``seeds``: a count ``N`` (seeds 0..N-1) or the seeds themselves, distinct (a repeated
    seed would train once and count twice in the mean).
    """
    seeds = list(check_seeds(seeds, "seeds", max_val=MAX_SEED))
    if scene is None:
        scene = load_scene_for(config)  # once for every seed
    else:  # a scene given in Python takes the config's bands too (once: a selection is kept)
        d = config.data
        scene = select_scene_bands(scene, d.bands, keep_bad=d.keep_bad_bands, name="data.bands")
    results = []
    for seed in seeds:
        cfg = replace(config, seed=seed)
        results.append(run_or_resume(cfg, run_dir_for(out, cfg), scene=scene))
    summary = aggregate([r.metrics for r in results])
    GroupDir(group_dir(out, config)).write(
        GroupSummary(
            scene=scene.name,  # a user's cube too (its config still names the default scene)
            model=config.model,
            protocol=config.data.split,
            recipe=config.recipe.name,
            seeds=tuple(seeds),
            summary=summary,
            class_names=tuple(scene.class_names),
            runs=tuple(str(r.run_dir) for r in results),
            train_seconds=tuple(r.train_seconds for r in results),
        )
    )
    return results, summary


@dataclass(frozen=True)
class SeedGroup:
    """What :func:`train` did: the configuration (seed 0's), one result per seed, their
    mean ± std, and the group directory holding ``summary.md`` and one ``seed<N>`` run each."""

    config: RunConfig
    results: tuple[RunResult, ...]
    summary: Summary
    directory: Path

    @property
    def run_dirs(self) -> tuple[Path, ...]:
        return tuple(r.run_dir for r in self.results)


def run_config(
    config: RunConfig | str | Path | None = None,
    *,
    model_args: dict[str, Any] | None = None,
    recipe: str | None = None,
    **options: Any,
) -> RunConfig:
    """A :class:`RunConfig` from a config object or TOML file (or the defaults) with the given
    options on top, as ``mssfe train --config FILE --epochs 5 ...`` builds it.

    ``options`` are :func:`train`'s keywords (``scene``, ``model``, ``split``, ``epochs`` ...);
    ``None`` leaves a value as it is. A new ``model`` drops the old model's ``model_args``.
    ``recipe``: ``"paper"``, ``"mssfe"`` or ``"mssfe:ssl=none,..."``, as ``--recipe``.
    """
    base = config if isinstance(config, RunConfig) else RunConfig()
    if isinstance(config, (str, Path)):
        base = load_config(config)
    names = {
        "model": "model",
        "scene": "data.scene",
        "split": "data.split",
        "val_fraction": "data.val_fraction",
        "pca_fit": "data.pca_fit",
        "data_dir": "data.data_dir",
        "download": "data.download",
        "cube": "data.cube",
        "labels": "data.labels",
        "var": "data.var",
        "labels_var": "data.labels_var",
        "nan_policy": "data.nan_policy",
        "max_test": "data.max_test",
        "bands": "data.bands",
        "keep_bad_bands": "data.keep_bad_bands",
        "optimizer": "optim.optimizer",
        "lr": "optim.lr",
        "weight_decay": "optim.weight_decay",
        "batch_size": "optim.batch_size",
        "epochs": "optim.max_epochs",
        "patience": "optim.patience",
        "scheduler": "optim.scheduler",
        "augment": "optim.augment",
        "device": "runtime.device",
        "precision": "runtime.precision",
        "threads": "runtime.threads",
        "workers": "runtime.workers",
        "data_on_device": "runtime.data_on_device",
        "progress": "runtime.progress",
        "deterministic": "runtime.deterministic",
    }
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"train: unknown option(s) {unknown}; known: {', '.join(names)}")
    overrides = {names[key]: value for key, value in options.items()}
    model = options.get("model")
    if model and model != base.model:
        overrides["model_args"] = {}  # another model's options do not carry over
    out = with_overrides(base, overrides)
    for key, value in (model_args or {}).items():
        out = with_overrides(out, {f"model_args.{key}": value})
    if recipe is not None:
        out = replace(out, recipe=parse_recipe(recipe))
    return out


def train(
    scene: str | Scene | None = None,
    model: str | None = None,
    *,
    split: str | None = None,
    seeds: int | Sequence[int] = (0,),
    out: str | Path = "runs",
    config: RunConfig | str | Path | None = None,
    model_args: dict[str, Any] | None = None,
    recipe: str | None = None,
    **options: Any,
) -> SeedGroup:
    """Train one run per seed and summarise them: ``mssfe train`` in Python.

    ``scene``: a registered scene name or a loaded :class:`Scene` (e.g. a crop); for your own
    cube pass ``cube=`` and ``labels=`` file paths instead. ``config``: a :class:`RunConfig` or
    a TOML file that the other arguments override, like ``--config``. ``seeds``: a count
    ``N`` (seeds 0..N-1, as ``--seeds N``) or the seeds themselves (as ``--seed 0 3``).
    ``options``:
    ``epochs``, ``patience``, ``lr``, ``batch_size``, ``val_fraction``, ``pca_fit``,
    ``augment``, ``device``, ``precision``, ``threads``, ``workers``, ``data_on_device``,
    ``progress``, ``data_dir``, ``download``, ``cube``, ``labels``, ``var``, ``labels_var``,
    ``nan_policy``, ``max_test``, ``bands`` (``"0:100,120:150"`` or ``"400nm:1300nm"``),
    ``keep_bad_bands``, ``optimizer``, ``weight_decay``, ``scheduler``; ``recipe`` as
    ``--recipe`` (``"mssfe"``, docs/recipes.md). Runs go to
    ``out/<scene>/<model>/<split>/seed<N>``; finished runs there are kept and interrupted ones
    resumed, so calling again continues where it stopped.
    """
    loaded = scene if isinstance(scene, Scene) else None
    name = loaded.name if loaded is not None else scene
    base = run_config(
        config,
        model=model,
        scene=name,
        split=split,
        model_args=model_args,
        recipe=recipe,
        **options,
    )
    if loaded is None:
        loaded = load_scene_for(base)
    results, summary = train_seeds(base, seeds, out, scene=loaded)
    return SeedGroup(base, tuple(results), summary, group_dir(out, base))
