"""Run by the DDP tests under ``torchrun``: a short training run on the real Salinas-A cube.

usage: torchrun --nproc_per_node N ddp_train.py RUN_DIR [--stop-after E] [--resume] [--recipe R]
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import sys

import torch.distributed as dist

from mssfe.training.config import (
    DataConfig,
    OptimConfig,
    RunConfig,
    RuntimeConfig,
    with_overrides,
)
from mssfe.training.recipes import parse_recipe
from mssfe.training.trainer import _StopRequested, train

CONFIG = RunConfig(
    model="ms2fenet",
    model_args={"patch_size": 9, "n_components": 12},
    data=DataConfig(scene="SalinasA", split="random:10"),
    optim=OptimConfig(max_epochs=3, patience=10, batch_size=16),
    runtime=RuntimeConfig(progress=False, threads=1),
    seed=3,
)


def _report_group_at_exit() -> None:
    # registered before train() joins the group, so it runs after mssfe's own exit hook
    print(f"process group alive at exit: {dist.is_initialized()}", flush=True)


def main() -> int:
    atexit.register(_report_group_at_exit)
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--recipe", default="paper")
    args = parser.parse_args()
    config = with_overrides(CONFIG, {"optim.optimizer": args.optimizer})
    # test-time flips/rotations only multiply the test pass by 8: off, to keep the tests fast
    recipe = dataclasses.replace(parse_recipe(args.recipe), tta=False)  # "mssfe@1" too
    config = dataclasses.replace(config, recipe=recipe)
    try:
        result = train(
            None if args.resume else config,
            args.run_dir,
            resume=args.resume,
            stop_after_epoch=args.stop_after,
        )
    except _StopRequested:
        return 3
    print(f"OA {result.metrics.oa:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
