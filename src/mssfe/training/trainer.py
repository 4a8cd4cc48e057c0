"""The training loop: split, preprocess, train with early stopping, checkpoint, evaluate.

Every choice (early stopping, the best epoch) uses the validation subset carved from the
training pixels; the test pixels are touched once, after training, to report metrics.
Given a seed the run is deterministic on CPU: the epoch order and the augmentation of each
epoch come from generators seeded by (seed, epoch), so a resumed run replays exactly.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mssfe.data.patches import PatchDataset
from mssfe.data.preprocess import Preprocessor
from mssfe.data.scenes import Scene
from mssfe.data.splits import Split
from mssfe.errors import ConfigError, MssfeError
from mssfe.models import create_model, get_model_spec
from mssfe.training.averaging import WeightAverage
from mssfe.training.batches import (
    BatchPlan,
    EpochBatches,
    TrainBatch,
    balanced_order,
    cut_batches,
    epoch_generator,
)
from mssfe.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from mssfe.training.classic import train_classic
from mssfe.training.config import (
    RunConfig,
    config_to_toml,
    load_config,
)
from mssfe.training.distributed import (
    DistContext,
    check_world,
    init_distributed,
    launched_rank,
    local_device,
    unwrap,
    wrap_ddp,
)
from mssfe.training.inference import evaluate_loss_acc, evaluate_prepared
from mssfe.training.prepare import PreparedData, load_scene_for, prepare_data, resolve
from mssfe.training.recipes import recipe_record
from mssfe.training.rundir import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    LAST_CHECKPOINT,
    LOG_FILE,
    METRICS_FILE,
    PREPROCESSOR_FILE,
    SPLIT_FILE,
    RunResult,
    append_log,
    check_same_config,
    load_result,
    truncate_log,
    write_metrics,
)
from mssfe.training.runtime import autocast, resolve_device, seed_everything, set_threads
from mssfe.utils.atomic import atomic_write_text, ensure_dir
from mssfe.utils.lock import directory_lock


def _make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    o = config.optim
    name = (o.optimizer or "adam").lower()
    params = model.parameters()
    if name == "adam":
        return torch.optim.Adam(params, lr=o.lr or 1e-3, weight_decay=o.weight_decay or 0.0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr or 1e-3, weight_decay=o.weight_decay or 0.0)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr or 1e-2, momentum=0.9, weight_decay=o.weight_decay or 0.0
        )
    raise ConfigError(f"optim.optimizer: expected adam, adamw or sgd, got {name!r}")


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: RunConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    name = (config.optim.scheduler or "none").lower()
    if name == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, config.optim.max_epochs or 1)
        )
    raise ConfigError(f"optim.scheduler: expected none or cosine, got {name!r}")


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

    config: RunConfig  # resolved: every optimiser value and recipe part filled in
    run_dir: Path
    data: PreparedData
    model: nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    ctx: DistContext
    state: dict[str, Any]
    average: WeightAverage | None = None  # recipe.ema > 0

    def evaluated(self) -> nn.Module:
        """The network that is validated, saved as best.pt and tested: the weight average
        when the recipe keeps one, else the trained network itself (unwrapped)."""
        return self.average.model if self.average is not None else unwrap(self.model)

    def checkpoint_state(self) -> dict[str, Any]:
        extra = {"average": self.average.state_dict()} if self.average is not None else {}
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(),
            **extra,
            **self.state,
        }

    def restore(self, ck: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        if self.average is not None:
            self.average.load_state_dict(ck["average"])
        restore_rng_state(ck["rng"])
        self.state = {k: ck[k] for k in self.state}


def _new_state() -> dict[str, Any]:
    return {"epoch": 0, "best_score": None, "best_epoch": 0, "bad_epochs": 0, "train_seconds": 0.0}


def data_workers(requested: int | None, device: torch.device) -> int:
    """DataLoader workers: as asked, else none on CPU (cutting patches is <5% of an epoch there,
    benchmarks/results/speed_ms2fenet.md) and up to 4 on a GPU, whose steps wait on the data."""
    if requested is not None:
        if requested < 0:
            raise ConfigError(f"runtime.workers: expected >= 0, got {requested}")
        return requested
    return 0 if device.type == "cpu" else min(4, max(1, (os.cpu_count() or 2) // 2))


def _batch_plan(config: RunConfig, data: PreparedData) -> BatchPlan:
    """Augmentation and unlabelled pixels of the training batches, from the resolved recipe."""
    r = config.recipe
    ssl = r.ssl or "none"
    needs_scale = bool(r.spectral_augment) or ssl != "none"
    return BatchPlan(
        dihedral=bool(config.optim.augment),
        spectral=float(r.spectral_augment or 0.0),
        mix=float(r.mix or 0.0),
        band_scale=torch.from_numpy(data.band_scale) if needs_scale else None,
        unlabelled=None if ssl == "none" else data.unlabelled(ssl),  # type: ignore[arg-type]
        ssl_ratio=float(r.ssl_ratio or 0.0),
    )


def _epoch_order(config: RunConfig, train_ds: PatchDataset, epoch: int) -> torch.Tensor:
    """The epoch's order of training positions: a permutation, or class-balanced draws."""
    gen = epoch_generator(config.seed, epoch)
    if config.recipe.class_balance == "sampler" and train_ds.targets is not None:
        return balanced_order(train_ds.targets, gen)
    return torch.randperm(len(train_ds), generator=gen)


def class_weights(targets: np.ndarray, n_classes: int) -> torch.Tensor:
    """``(K,)`` loss weights inverse to each class's training pixels (mean 1 over the classes
    present; an absent class weighs 0), so every class counts alike in the loss."""
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.from_numpy(weights).float()


@dataclass
class _StepLoss:
    """Sums over one epoch's steps, reduced over ranks at its end."""

    loss: float = 0.0
    correct: float = 0.0
    seen: float = 0.0
    confident: float = 0.0  # unlabelled patches whose pseudo-label passed the threshold
    unlabelled: float = 0.0


def _labelled_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    y_global: torch.Tensor,
    weights: torch.Tensor | None,
    world_size: int,
) -> torch.Tensor:
    """Cross-entropy of this rank's slice, scaled so that DDP's gradient average equals the
    gradient of the global batch's (class-weighted) mean."""
    if weights is None:
        return F.cross_entropy(logits.float(), y) * (len(y) * world_size / len(y_global))
    w = weights.to(logits.device)
    local, total = float(w[y].sum()), float(weights[y_global].sum())
    return F.cross_entropy(logits.float(), y, weight=w) * (local * world_size / max(total, 1e-12))


def _pseudo_labels(
    teacher: nn.Module, weak: torch.Tensor, threshold: float, loop: _Loop
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's classes ``(U,)`` of the weak views and which are confident ``(U,)``."""
    teacher.eval()
    with torch.no_grad(), autocast(loop.device, loop.config.runtime.precision):
        probs = torch.softmax(teacher(weak).float(), dim=1)
    confidence, labels = probs.max(dim=1)
    return labels, confidence >= threshold


def _train_step(
    loop: _Loop, batch: TrainBatch, weights: torch.Tensor | None, sums: _StepLoss
) -> None:
    """One optimiser step on this rank's slice of a global batch (labelled, then unlabelled)."""
    cfg, ctx, device = loop.config, loop.ctx, loop.device
    part = ctx.local_slice(len(batch.y))
    x = batch.x[part].to(device, non_blocking=True)
    y = batch.y[part].to(device, non_blocking=True)
    teacher_out = None
    if batch.weak is not None and batch.strong is not None:
        upart = ctx.local_slice(len(batch.weak))
        teacher = loop.evaluated()
        was_training = teacher.training
        threshold = cfg.recipe.ssl_threshold
        teacher_out = _pseudo_labels(
            teacher, batch.weak[upart].to(device), 1.0 if threshold is None else threshold, loop
        )
        teacher.train(was_training)
        x = torch.cat([x, batch.strong[upart].to(device)])
    loop.optimizer.zero_grad(set_to_none=True)
    with autocast(device, cfg.runtime.precision):
        all_logits = loop.model(x)
    logits = all_logits[: len(y)]
    total = _labelled_loss(logits, y, batch.y, weights, ctx.world_size)
    if teacher_out is not None and batch.weak is not None:
        pseudo, confident = teacher_out
        per_pixel = F.cross_entropy(all_logits[len(y) :].float(), pseudo, reduction="none")
        unlabelled = (per_pixel * confident).sum() / len(batch.weak)  # over the global batch
        total = total + float(cfg.recipe.ssl_weight or 0.0) * unlabelled * ctx.world_size
        sums.confident += float(confident.sum())
        sums.unlabelled += len(pseudo)
    loop.scaler.scale(total).backward()
    loop.scaler.step(loop.optimizer)
    loop.scaler.update()
    if loop.average is not None:
        loop.average.update(unwrap(loop.model))
    sums.loss += float(F.cross_entropy(logits.detach().float(), y)) * len(y)
    sums.correct += int((logits.argmax(1) == y).sum())
    sums.seen += len(y)


def _train_epoch(loop: _Loop, train_ds: PatchDataset, epoch: int) -> dict[str, float]:
    """One pass over the training pixels; returns the mean loss and accuracy over all ranks
    (and, with SSL, the share of unlabelled patches that got a confident pseudo-label).

    Every rank builds the same global batch (same order, same augmentation, same unlabelled
    pixels) and trains on its slice; the losses are weighted so DDP's gradient average equals
    the global-batch gradient.
    """
    cfg, device = loop.config, loop.device
    order = _epoch_order(cfg, train_ds, epoch)
    batches = cut_batches(len(order), int(cfg.optim.batch_size or 64), order)
    plan = _batch_plan(cfg, loop.data)
    loader = DataLoader(
        EpochBatches(train_ds, batches, cfg.seed, epoch, plan),
        batch_size=None,  # each item already is a batch
        num_workers=data_workers(cfg.runtime.workers, device),
        pin_memory=device.type == "cuda",
    )
    weights = None
    if cfg.recipe.class_balance == "loss" and train_ds.targets is not None:
        weights = class_weights(train_ds.targets, loop.data.scene.n_classes)
    loop.model.train()
    sums = _StepLoss()
    for batch in loader:
        _train_step(loop, batch, weights, sums)
    loop.scheduler.step()
    loss, correct, seen, confident, unlabelled = loop.ctx.sum(
        [sums.loss, sums.correct, sums.seen, sums.confident, sums.unlabelled]
    )
    out = {"loss": loss / max(seen, 1.0), "train_acc": correct / max(seen, 1.0)}
    if plan.unlabelled is not None:
        out["ssl_confident"] = confident / max(unlabelled, 1.0)
    return out


def _end_epoch(
    loop: _Loop, epoch: int, seconds: float, metrics: dict[str, float], has_val: bool
) -> None:
    """Early-stopping bookkeeping, the epoch's log line and checkpoints (rank 0 writes).

    Selection ``last`` keeps the last epoch's network: best.pt is written at the last epoch.
    """
    state = loop.state
    state["train_seconds"] += seconds
    state["epoch"] = epoch
    if loop.config.recipe.selection == "last":
        improved = epoch >= int(loop.config.optim.max_epochs or 1)
    else:
        score = (
            (metrics["val_acc"], metrics["val_loss"])
            if has_val
            else (-metrics["loss"], metrics["loss"])
        )
        improved = _better(score, state["best_score"])
        if improved:
            state["best_score"] = score
    if improved:
        state.update(best_epoch=epoch, bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    if not loop.ctx.is_main:
        return
    if improved:
        save_checkpoint(
            loop.run_dir / BEST_CHECKPOINT,
            {"model": loop.evaluated().state_dict(), "epoch": epoch},
        )
    entry = {
        "epoch": epoch,
        **metrics,
        "lr": loop.optimizer.param_groups[0]["lr"],
        "seconds": round(seconds, 4),
    }
    append_log(loop.run_dir / LOG_FILE, entry)
    save_checkpoint(loop.run_dir / LAST_CHECKPOINT, loop.checkpoint_state())


def _start(config: RunConfig | None, run_dir: Path, resume: bool) -> RunConfig:
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise MssfeError(f"{run_dir}: nothing to resume (no {CONFIG_FILE})")
        return resolve(load_config(run_dir / CONFIG_FILE))  # no [recipe] table: paper
    if config is None:
        raise ConfigError("train() needs a config unless resume=True")
    if (run_dir / LAST_CHECKPOINT).exists():
        raise MssfeError(f"{run_dir}: already holds a run; use --resume or another --out")
    return resolve(config)


def _prepare_run_dir(
    config: RunConfig, run_dir: Path, scene: Scene, resume: bool, ctx: DistContext
) -> PreparedData:
    """Split and preprocessing: made fresh (rank 0 saves them) or reloaded on resume."""
    if resume:
        pre_path = run_dir / PREPROCESSOR_FILE
        pre = Preprocessor.load(pre_path) if pre_path.exists() else None
        return prepare_data(config, scene, Split.load(run_dir / SPLIT_FILE), pre)
    data = prepare_data(config, scene)
    if ctx.is_main:
        ensure_dir(run_dir)
        atomic_write_text(run_dir / CONFIG_FILE, config_to_toml(config))
        data.split.save(run_dir / SPLIT_FILE)
        data.preprocessor.save(run_dir / PREPROCESSOR_FILE)
        (run_dir / LOG_FILE).unlink(missing_ok=True)
    return data


def train(
    config: RunConfig | None,
    run_dir: str | Path,
    *,
    scene: Scene | None = None,
    resume: bool = False,
    stop_after_epoch: int | None = None,
) -> RunResult:
    """Train one (scene, model, split, seed) run into ``run_dir`` and evaluate it on the test set.

    ``resume`` continues from ``run_dir/last.pt`` with the saved config and split and ends with
    the same weights as an uninterrupted run. ``stop_after_epoch`` interrupts on purpose (tests).
    Under torchrun the ranks share the work (see :mod:`mssfe.training.distributed`). The run
    directory is locked for the whole run (rank 0 holds the lock): a second writer is refused.
    """
    main_rank = launched_rank() == 0
    with directory_lock(run_dir, "run directory") if main_rank else contextlib.nullcontext():
        return _train(
            config, run_dir, scene=scene, resume=resume, stop_after_epoch=stop_after_epoch
        )


def _train(
    config: RunConfig | None,
    run_dir: str | Path,
    *,
    scene: Scene | None,
    resume: bool,
    stop_after_epoch: int | None,
) -> RunResult:
    if config is not None and not resume and get_model_spec(config.model).kind == "sklearn":
        return train_classic(config, run_dir, scene=scene)
    run_dir = Path(run_dir)
    config = _start(config, run_dir, resume)
    rt = config.runtime
    set_threads(rt.threads)
    seed_everything(config.seed, deterministic=rt.deterministic)
    ctx = init_distributed(resolve_device(rt.device))
    device = local_device(resolve_device(rt.device), ctx)
    check_world(int(config.optim.batch_size or 64), ctx)
    scene = scene if scene is not None else load_scene_for(config)
    data = _prepare_run_dir(config, run_dir, scene, resume, ctx)
    model = create_model(
        config.model, n_bands=data.features.shape[2], n_classes=scene.n_classes, **config.model_args
    ).to(device)
    model = wrap_ddp(model, device, ctx)  # before the optimiser: it replaces batch-norm layers
    optimizer = _make_optimizer(model, config)
    ema = float(config.recipe.ema or 0.0)
    loop = _Loop(
        config,
        run_dir,
        data,
        model,
        optimizer,
        _make_scheduler(optimizer, config),
        torch.amp.GradScaler(device.type, enabled=rt.precision == "16"),
        device,
        ctx,
        _new_state(),
        WeightAverage(unwrap(model), ema) if ema > 0 else None,
    )
    if resume and (run_dir / LAST_CHECKPOINT).exists():
        loop.restore(load_checkpoint(run_dir / LAST_CHECKPOINT, map_location=device))
    if resume and ctx.is_main:  # drop log lines of an epoch whose checkpoint was never written
        truncate_log(run_dir / LOG_FILE, loop.state["epoch"])
    _run_epochs(loop, stop_after_epoch)
    ctx.barrier()  # rank 0 has written best.pt
    return _finish(loop)


def _run_epochs(loop: _Loop, stop_after_epoch: int | None) -> None:
    config, state = loop.config, loop.state
    train_ds, val_ds = loop.data.dataset("train"), loop.data.dataset("val")
    max_epochs = int(config.optim.max_epochs or 1)
    patience = int(config.optim.patience or max_epochs)
    if config.recipe.selection == "last":  # a fixed schedule: no early stopping
        patience = max_epochs + 1
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
            metrics = _train_epoch(loop, train_ds, epoch)
            val_loss, val_acc = evaluate_loss_acc(
                loop.evaluated(), val_ds, loop.device, config.runtime.precision, loop.ctx
            )
            metrics = {
                "loss": metrics["loss"],
                "train_acc": metrics["train_acc"],
                "val_loss": val_loss,
                "val_acc": val_acc,
                **{k: v for k, v in metrics.items() if k not in ("loss", "train_acc")},
            }
            _end_epoch(loop, epoch, time.perf_counter() - t0, metrics, has_val=len(val_ds) > 0)
            bar.update(1)
            bar.set_postfix(
                loss=f"{metrics['loss']:.3f}",
                train=f"{metrics['train_acc']:.3f}",
                val=f"{val_acc:.3f}",
            )
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                raise _StopRequested(f"stopped after epoch {epoch}")


def _finish(loop: _Loop) -> RunResult:
    state = loop.state
    best = load_checkpoint(loop.run_dir / BEST_CHECKPOINT, map_location=loop.device)
    model = unwrap(loop.model)
    model.load_state_dict(best["model"])
    metrics, pixels_per_s = evaluate_prepared(
        model,
        loop.data,
        loop.device,
        loop.config.runtime.precision,
        loop.ctx,
        tta=bool(loop.config.recipe.tta),
    )
    if loop.ctx.is_main:
        write_metrics(
            loop.run_dir,
            loop.config,
            loop.data,
            metrics,
            extra={
                "best_epoch": state["best_epoch"],
                "epochs": state["epoch"],
                "train_seconds": state["train_seconds"],
                "test_pixels_per_s": pixels_per_s,
                "world_size": loop.ctx.world_size,
                **recipe_record(loop.config.recipe),
            },
        )
    return RunResult(
        loop.run_dir,
        metrics,
        int(state["best_epoch"]),
        int(state["epoch"]),
        float(state["train_seconds"]),
        pixels_per_s,
    )


def run_or_resume(
    config: RunConfig, run_dir: str | Path, *, scene: Scene | None = None
) -> RunResult:
    """Train ``run_dir`` unless it has finished: kept if finished, resumed if interrupted."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).exists():
        check_same_config(run_dir, config)
    if (run_dir / METRICS_FILE).exists():
        return load_result(run_dir)
    resume = (run_dir / LAST_CHECKPOINT).exists()
    return train(None if resume else config, run_dir, scene=scene, resume=resume)
