"""How separable are a scene's training pixels under each input scaling? Seconds, no test pixel.

The diagnostic behind the ``input_scale`` recipe part (``docs/recipes.md``): for every seed the
benchmark's split is made and its *training* pixels (train + validation) are cut into the same
stratified folds as ``select_recipe.py``; two pixel classifiers (an RBF-SVM with fixed C=100,
gamma="scale", and 1-nearest-neighbour) are fitted on all folds but one and predict the held-out
fold, on four inputs: the raw bands standardised, PCA-k with each component standardised (the
authors' network input), and PCA-k with one common scale (``input_scale = "global"``). A
pixel classifier is a cheap probe of what the network's input keeps apart; the split's test
pixels are never read.

    python benchmarks/input_scale.py --scene SalinasA --split random:5 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from mssfe.data.preprocess import fit_preprocessor
from mssfe.data.scenes import load_scene
from mssfe.data.splits import make_split, validation_folds
from mssfe.training.record import machine
from mssfe.utils.atomic import atomic_write_text

INPUTS = ("bands", "pca-component", "pca-global")


def features(cube: np.ndarray, train: np.ndarray, kind: str, k: int, seed: int) -> np.ndarray:
    """Every pixel's input of the given kind, preprocessed from the training pixels only."""
    n_components = None if kind == "bands" else k
    scale = "global" if kind == "pca-global" else "component"
    prep = fit_preprocessor(cube, train, n_components=n_components, seed=seed, scale=scale)
    return prep.transform(cube).reshape(-1, prep.n_outputs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", default="SalinasA")
    p.add_argument("--split", default="random:5")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--components", type=int, default=30)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--patch", type=int, default=15, help="guard patch of a disjoint split")
    p.add_argument("--out", help="write the table here (Markdown) and beside it a .json")
    args = p.parse_args(argv)
    scene = load_scene(args.scene)
    cube = np.asarray(scene.require_cube())
    labels = scene.labels.reshape(-1)
    results: dict[str, list[float]] = {}
    for seed in args.seeds:
        split = make_split(scene.labels, args.split, seed=seed, patch_size=args.patch)
        # folds keep a disjoint split's blocks, not its guard band (select_recipe.py's default)
        folds = validation_folds(split, scene.labels, args.folds, seed=seed, guard=False)
        for fold in folds:
            train, held = np.union1d(fold.train, fold.val), fold.test
            for kind in INPUTS:
                x = features(cube, train, kind, args.components, seed)
                for name, clf in (
                    ("svm", SVC(C=100.0, gamma="scale")),
                    ("1nn", KNeighborsClassifier(1)),
                ):
                    clf.fit(x[train], labels[train])
                    hits = results.setdefault(f"{kind}|{name}|{seed}", [0.0, 0.0])
                    hits[0] += float((clf.predict(x[held]) == labels[held]).sum())
                    hits[1] += held.size
    lines = [
        f"# Input scaling: validation OA of pixel classifiers, {scene.name} "
        f"({'simulated' if scene.simulated else 'real'}), `{args.split}`",
        "",
        f"Held-out folds ({args.folds}) of each seed's training pixels, pooled per seed; "
        f"PCA-{args.components} fitted on the scene's pixels (no labels). Seeds {args.seeds}. "
        f"No test pixel is read. Machine: {machine()['processor']}.",
        "",
        "| input | classifier | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |",
        "|---|---|" + "---|" * (len(args.seeds) + 1),
    ]
    table = {}
    for kind in INPUTS:
        for name in ("svm", "1nn"):
            oa = [
                100 * results[f"{kind}|{name}|{s}"][0] / results[f"{kind}|{name}|{s}"][1]
                for s in args.seeds
            ]
            table[f"{kind}|{name}"] = oa
            lines.append(
                f"| {kind} | {name} | "
                + " | ".join(f"{v:.2f}" for v in oa)
                + f" | {np.mean(oa):.2f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        atomic_write_text(
            out,
            text + f"\nCommand: `python benchmarks/input_scale.py "
            f"--scene {args.scene} --split {args.split} --seeds "
            f"{' '.join(map(str, args.seeds))}`\n",
        )
        atomic_write_text(out.with_suffix(".json"), json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
