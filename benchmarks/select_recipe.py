"""Choose a training recipe's settings on validation folds of the training pixels only.

The protocol of ``docs/recipes.md``: for every (scene, split protocol, seed) the benchmark's
split is made, and its *training* pixels (train + validation) are cut into ``--folds``
stratified folds (whole blocks for a disjoint split, with its guard band). Each candidate
recipe trains on all folds but one and predicts the held-out fold; the folds' predictions are
pooled into one validation accuracy per seed. The split's test pixels are never used: their
labels are replaced by random classes before anything runs (so nothing downstream could
depend on them), and the unlabelled pools of semi-supervised training are those of the
benchmark (labels are only told apart from "unlabelled").

    python benchmarks/select_recipe.py --preset full --threads 1      # hours on 2 cores
    python benchmarks/select_recipe.py --preset quick --threads 1     # ~20 minutes

A candidate is ``RECIPE`` or ``RECIPE:PART=VALUE,PART=VALUE`` (``mssfe:ssl=none``). Runs are
resumable (``OUT/runs``); ``OUT/selection.md`` and ``OUT/selection.json`` hold the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mssfe.data.scenes import Scene, load_scene
from mssfe.data.splits import make_split, validation_folds
from mssfe.models import make_config
from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.recipes import parse_recipe, recipe_label
from mssfe.training.rundir import RunDir
from mssfe.training.trainer import run_or_resume
from mssfe.utils.atomic import atomic_write_json, atomic_write_text

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "scenes": ["SalinasA"],
        "splits": ["random:5"],
        "seeds": [0],
        "folds": 5,
        "candidates": ["paper", "mssfe:ssl=none", "mssfe", "mssfe:ssl=inductive"],
    },
    "full": {
        "scenes": ["SalinasA", "IndianPines-sim", "PaviaU-sim"],
        "splits": ["random:5", "disjoint"],
        "seeds": [0, 1, 2, 3, 4],
        "folds": 5,
        "candidates": [
            "paper",
            "mssfe",
            "mssfe:selection=val",
            "mssfe:ema=0.0",
            "mssfe:spectral_augment=0.0",
            "mssfe:spectral_augment=2.0",
            "mssfe:mix=0.0",
            "mssfe:class_balance=none",
            "mssfe:class_balance=loss",
            "mssfe:ssl=none",
            "mssfe:ssl=inductive",
            "mssfe:ssl_ratio=3.0",
            "mssfe:ssl_threshold=0.9",
            "mssfe:tta=false",
        ],
    },
}


def scrambled_test_labels(scene: Scene, test: np.ndarray, seed: int) -> Scene:
    """The scene with its test pixels' classes replaced by random ones (still labelled)."""
    labels = scene.labels.copy()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    labels.flat[test] = rng.integers(1, scene.n_classes + 1, size=test.size)
    return dataclasses.replace(scene, labels=labels)


def _pooled(run_dirs: list[Path]) -> dict[str, float]:
    """OA and AA of the folds' held-out pixels pooled, and the mean training seconds."""
    records = [RunDir(d).read_metrics() for d in run_dirs]
    confusion = sum(np.asarray(r.metrics.confusion, dtype=np.int64) for r in records)
    confusion = np.asarray(confusion)
    per_class = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    present = confusion.sum(axis=1) > 0
    return {
        "oa": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "aa": float(per_class[present].mean()),
        "pixels": int(confusion.sum()),
        "train_seconds": float(np.mean([r.train_seconds for r in records])),
    }


def run_cell(
    args: argparse.Namespace, scene: Scene, protocol: str, seed: int, candidate: str
) -> dict[str, float]:
    """One candidate on one (scene, protocol, seed): train each fold, pool its predictions."""
    recipe = parse_recipe(candidate)
    patch = int(make_config(args.model).patch_size)
    outer = make_split(scene.labels, protocol, seed=seed, patch_size=args.guard_patch or patch)
    blind = scrambled_test_labels(scene, outer.test, seed)
    base = Path(args.out) / "runs" / scene.name / protocol.replace(":", "-") / f"seed{seed}"
    run_dirs = []
    folds = validation_folds(outer, blind.labels, args.folds, seed=seed, guard=args.fold_guard)
    for i, fold in enumerate(folds):
        split_path = base / f"fold{i}.npz"
        if not split_path.exists():
            split_path.parent.mkdir(parents=True, exist_ok=True)
            fold.save(split_path)
        config = RunConfig(
            model=args.model,
            data=DataConfig(scene=scene.name, split=f"file:{split_path}"),
            optim=OptimConfig(max_epochs=args.epochs, patience=args.patience),
            recipe=recipe,
            runtime=RuntimeConfig(progress=False, threads=args.threads),
            seed=seed,
        )
        run_dir = base / candidate.replace(":", "_").replace(",", "_") / f"fold{i}"
        run_or_resume(config, run_dir, scene=blind)
        run_dirs.append(run_dir)
    return _pooled(run_dirs)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std over seeds of each (scene, protocol, candidate)."""
    keys = list(dict.fromkeys((r["scene"], r["protocol"], r["candidate"]) for r in rows))
    out = []
    for scene, protocol, candidate in keys:
        cell = [
            r
            for r in rows
            if (r["scene"], r["protocol"], r["candidate"]) == (scene, protocol, candidate)
        ]
        oa = np.array([r["oa"] for r in cell]) * 100
        out.append(
            {
                "scene": scene,
                "protocol": protocol,
                "candidate": candidate,
                "recipe": recipe_label(parse_recipe(candidate)),
                "seeds": [r["seed"] for r in cell],
                "val_oa_mean": float(oa.mean()),
                "val_oa_std": float(oa.std(ddof=1)) if oa.size > 1 else 0.0,
                "val_aa_mean": float(np.mean([r["aa"] for r in cell]) * 100),
                "val_pixels": int(np.mean([r["pixels"] for r in cell])),
                "train_seconds": float(np.mean([r["train_seconds"] for r in cell])),
            }
        )
    return out


def format_table(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Recipe selection on validation folds of the training pixels",
        "",
        f"Model `{meta['model']}`, {meta['folds']} folds, budget {meta['epochs']} epochs "
        f"(patience {meta['patience']} where the recipe stops early), seeds {meta['seeds']}, "
        f"{meta['threads']} thread(s). Validation OA/AA: the held-out folds of each split's "
        "training pixels, pooled per seed; mean ± std over seeds. No test pixel is used.",
        "",
        "| scene | split | candidate | recipe | val OA % | val AA % | val pixels / seed | "
        "train s / fold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['scene']} | `{r['protocol']}` | `{r['candidate']}` | {r['recipe']} | "
            f"{r['val_oa_mean']:.2f} ± {r['val_oa_std']:.2f} | {r['val_aa_mean']:.2f} | "
            f"{r['val_pixels']} | {r['train_seconds']:.1f} |"
        )
    lines += ["", f"Command: `{meta['command']}`", f"Wall time: {meta['wall_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    p.add_argument("--scenes", nargs="+", help="override the preset's scenes")
    p.add_argument("--splits", nargs="+", help="override the preset's split protocols")
    p.add_argument("--seeds", nargs="+", type=int, help="override the preset's seeds")
    p.add_argument("--folds", type=int, help="override the preset's number of folds")
    p.add_argument("--candidates", nargs="+", help="override the preset's candidates")
    p.add_argument("--model", default="ms2fenet")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--guard-patch", type=int, help="disjoint guard patch (default: the model's)")
    p.add_argument(
        "--fold-guard",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="guard band inside a disjoint split's folds (it leaves Salinas-A's folds empty)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="out/recipe_selection")
    args = p.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    rows = []
    for name in args.scenes:
        scene = load_scene(name)
        for protocol in args.splits:
            for seed in args.seeds:
                for candidate in args.candidates:
                    t0 = time.time()
                    result = run_cell(args, scene, protocol, seed, candidate)
                    rows.append(
                        {"scene": name, "protocol": protocol, "seed": seed, "candidate": candidate}
                        | result
                    )
                    print(
                        f"{name} {protocol} seed {seed} {candidate}: val OA "
                        f"{result['oa'] * 100:.2f} ({result['pixels']} px, "
                        f"{time.time() - t0:.0f} s)",
                        flush=True,
                    )
    meta = {
        "model": args.model,
        "folds": args.folds,
        "epochs": args.epochs,
        "patience": args.patience,
        "seeds": args.seeds,
        "threads": args.threads,
        "fold_guard": args.fold_guard,
        "command": "python benchmarks/select_recipe.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "wall_seconds": time.time() - started,
    }
    summary = summarise(rows)
    out = Path(args.out)
    atomic_write_json(out / "selection.json", {"meta": meta, "rows": rows, "summary": summary})
    atomic_write_text(out / "selection.md", format_table(summary, meta))
    print(format_table(summary, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
