"""Several seeds of one configuration, and their mean ± std."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from mssfe.data.scenes import Scene
from mssfe.evaluation.metrics import Summary, aggregate
from mssfe.training.config import MAX_SEED, RunConfig
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import GroupDir, GroupSummary, RunResult
from mssfe.training.trainer import run_or_resume
from mssfe.utils.validation import check_distinct_ints


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
    config: RunConfig, seeds: list[int], out: str | Path, *, scene: Scene | None = None
) -> tuple[list[RunResult], Summary]:
    """Train one run per seed (finished runs are kept, interrupted ones resumed) and summarise.

    ``seeds`` must be distinct: a repeated seed would train once and count twice in the mean.
    """
    seeds = list(check_distinct_ints(seeds, "seeds", max_val=MAX_SEED))
    scene = scene if scene is not None else load_scene_for(config)  # once for every seed
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
