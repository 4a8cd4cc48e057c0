"""After the tables: how right were a finished run's confident predictions on its SSL pool?

A diagnosis, not a selection protocol: it reads the ground truth of the pool pixels (test
pixels included) of runs whose test numbers are already in a committed table, to explain a
result (e.g. why a network does not gain from the semi-supervised part on a disjoint split),
never to choose a setting. FixMatch-style training learns each pool pixel's confident
prediction; where those are wrong it teaches the errors back (confirmation bias).

For each run: predict every pixel of its scene without TTA (the run's final weights, the
teacher's for a weight-averaged recipe), take the transductive pool (every pixel neither
trained nor validated on) and report, over its labelled pixels, the share predicted with
confidence >= the recipe's threshold, the accuracy of those, and the share of the pool that is
confidently wrong; and the confident share of the pool's unlabelled pixels.

    python benchmarks/ssl_pool_diagnosis.py RUN_DIR [RUN_DIR ...] --out FILE.md
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from mssfe.data.splits import unlabelled_pool
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import RunDir
from mssfe.utils.atomic import atomic_write_text
from mssfe.workflows.predict import load_run, predict_scene


def diagnose(run_dir: Path) -> dict[str, object]:
    """One row: the run's pool statistics (see the module docstring)."""
    loaded = load_run(run_dir)  # reads the config once; the split from the same run
    config = loaded.config
    scene = load_scene_for(config)
    split = RunDir(run_dir).read_split()
    threshold = config.recipe.ssl_threshold
    result = predict_scene([loaded], scene.cube, tta=False, progress=False)
    labels = scene.labels.ravel()
    pool = unlabelled_pool(split, scene.labels, "transductive", loaded.patch_size)
    predicted = result.class_map.ravel()[pool]
    confident = result.confidence.ravel()[pool] >= threshold
    truth = labels[pool]
    labelled = truth > 0
    right = predicted == truth
    test = np.isin(pool, split.test)
    return {
        "run": "/".join(run_dir.resolve().parts[-2:]),
        "seed": config.seed,
        "pool": int(pool.size),
        "labelled": int(labelled.sum()),
        "confident_labelled_%": 100 * float(confident[labelled].mean()),
        "confident_accuracy_%": _percent(right[labelled & confident]),
        "confidently_wrong_%": 100 * float((confident & ~right)[labelled].mean()),
        "pool_accuracy_%": 100 * float(right[labelled].mean()),
        "test_accuracy_%": 100 * float(right[test].mean()),
        "confident_unlabelled_%": _percent(confident[~labelled]),
    }


def _percent(flags: np.ndarray) -> float:
    """Share of True in percent (NaN for no pixel, not a warning)."""
    return 100 * float(flags.mean()) if flags.size else float("nan")


COLUMNS = [
    ("run", "run"),
    ("seed", "seed"),
    ("pool", "pool px"),
    ("labelled", "labelled"),
    ("confident_labelled_%", "confident %"),
    ("confident_accuracy_%", "acc. of confident %"),
    ("confidently_wrong_%", "confidently wrong %"),
    ("pool_accuracy_%", "pool acc. %"),
    ("test_accuracy_%", "test px acc. %"),
    ("confident_unlabelled_%", "unlabelled confident %"),
]


def format_table(rows: list[dict[str, object]], argv: list[str]) -> str:
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [
        "# SSL pool diagnosis (reads pool ground truth: a diagnosis after the tables, "
        "never a choice)",
        "",
        f"Command: `python benchmarks/ssl_pool_diagnosis.py {shlex.join(argv)}`  ",
        f"Machine: {platform.node()} ({platform.processor() or platform.machine()}), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. No TTA; confident = max "
        "probability >= the run's ssl_threshold.",
        "",
        head,
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    p.add_argument("--out", type=Path, required=True, help="markdown table to write")
    args = p.parse_args(argv)
    rows = []
    for run_dir in args.runs:
        row = diagnose(run_dir)
        print(
            f"{run_dir}: confident {row['confident_labelled_%']:.1f}% of labelled pool, "
            f"{row['confident_accuracy_%']:.1f}% right; test {row['test_accuracy_%']:.2f}",
            flush=True,
        )
        rows.append(row)
    atomic_write_text(args.out, format_table(rows, argv))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
