"""Several seeds of one configuration, and their mean ± std."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from mssfe.data.scenes import Scene
from mssfe.evaluation.metrics import Summary, aggregate, format_pm
from mssfe.training.config import RunConfig
from mssfe.training.rundir import RunResult
from mssfe.training.trainer import run_or_resume
from mssfe.utils.atomic import atomic_write_json, atomic_write_text


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
    return group_dir(out, config) / f"seed{config.seed}"


def train_seeds(
    config: RunConfig, seeds: list[int], out: str | Path, *, scene: Scene | None = None
) -> tuple[list[RunResult], Summary]:
    """Train one run per seed (finished runs are kept, interrupted ones resumed) and summarise."""
    results = []
    for seed in seeds:
        cfg = replace(config, seed=seed)
        results.append(run_or_resume(cfg, run_dir_for(out, cfg), scene=scene))
    summary = aggregate([r.metrics for r in results])
    write_summary(group_dir(out, config), config, seeds, results, summary, scene)
    return results, summary


def write_summary(
    directory: Path,
    config: RunConfig,
    seeds: list[int],
    results: list[RunResult],
    summary: Summary,
    scene: Scene | None,
) -> None:
    names = list(scene.class_names) if scene is not None else []
    payload: dict[str, Any] = {
        "scene": scene_title(config, scene),
        "model": config.model,
        "protocol": config.data.split,
        "recipe": config.recipe.name,
        "seeds": seeds,
        "summary": summary.to_dict(),
        "class_names": names,
        "runs": [str(r.run_dir) for r in results],
        "train_seconds": [r.train_seconds for r in results],
    }
    atomic_write_json(directory / "summary.json", payload)
    atomic_write_text(directory / "summary.md", format_summary(payload))


def format_summary(payload: dict[str, Any]) -> str:
    s = payload["summary"]
    mean, std = s["mean"], s["std"]
    lines = [
        f"# {payload['model']} on {payload['scene']}, split `{payload['protocol']}`, "
        f"{s['n_runs']} seeds {payload['seeds']}",
        "",
        "| metric | mean ± std (%) |",
        "|---|---|",
        *(
            f"| {k.upper() if k != 'kappa' else 'kappa'} | {format_pm(mean[k], std[k])} |"
            for k in ("oa", "aa", "kappa")
        ),
    ]
    if payload["class_names"]:
        lines += ["", "| class | accuracy mean ± std (%) |", "|---|---|"]
        lines += [
            f"| {n} | {format_pm(m, d)} |"
            for n, m, d in zip(
                payload["class_names"], s["per_class_mean"], s["per_class_std"], strict=True
            )
        ]
    return "\n".join(lines) + "\n"
