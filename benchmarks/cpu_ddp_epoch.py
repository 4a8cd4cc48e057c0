"""CPU data parallelism: 1 process x 2 threads vs 2 processes x 1 thread (torchrun, gloo).

Trains MS²FENet (authors' layers) for a few epochs on a scene with both layouts, alternating
them ``--repeats`` times in one invocation, and prints the median epoch time (epochs 2..N,
training + validation) of each and their ratio. Same global batch, same result (see
tests/training/test_distributed.py).

    python benchmarks/cpu_ddp_epoch.py --scene IndianPines-sim --split random:0.1 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from mssfe.training.record import machine


def _epoch_seconds(run_root: Path) -> list[float]:
    log = next(run_root.glob("*/*/*/seed0/log.jsonl"))
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return [e["seconds"] for e in entries[1:]] or [entries[0]["seconds"]]


def run(layout: str, args: argparse.Namespace, out: Path) -> list[float]:
    common = [
        "train",
        "--scene",
        args.scene,
        "--model",
        "ms2fenet",
        "--split",
        args.split,
        "--epochs",
        str(args.epochs),
        "--patience",
        str(args.epochs + 1),
        "--no-progress",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    if layout == "1x2":
        cmd = [sys.executable, "-m", "mssfe", *common, "--threads", "2"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "mssfe",
            *common,
            "--threads",
            "1",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "2" if layout == "1x2" else "1"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return _epoch_seconds(out)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scene", default="IndianPines-sim")
    parser.add_argument("--split", default="random:0.1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    m = machine()
    print(
        f"machine: {m['processor']}, {m['cpu_count']} cores, load {os.getloadavg()}, "
        f"python {platform.python_version()}, torch {torch.__version__}"
    )
    times: dict[str, list[float]] = {"1x2": [], "2x1": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for layout in ("1x2", "2x1"):
                times[layout] += run(layout, args, Path(tmp) / f"{layout}-{rep}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"scene {args.scene} (split {args.split}), MS²FENet, global batch 64, {args.epochs} epochs x {args.repeats} repeats"
    )
    print(
        f"1 process x 2 threads : median epoch {med['1x2']:.2f} s  (all: {[round(t, 2) for t in times['1x2']]})"
    )
    print(
        f"2 processes x 1 thread: median epoch {med['2x1']:.2f} s  (all: {[round(t, 2) for t in times['2x1']]})"
    )
    print(
        f"ratio (1x2 / 2x1): {med['1x2'] / med['2x1']:.2f}  (> 1 means the two processes are faster)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
