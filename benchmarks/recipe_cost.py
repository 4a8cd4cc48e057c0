"""What each part of a training recipe costs: CPU-time multipliers against ``paper``.

On real Salinas-A ``random:5`` (the few-label case the ``mssfe`` recipe is for) MS²FENet
trains a few epochs under ``paper``, under ``paper`` plus one part of ``mssfe`` at a time, and
under the whole ``mssfe``; the variants run interleaved, ``--repeats`` times, in one process,
and each is timed per epoch (training step, validation pass and checkpoints: what an epoch of
``mssfe train`` costs). Test-time augmentation is timed on test pixels, with and without.

    python benchmarks/recipe_cost.py --epochs 6 --repeats 3 --threads 1

A full run's multiplier also depends on the epochs run: ``paper`` stops early, ``mssfe``
runs its whole schedule. ``--paper-epochs`` (default 88.4: MS²FENet's mean on this split,
budget 100 / patience 20, benchmarks/results/issue6/sa_limited) turns the per-epoch ratio
of the whole recipe into an estimate for a full run of ``--budget`` epochs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mssfe.data.scenes import load_scene
from mssfe.data.splits import make_split, subsample_test
from mssfe.models import create_model
from mssfe.training.config import DataConfig, OptimConfig, RecipeConfig, RunConfig, RuntimeConfig
from mssfe.training.inference import predict_dataset
from mssfe.training.prepare import prepare_data, resolve
from mssfe.training.trainer import train

#: (label, recipe): paper, paper plus one part of mssfe, and the whole of mssfe without TTA.
VARIANTS: list[tuple[str, RecipeConfig]] = [
    ("paper", RecipeConfig(name="paper")),
    ("+ fixed schedule on all labels", RecipeConfig(name="paper", selection="last")),
    ("+ weight average", RecipeConfig(name="paper", ema=0.99)),
    ("+ spectral augmentation", RecipeConfig(name="paper", spectral_augment=1.0)),
    ("+ same-class mixing", RecipeConfig(name="paper", mix=0.5)),
    ("+ class-balanced sampler", RecipeConfig(name="paper", class_balance="sampler")),
    ("+ SSL, inductive pool", RecipeConfig(name="paper", ssl="inductive")),
    ("+ SSL, transductive pool", RecipeConfig(name="paper", ssl="transductive")),
    ("mssfe (training)", RecipeConfig(name="mssfe", tta=False)),
]


def _config(split: Path, recipe: RecipeConfig, args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        model="ms2fenet",
        data=DataConfig(scene="SalinasA", split=f"file:{split}"),
        optim=OptimConfig(max_epochs=args.epochs, patience=args.epochs + 1),
        recipe=recipe,
        runtime=RuntimeConfig(progress=False, threads=args.threads),
        seed=0,
    )


def _tta_seconds(args: argparse.Namespace, split_path: Path) -> tuple[float, float]:
    """Seconds to predict the split's test pixels without and with TTA (best of repeats)."""
    scene = load_scene("SalinasA")
    config = resolve(_config(split_path, RecipeConfig(), args))
    data = prepare_data(config, scene)
    model = create_model(
        "ms2fenet", n_bands=data.features.shape[2], n_classes=scene.n_classes
    ).eval()
    test = data.dataset("test")
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for tta in (False, True):
            t0 = time.perf_counter()
            predict_dataset(model, test, torch.device("cpu"), tta=tta)
            times[tta].append(time.perf_counter() - t0)
    return min(times[False]), min(times[True])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--test-pixels", type=int, default=500, help="test pixels timed for TTA")
    p.add_argument("--paper-epochs", type=float, default=88.4)
    p.add_argument("--budget", type=int, default=100)
    args = p.parse_args(argv)
    scene = load_scene("SalinasA")
    split = make_split(scene.labels, "random:5", seed=0)
    per_epoch: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        split_path = Path(tmp) / "split.npz"
        subsample_test(split, scene.labels, args.test_pixels, seed=0).save(split_path)
        for repeat in range(args.repeats):
            for i, (label, recipe) in enumerate(VARIANTS):
                result = train(_config(split_path, recipe, args), Path(tmp) / f"{repeat}_{i}")
                per_epoch[label].append(result.train_seconds / result.epochs)
        plain, with_tta = _tta_seconds(args, split_path)
    base = statistics.median(per_epoch["paper"])
    print(
        f"MS²FENet, Salinas-A random:5 (seed 0), {args.epochs} epochs x {args.repeats} repeats, "
        f"{args.threads} thread(s); median seconds per epoch and ratio to paper\n"
    )
    print("| variant | s / epoch | x paper |\n|---|---|---|")
    for label, _ in VARIANTS:
        median = statistics.median(per_epoch[label])
        print(f"| {label} | {median:.3f} | {median / base:.2f} |")
    whole = statistics.median(per_epoch["mssfe (training)"]) / base
    print(
        f"\nWhole mssfe training, full run: {whole:.2f} x per epoch x {args.budget} / "
        f"{args.paper_epochs} epochs = {whole * args.budget / args.paper_epochs:.2f} x paper"
    )
    print(
        f"Test-time augmentation: {with_tta:.2f} s against {plain:.2f} s for "
        f"{args.test_pixels} test pixels ({with_tta / plain:.2f} x inference)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
