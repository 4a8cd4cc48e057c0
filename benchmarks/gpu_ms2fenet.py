"""GPU epoch time, inference throughput and utilisation of MS²FENet, fp32 vs bf16.

Runs the real training path (``mssfe.training.trainer.train`` with ``--device cuda``) on the
simulated stand-ins IndianPines-sim (random 10%) and PaviaU-sim (random 1%), or on the real
scenes with ``--real`` where their cubes are present. Epoch time is the median of epochs 2..N
(epoch 1 includes CUDA warm-up); inference pixels/s is the test-set throughput at batch 256;
utilisation is sampled with NVML every 50 ms during training.

    python benchmarks/gpu_ms2fenet.py --epochs 6 --out results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# the sampler of the device-resident benchmark beside this file (NVML, else nvidia-smi)
from gpu_resident import UtilisationSampler

from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.record import machine, package_versions
from mssfe.training.rundir import RunDir
from mssfe.training.trainer import train

CASES = (("IndianPines-sim", "random:0.1"), ("PaviaU-sim", "random:0.01"))


def measure(scene: str, split: str, precision: str, epochs: int, workdir: Path) -> dict[str, Any]:
    config = RunConfig(
        model="ms2fenet",
        data=DataConfig(scene=scene, split=split),
        optim=OptimConfig(max_epochs=epochs, patience=epochs + 1),
        runtime=RuntimeConfig(device="cuda", precision=precision, progress=False),
        seed=0,
    )
    run_dir = workdir / f"{scene}-{precision}"
    with UtilisationSampler(torch.device("cuda", torch.cuda.current_device())) as sampler:
        t0 = time.perf_counter()
        result = train(config, run_dir)
        wall = time.perf_counter() - t0
    run = RunDir(run_dir)
    log, metrics = run.read_log(), run.read_metrics()
    steady = [e.seconds for e in log[1:]] or [log[0].seconds]
    return {
        "scene": scene,
        "split": split,
        "precision": precision,
        "epochs": len(log),
        "n_train": metrics.n_train,
        "epoch_seconds_median": statistics.median(steady),
        "train_samples_per_s": metrics.n_train / statistics.median(steady),
        "test_pixels_per_s": result.test_pixels_per_s,
        "n_test": metrics.n_test,
        "gpu_utilisation_mean_pct": sampler.mean,
        "oa_after_epochs": result.metrics.oa,
        "wall_seconds": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default="gpu_results.json")
    parser.add_argument(
        "--real", action="store_true", help="real IndianPines/PaviaU (cubes must be present)"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 0
    cases = [(s.removesuffix("-sim"), p) for s, p in CASES] if args.real else list(CASES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scene, split in cases:
            for precision in ("32", "bf16"):
                row = measure(scene, split, precision, args.epochs, Path(tmp))
                rows.append(row)
                print(json.dumps(row))
    out = {
        "card": torch.cuda.get_device_name(0),
        "machine": machine(),
        "packages": package_versions(),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"card: {out['card']}")
    print(
        "| scene | precision | epoch s (median 2..N) | train samples/s | test px/s (batch 256) | GPU util % |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        util = (
            "n/a"
            if r["gpu_utilisation_mean_pct"] is None
            else f"{r['gpu_utilisation_mean_pct']:.0f}"
        )
        print(
            f"| {r['scene']} | {r['precision']} | {r['epoch_seconds_median']:.3f} | {r['train_samples_per_s']:,.0f} "
            f"| {r['test_pixels_per_s']:,.0f} | {util} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
