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
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mssfe.data.device_patches import DevicePatches
from mssfe.data.patches import PatchDataset
from mssfe.data.scenes import Scene
from mssfe.errors import CheckpointError, ConfigError, MssfeError
from mssfe.models import Fit, create_model, get_model_spec
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
from mssfe.training.config import ResolvedOptimConfig, ResolvedRunConfig, RunConfig
from mssfe.training.distributed import (
    DistContext,
    check_world,
    init_distributed,
    launched_rank,
    local_device,
    unwrap,
    wrap_ddp,
)
from mssfe.training.identity import RunIdentity
from mssfe.training.inference import evaluate_loss_acc, evaluate_prepared
from mssfe.training.prepare import PreparedData, load_scene_for, prepare_data, resolve
from mssfe.training.resume import check_checkpoint, check_data, resumed_config, stored_config
from mssfe.training.rundir import EpochRecord, RunDir, RunResult, write_metrics
from mssfe.training.runtime import (
    autocast,
    resolve_device,
    seed_everything,
    set_threads,
    uses_device_data,
)
from mssfe.utils.lock import directory_lock


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


@dataclass(frozen=True)
class _DeviceData:
    """The training pixels with the padded cube on the device, and the batch plan whose
    unlabelled pool and band scale live there too: made once per run (the runtime's
    ``data_on_device``). Validation and test predictions still cut on the host
    (:mod:`mssfe.training.inference`): one pass per epoch, no backward."""

    train: DevicePatches
    plan: BatchPlan


def _device_data(
    config: ResolvedRunConfig, data: PreparedData, device: torch.device
) -> _DeviceData:
    plan = _batch_plan(config, data)
    train = DevicePatches(data.dataset("train"), device)
    host_pool = plan.unlabelled  # the SSL pool over the same padded cube, or None
    pool = train.with_pixels(host_pool) if isinstance(host_pool, PatchDataset) else None
    scale = None if plan.band_scale is None else plan.band_scale.to(device)
    return _DeviceData(train, replace(plan, unlabelled=pool, band_scale=scale))


@dataclass
class _Loop:
    """The mutable pieces of one training run (model, optimiser, progress state)."""

    config: ResolvedRunConfig  # every optimiser value and recipe part filled in
    run: RunDir
    data: PreparedData
    model: nn.Module  # possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    ctx: DistContext
    state: dict[str, Any]
    average: WeightAverage | None = None  # recipe.ema > 0
    device_data: _DeviceData | None = None  # batches cut on the device (runtime.data_on_device)

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
            "identity": RunIdentity.of(self.config, self.data.scene.sources).to_text(),
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
    if requested is not None:  # checked (>= 0) when the config was made
        return requested
    return 0 if device.type == "cpu" else min(4, max(1, (os.cpu_count() or 2) // 2))


def _batch_plan(config: ResolvedRunConfig, data: PreparedData) -> BatchPlan:
    """Augmentation and unlabelled pixels of the training batches, from the resolved recipe."""
    r = config.recipe
    needs_scale = r.spectral_augment > 0 or r.ssl != "none"
    return BatchPlan(
        dihedral=config.gradient_optim.augment,
        spectral=r.spectral_augment,
        mix=r.mix,
        band_scale=torch.from_numpy(data.band_scale) if needs_scale else None,
        unlabelled=None if r.ssl == "none" else data.unlabelled(r.ssl),  # type: ignore[arg-type]
        ssl_ratio=r.ssl_ratio,
    )


def _epoch_order(config: ResolvedRunConfig, train_ds: PatchDataset, epoch: int) -> torch.Tensor:
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
    """Each step's numbers, kept as device tensors and read once at the epoch's end (reading
    one per step would make the host wait for the device at every step); summed in step
    order as Python floats, so the sums are those of reading them step by step."""

    losses: list[torch.Tensor] = field(default_factory=list)  # mean labelled loss of a step
    sizes: list[int] = field(default_factory=list)  # labelled patches of a step
    corrects: list[torch.Tensor] = field(default_factory=list)
    confidents: list[torch.Tensor] = field(default_factory=list)  # pseudo-labels kept
    unlabelled: float = 0.0

    def totals(self) -> list[float]:
        """``[loss sum, correct, seen, confident, unlabelled]`` of this rank's steps."""
        loss = 0.0
        losses = torch.stack(self.losses).tolist() if self.losses else []
        for value, size in zip(losses, self.sizes, strict=True):
            loss += value * size
        correct = sum(torch.stack(self.corrects).tolist()) if self.corrects else 0
        confident = sum(torch.stack(self.confidents).tolist()) if self.confidents else 0
        return [loss, float(correct), float(sum(self.sizes)), float(confident), self.unlabelled]


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
    local, total = float(w[y].sum()), float(weights.to(y_global.device)[y_global].sum())
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
        teacher_out = _pseudo_labels(
            teacher, batch.weak[upart].to(device), cfg.recipe.ssl_threshold, loop
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
        total = total + cfg.recipe.ssl_weight * unlabelled * ctx.world_size
        sums.confidents.append(confident.sum())
        sums.unlabelled += len(pseudo)
    loop.scaler.scale(total).backward()
    loop.scaler.step(loop.optimizer)
    loop.scaler.update()
    if loop.average is not None:
        loop.average.update(unwrap(loop.model))
    sums.losses.append(F.cross_entropy(logits.detach().float(), y))
    sums.corrects.append((logits.argmax(1) == y).sum())
    sums.sizes.append(len(y))


def _train_epoch(loop: _Loop, train_ds: PatchDataset, epoch: int) -> dict[str, float]:
    """One pass over the training pixels; returns the mean loss and accuracy over all ranks
    (and, with SSL, the share of unlabelled patches that got a confident pseudo-label).

    Every rank builds the same global batch (same order, same augmentation, same unlabelled
    pixels) and trains on its slice; the losses are weighted so DDP's gradient average equals
    the global-batch gradient. With ``loop.device_data`` the batches are cut and augmented on
    the device (same order and sampler, same draws on CPU), no DataLoader between.
    """
    cfg, device = loop.config, loop.device
    order = _epoch_order(cfg, train_ds, epoch)
    batches = cut_batches(len(order), cfg.gradient_optim.batch_size, order)
    loader: Iterable[TrainBatch]
    if loop.device_data is not None:
        plan = loop.device_data.plan
        on_device = EpochBatches(loop.device_data.train, batches, cfg.seed, epoch, plan)
        loader = (on_device[i] for i in range(len(on_device)))
    else:
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
    loss, correct, seen, confident, unlabelled = loop.ctx.sum(sums.totals())
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
        improved = epoch >= loop.config.gradient_optim.max_epochs
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
            loop.run.best_checkpoint, {"model": loop.evaluated().state_dict(), "epoch": epoch}
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
            ssl_confident=metrics.get("ssl_confident"),
        )
    )
    save_checkpoint(loop.run.last_checkpoint, loop.checkpoint_state())


def _start(
    config: RunConfig | ResolvedRunConfig | None, run: RunDir, resume: bool
) -> tuple[ResolvedRunConfig, ResolvedRunConfig | None]:
    """The configuration to train with, and on resume the one the run started with.

    A resume checks config.toml against run.json first, and takes ``config``, when given,
    only as far as it extends the stored run (:mod:`mssfe.training.resume`).
    """
    if resume:
        stored = stored_config(run)
        asked = stored if config is None else resumed_config(run, stored, resolve(config))
        return asked, stored
    if config is None:
        raise ConfigError("train() needs a config unless resume=True")
    if run.has_checkpoint():
        raise MssfeError(f"{run.path}: already holds a run; use --resume or another --out")
    return resolve(config), None


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
    Under torchrun the ranks share the work (see :mod:`mssfe.training.distributed`). The run
    directory is locked for the whole run (rank 0 holds the lock): a second writer is refused.
    """
    main_rank = launched_rank() == 0
    with directory_lock(run_dir, "run directory") if main_rank else contextlib.nullcontext():
        return _train(
            config, run_dir, scene=scene, resume=resume, stop_after_epoch=stop_after_epoch
        )


def _train(
    config: RunConfig | ResolvedRunConfig | None,
    run_dir: str | Path,
    *,
    scene: Scene | None,
    resume: bool,
    stop_after_epoch: int | None,
) -> RunResult:
    if config is not None and not resume and get_model_spec(config.model).fit is Fit.ESTIMATOR:
        return train_classic(config, run_dir, scene=scene)
    run = RunDir(Path(run_dir))
    config, stored = _start(config, run, resume)
    optim = config.gradient_optim
    rt = config.runtime
    set_threads(rt.threads)
    seed_everything(config.seed, deterministic=rt.deterministic)
    ctx = init_distributed(resolve_device(rt.device))
    device = local_device(resolve_device(rt.device), ctx)
    check_world(optim.batch_size, ctx)
    scene = scene if scene is not None else load_scene_for(config)
    if resume:
        check_data(run, scene.sources)
    data = _prepare_run_dir(config, run, scene, resume, ctx)
    model = create_model(
        config.model, n_bands=data.features.shape[2], n_classes=scene.n_classes, **config.model_args
    ).to(device)
    model = wrap_ddp(model, device, ctx)  # before the optimiser: it replaces batch-norm layers
    optimizer = _make_optimizer(model, optim)
    ema = config.recipe.ema
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
        WeightAverage(unwrap(model), ema) if ema > 0 else None,
        _device_data(config, data, device) if uses_device_data(rt.data_on_device, device) else None,
    )
    if resume and run.has_checkpoint():
        checkpoint = load_checkpoint(run.last_checkpoint, map_location=device)
        check_checkpoint(run, checkpoint, config, scene.sources)
        _restore(loop, checkpoint)
    if resume and ctx.is_main:  # drop log lines of an epoch whose checkpoint was never written
        for damaged in run.repair_log(loop.state["epoch"]):
            warnings.warn(damaged, stacklevel=2)
        if config != stored:  # resumed with more epochs or other runtime options
            run.record_config(config)
    _run_epochs(loop, stop_after_epoch)
    ctx.barrier()  # rank 0 has written best.pt
    return _finish(loop)


def _restore(loop: _Loop, checkpoint: dict[str, Any]) -> None:
    """Load a checked last.pt into the loop; one that does not fit this network or optimiser
    (a checkpoint written before runs recorded their identity in it) is a CheckpointError."""
    try:
        loop.restore(checkpoint)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines()]
        reason = " ".join(lines[:2])[:200] if lines else repr(exc)  # torch's head and first fault
        raise CheckpointError(
            f"{loop.run.last_checkpoint}: does not fit this run ({reason}); it may be another "
            "run's checkpoint. Restore the run's own last.pt, or start again in a new --out"
        ) from exc


def _run_epochs(loop: _Loop, stop_after_epoch: int | None) -> None:
    config, state = loop.config, loop.state
    train_ds, val_ds = loop.data.dataset("train"), loop.data.dataset("val")
    max_epochs, patience = config.gradient_optim.max_epochs, config.gradient_optim.patience
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
                val=f"{val_acc:.3f}" if len(val_ds) else "-",  # a fixed schedule has none
            )
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                raise _StopRequested(f"stopped after epoch {epoch}")


def _finish(loop: _Loop) -> RunResult:
    state = loop.state
    best = load_checkpoint(loop.run.best_checkpoint, map_location=loop.device)
    model = unwrap(loop.model)
    model.load_state_dict(best["model"])
    metrics, pixels_per_s = evaluate_prepared(
        model,
        loop.data,
        loop.device,
        loop.config.runtime.precision,
        loop.ctx,
        tta=loop.config.recipe.tta,
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
        run.check_same_data((scene if scene is not None else load_scene_for(config)).sources)
        return run.load_result()
    resume = run.has_checkpoint()
    return train(None if resume else config, run.path, scene=scene, resume=resume)
