"""The training loop: split, preprocess, train with early stopping, checkpoint, evaluate.

Every choice (early stopping, the best epoch) uses the validation subset carved from the
training pixels; the test pixels are touched once, after training, to report metrics.
Given a seed the run is deterministic on CPU: the epoch order and the augmentation of each
epoch come from generators seeded by (seed, epoch), so a resumed run replays exactly.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from mssfe.data.patches import PatchDataset, augment_batch
from mssfe.data.scenes import Scene
from mssfe.errors import ConfigError, MssfeError
from mssfe.models import Fit, create_model, get_model_spec
from mssfe.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from mssfe.training.classic import train_classic
from mssfe.training.config import ResolvedOptimConfig, ResolvedRunConfig, RunConfig
from mssfe.training.distributed import (
    DistContext,
    check_world,
    init_distributed,
    local_device,
    unwrap,
    wrap_ddp,
)
from mssfe.training.inference import evaluate_loss_acc, evaluate_prepared
from mssfe.training.prepare import PreparedData, load_scene_for, prepare_data, resolve
from mssfe.training.rundir import EpochRecord, RunDir, RunResult, write_metrics
from mssfe.training.runtime import autocast, resolve_device, seed_everything, set_threads


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _batches(n: int, batch_size: int, order: torch.Tensor) -> list[list[int]]:
    chunks = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:  # BatchNorm cannot train on one sample
        chunks[-2].extend(chunks.pop())
    return chunks


def _make_optimizer(model: nn.Module, o: ResolvedOptimConfig) -> torch.optim.Optimizer:
    """The optimiser ``o`` names (checked when the config was made), with its values as given."""
    params = model.parameters()
    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=0.9, weight_decay=o.weight_decay)
    optimizer = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
    return optimizer(params, lr=o.lr, weight_decay=o.weight_decay)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, o: ResolvedOptimConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    if o.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=o.max_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


class _StopRequested(Exception):
    """Raised by a test hook to simulate an interruption after an epoch."""


LOSS_MIN_DELTA = 1e-3


def _better(score: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Higher validation accuracy wins; at equal accuracy, a validation loss lower by at least
    ``LOSS_MIN_DELTA`` wins (without that margin a perfect-accuracy run whose loss creeps down
    forever would never stop early)."""
    if best is None:
        return True
    return score[0] > best[0] or (score[0] == best[0] and score[1] < best[1] - LOSS_MIN_DELTA)


@dataclass
class _Loop:
    """The mutable pieces of one training run (model, optimiser, progress state)."""

    config: ResolvedRunConfig
    run: RunDir
    data: PreparedData
    model: nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    ctx: DistContext
    state: dict[str, Any]

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(),
            **self.state,
        }

    def restore(self, ck: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        restore_rng_state(ck["rng"])
        self.state = {k: ck[k] for k in self.state}


def _new_state() -> dict[str, Any]:
    return {"epoch": 0, "best_score": None, "best_epoch": 0, "bad_epochs": 0, "train_seconds": 0.0}


class _EpochBatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The global batches of one epoch, cut and augmented; item ``i`` is batch ``i``.

    Each batch's augmentation draws from a generator seeded by (seed, epoch, batch), so the
    batches are the same whether DataLoader workers or the main process build them.
    """

    def __init__(
        self, dataset: PatchDataset, batches: list[list[int]], seed: int, epoch: int, augment: bool
    ) -> None:
        self.dataset, self.batches = dataset, batches
        self.seed, self.epoch, self.augment = seed, epoch, augment

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.dataset.get_batch(self.batches[i])
        if self.augment:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 100_003 + i)
            x = augment_batch(x, gen)
        return x, y


def data_workers(requested: int | None, device: torch.device) -> int:
    """DataLoader workers: as asked, else none on CPU (cutting patches is <5% of an epoch there,
    benchmarks/results/speed_ms2fenet.md) and up to 4 on a GPU, whose steps wait on the data."""
    if requested is not None:  # checked (>= 0) when the config was made
        return requested
    return 0 if device.type == "cpu" else min(4, max(1, (os.cpu_count() or 2) // 2))


def _train_epoch(loop: _Loop, train_ds: PatchDataset, epoch: int) -> tuple[float, float]:
    """One pass over the training pixels; returns (mean loss, accuracy) over all ranks.

    Every rank builds the same global batch (same order, same augmentation) and trains on its
    slice; the loss is weighted so DDP's gradient average equals the global-batch gradient.
    """
    cfg, ctx, device = loop.config, loop.ctx, loop.device
    optim = cfg.gradient_optim
    order = torch.randperm(len(train_ds), generator=_epoch_generator(cfg.seed, epoch))
    batches = _batches(len(train_ds), optim.batch_size, order)
    loader = DataLoader(
        _EpochBatches(train_ds, batches, cfg.seed, epoch, optim.augment),
        batch_size=None,  # each item already is a batch
        num_workers=data_workers(cfg.runtime.workers, device),
        pin_memory=device.type == "cuda",
    )
    loss_fn = nn.CrossEntropyLoss()
    loop.model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch, (x, y) in zip(batches, loader, strict=True):
        part = ctx.local_slice(len(batch))
        x, y = x[part].to(device, non_blocking=True), y[part].to(device, non_blocking=True)
        loop.optimizer.zero_grad(set_to_none=True)
        with autocast(device, cfg.runtime.precision):
            logits = loop.model(x)
            loss = loss_fn(logits.float(), y)
        weight = len(y) * ctx.world_size / len(batch)
        loop.scaler.scale(loss * weight).backward()
        loop.scaler.step(loop.optimizer)
        loop.scaler.update()
        total_loss += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    loop.scheduler.step()
    loss_sum, correct_sum, n = ctx.sum([total_loss, float(correct), float(seen)])
    return loss_sum / max(n, 1.0), correct_sum / max(n, 1.0)


def _end_epoch(
    loop: _Loop, epoch: int, seconds: float, metrics: dict[str, float], has_val: bool
) -> None:
    """Early-stopping bookkeeping, the epoch's log line and checkpoints (rank 0 writes)."""
    state = loop.state
    score = (
        (metrics["val_acc"], metrics["val_loss"])
        if has_val
        else (-metrics["loss"], metrics["loss"])
    )
    state["train_seconds"] += seconds
    state["epoch"] = epoch
    improved = _better(score, state["best_score"])
    if improved:
        state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    if not loop.ctx.is_main:
        return
    if improved:
        save_checkpoint(
            loop.run.best_checkpoint, {"model": unwrap(loop.model).state_dict(), "epoch": epoch}
        )
    loop.run.append_log(
        EpochRecord(
            epoch=epoch,
            loss=metrics["loss"],
            train_acc=metrics["train_acc"],
            val_loss=metrics["val_loss"],
            val_acc=metrics["val_acc"],
            lr=loop.optimizer.param_groups[0]["lr"],
            seconds=round(seconds, 4),
        )
    )
    save_checkpoint(loop.run.last_checkpoint, loop.checkpoint_state())


def _start(
    config: RunConfig | ResolvedRunConfig | None, run: RunDir, resume: bool
) -> ResolvedRunConfig:
    if resume:
        if not run.has_config():
            raise MssfeError(f"{run.path}: nothing to resume (no {run.config_file.name})")
        return run.read_config()
    if config is None:
        raise ConfigError("train() needs a config unless resume=True")
    if run.has_checkpoint():
        raise MssfeError(f"{run.path}: already holds a run; use --resume or another --out")
    return resolve(config)


def _prepare_run_dir(
    config: ResolvedRunConfig, run: RunDir, scene: Scene, resume: bool, ctx: DistContext
) -> PreparedData:
    """Split and preprocessing: made fresh (rank 0 saves them) or reloaded on resume."""
    if resume:
        pre = run.read_preprocessor() if run.preprocessor_file.exists() else None
        return prepare_data(config, scene, run.read_split(), pre)
    data = prepare_data(config, scene)
    if ctx.is_main:
        run.start(config, data)
    return data


def train(
    config: RunConfig | ResolvedRunConfig | None,
    run_dir: str | Path,
    *,
    scene: Scene | None = None,
    resume: bool = False,
    stop_after_epoch: int | None = None,
) -> RunResult:
    """Train one (scene, model, split, seed) run into ``run_dir`` and evaluate it on the test set.

    ``resume`` continues from ``run_dir/last.pt`` with the saved config and split and ends with
    the same weights as an uninterrupted run. ``stop_after_epoch`` interrupts on purpose (tests).
    Under torchrun the ranks share the work (see :mod:`mssfe.training.distributed`).
    """
    if config is not None and not resume and get_model_spec(config.model).fit is Fit.ESTIMATOR:
        return train_classic(config, run_dir, scene=scene)
    run = RunDir(Path(run_dir))
    config = _start(config, run, resume)
    optim = config.gradient_optim
    rt = config.runtime
    set_threads(rt.threads)
    seed_everything(config.seed, deterministic=rt.deterministic)
    ctx = init_distributed(resolve_device(rt.device))
    device = local_device(resolve_device(rt.device), ctx)
    check_world(optim.batch_size, ctx)
    scene = scene if scene is not None else load_scene_for(config)
    data = _prepare_run_dir(config, run, scene, resume, ctx)
    model = create_model(
        config.model, n_bands=data.features.shape[2], n_classes=scene.n_classes, **config.model_args
    ).to(device)
    model = wrap_ddp(model, device, ctx)  # before the optimiser: it replaces batch-norm layers
    optimizer = _make_optimizer(model, optim)
    loop = _Loop(
        config,
        run,
        data,
        model,
        optimizer,
        _make_scheduler(optimizer, optim),
        torch.amp.GradScaler(device.type, enabled=rt.precision == "16"),
        device,
        ctx,
        _new_state(),
    )
    if resume and run.has_checkpoint():
        loop.restore(load_checkpoint(run.last_checkpoint, map_location=device))
    if resume and ctx.is_main:  # drop log lines of an epoch whose checkpoint was never written
        run.truncate_log(loop.state["epoch"])
    _run_epochs(loop, stop_after_epoch)
    ctx.barrier()  # rank 0 has written best.pt
    return _finish(loop)


def _run_epochs(loop: _Loop, stop_after_epoch: int | None) -> None:
    config, state = loop.config, loop.state
    train_ds, val_ds = loop.data.dataset("train"), loop.data.dataset("val")
    max_epochs, patience = config.gradient_optim.max_epochs, config.gradient_optim.patience
    bar = tqdm(
        total=max_epochs,
        initial=state["epoch"],
        desc=f"{loop.data.scene.name} {config.model} seed {config.seed}",
        disable=not (config.runtime.progress and loop.ctx.is_main),
        unit="epoch",
        leave=False,
    )
    with bar:
        while state["epoch"] < max_epochs and state["bad_epochs"] < patience:
            epoch = state["epoch"] + 1
            t0 = time.perf_counter()
            train_loss, train_acc = _train_epoch(loop, train_ds, epoch)
            val_loss, val_acc = evaluate_loss_acc(
                loop.model, val_ds, loop.device, config.runtime.precision, loop.ctx
            )
            metrics = {
                "loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
            }
            _end_epoch(loop, epoch, time.perf_counter() - t0, metrics, has_val=len(val_ds) > 0)
            bar.update(1)
            bar.set_postfix(
                loss=f"{train_loss:.3f}", train=f"{train_acc:.3f}", val=f"{val_acc:.3f}"
            )
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                raise _StopRequested(f"stopped after epoch {epoch}")


def _finish(loop: _Loop) -> RunResult:
    state = loop.state
    best = load_checkpoint(loop.run.best_checkpoint, map_location=loop.device)
    model = unwrap(loop.model)
    model.load_state_dict(best["model"])
    metrics, pixels_per_s = evaluate_prepared(
        model, loop.data, loop.device, loop.config.runtime.precision, loop.ctx
    )
    if loop.ctx.is_main:
        write_metrics(
            loop.run,
            loop.config,
            loop.data,
            metrics,
            best_epoch=state["best_epoch"],
            epochs=state["epoch"],
            train_seconds=state["train_seconds"],
            test_pixels_per_s=pixels_per_s,
            world_size=loop.ctx.world_size,
        )
    return RunResult(
        loop.run.path,
        metrics,
        int(state["best_epoch"]),
        int(state["epoch"]),
        float(state["train_seconds"]),
        pixels_per_s,
    )


def run_or_resume(
    config: RunConfig | ResolvedRunConfig, run_dir: str | Path, *, scene: Scene | None = None
) -> RunResult:
    """Train ``run_dir`` unless it has finished: kept if finished, resumed if interrupted."""
    run = RunDir(Path(run_dir))
    if run.has_config():
        run.check_same_config(config)
    if run.is_finished():
        return run.load_result()
    resume = run.has_checkpoint()
    return train(None if resume else config, run.path, scene=scene, resume=resume)
