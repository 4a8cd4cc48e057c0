"""Several seeds of one configuration, and their mean ± std."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from mssfe.data.scenes import Scene
from mssfe.evaluation.metrics import Summary, aggregate, format_pm
from mssfe.training.config import MAX_SEED, RunConfig
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import RunResult
from mssfe.training.trainer import run_or_resume
from mssfe.utils.atomic import atomic_write_json, atomic_write_text
from mssfe.utils.validation import check_distinct_ints


def slug(text: str) -> str:
    """A file-name-safe form of a protocol or scene name ('random:0.1' -> 'random-0.1')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def group_dir(out: str | Path, config: RunConfig) -> Path:
    scene = Path(config.data.cube).stem if config.data.cube else config.data.scene
    return Path(out) / slug(scene) / slug(config.model) / slug(config.data.split)


def run_dir_for(out: str | Path, config: RunConfig) -> Path:
    return group_dir(out, config) / f"seed{config.seed}"


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
        "scene": config.data.scene,
        "model": config.model,
        "protocol": config.data.split,
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
