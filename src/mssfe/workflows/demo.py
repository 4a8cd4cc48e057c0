"""`make demo`: MS²FENet on the embedded, real Salinas-A cube, quick enough for a laptop CPU.

Quick configuration (ours, stated in the README): split random:0.05 (5% of each class's
pixels, validation carved from them), the authors' layers (PCA 30, patch 15), Adam
lr 1e-3 / weight decay 1e-4, batch 64, at most 30 epochs, early stopping patience 8.
"""

from __future__ import annotations

import time
from pathlib import Path

from mssfe.training.config import DataConfig, OptimConfig, RunConfig
from mssfe.training.prepare import load_scene_for, resolve
from mssfe.training.recipes import parse_recipe
from mssfe.training.rundir import RunDir, leakage_text
from mssfe.workflows.train import run_dir_for, train_seeds

DEMO_SPLIT = "random:0.05"
DEMO_EPOCHS = 30
DEMO_PATIENCE = 8


def demo_config(epochs: int | None = None, seed: int = 0, recipe: str = "paper") -> RunConfig:
    """The quick configuration; ``epochs`` (checked like any config value) replaces its 30,
    ``recipe`` (``NAME[:PART=VALUE,...]``) says how it trains."""
    return RunConfig(
        model="ms2fenet",
        data=DataConfig(scene="SalinasA", split=DEMO_SPLIT),
        optim=OptimConfig(
            max_epochs=DEMO_EPOCHS if epochs is None else epochs, patience=DEMO_PATIENCE
        ),
        recipe=parse_recipe(recipe),
        seed=seed,
    )


def run_demo(
    out: str | Path = "runs/demo", epochs: int | None = None, seed: int = 0, recipe: str = "paper"
) -> int:
    """Train the demo run (or show a finished one) and print its result; ``recipe``: how it
    trains (``paper`` by default, ``mssfe`` for ours: a fixed schedule, no early stopping)."""
    config = demo_config(epochs, seed, recipe)
    scene = load_scene_for(config)
    print(
        f"Salinas-A (real AVIRIS, embedded): cube {scene.require_cube().shape}, "
        f"{scene.n_classes} classes, {int((scene.labels > 0).sum()):,} labelled pixels"
    )
    stopping = (
        f"at most {config.optim.max_epochs} epochs, patience {DEMO_PATIENCE}"
        if resolve(config).recipe.selection == "val"
        else f"{config.optim.max_epochs} epochs"
    )
    print(f"MS²FENet (authors' layers), split {DEMO_SPLIT}, seed {seed}, {stopping}")
    t0 = time.perf_counter()
    finished = RunDir(run_dir_for(out, config)).is_finished()
    results, _ = train_seeds(config, [seed], out, scene=scene)
    if finished:
        print(f"(a finished run was found in {out}: its result is shown; delete it to train again)")
    r = results[0]
    m = r.metrics
    record = RunDir(r.run_dir).read_metrics()
    print(
        f"\nOA {m.oa * 100:.2f}%  AA {m.aa * 100:.2f}%  kappa {m.kappa * 100:.2f}%  "
        f"on {m.n_test:,} test pixels of Salinas-A (real), split {DEMO_SPLIT} "
        f"(best epoch {r.best_epoch} of {r.epochs})\n{leakage_text(record.leakage)}\n"
        f"{record.recipe_text()}"
    )
    for name, acc in zip(scene.class_names, m.per_class, strict=True):
        print(f"  {name:28s} {acc * 100:6.2f}%")
    print(f"run directory: {r.run_dir}  ({time.perf_counter() - t0:.0f} s)")
    return 0
