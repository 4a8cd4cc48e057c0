"""The training loop: split, preprocess, train with early stopping, checkpoint, evaluate.

Every choice (early stopping, the best epoch) uses the validation subset carved from the
training pixels; the test pixels are touched once, after training, to report metrics.
Given a seed the run is deterministic on CPU: the epoch order and the augmentation of each
epoch come from generators seeded by (seed, epoch), so a resumed run replays exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from mssfe.data.patches import PatchDataset, augment_batch
from mssfe.data.preprocess import Preprocessor, fit_preprocessor
from mssfe.data.scenes import Scene, load_scene, load_user_scene
from mssfe.data.splits import Split, make_split
from mssfe.errors import ConfigError, MssfeError
from mssfe.evaluation.metrics import Metrics, compute_metrics
from mssfe.models import create_model, get_model_spec, make_config
from mssfe.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from mssfe.training.config import (
    RunConfig,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    load_config,
)
from mssfe.training.distributed import (
    DistContext,
    check_world,
    init_distributed,
    local_device,
    unwrap,
    wrap_ddp,
)
from mssfe.training.record import git_commit, machine, package_versions
from mssfe.training.runtime import autocast, resolve_device, seed_everything, set_threads
from mssfe.utils.atomic import atomic_write_json, atomic_write_text, ensure_dir

CONFIG_FILE = "config.toml"
SPLIT_FILE = "split.npz"
PREPROCESSOR_FILE = "preprocessor.npz"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
LOG_FILE = "log.jsonl"
METRICS_FILE = "metrics.json"
RECORD_FILE = "run.json"

FALLBACK_TRAINING: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "max_epochs": 200,
    "patience": 20,
    "scheduler": "none",
    "augment": True,
}


def resolve(config: RunConfig) -> RunConfig:
    """Fill every ``None`` with the model's registry default and expand the model config."""
    spec = get_model_spec(config.model)
    model_cfg = make_config(config.model, **config.model_args)
    defaults = {**FALLBACK_TRAINING, **spec.training}
    filled = {k: (v if v is not None else defaults.get(k)) for k, v in asdict(config.optim).items()}
    # through the validating constructor, so a registry default of the wrong type fails here
    return config_from_dict(
        {**config_to_dict(config), "model_args": asdict(model_cfg), "optim": filled},
        where=f"defaults of model '{config.model}'",
    )


@dataclass(frozen=True)
class PreparedData:
    """A scene split and preprocessed for one model: what training and evaluation consume."""

    scene: Scene
    split: Split
    preprocessor: Preprocessor
    features: np.ndarray  # (H, W, C) float32 after preprocessing
    patch_size: int

    @cached_property
    def _padded(self) -> PatchDataset:
        """The padded feature cube, made once and shared by every pixel selection."""
        empty = np.zeros(0, dtype=np.int64)
        return PatchDataset(self.features, empty, empty, self.patch_size)

    def dataset(self, which: str, part: slice | None = None) -> PatchDataset:
        """Patches of the split's ``train``/``val``/``test`` pixels (optionally a slice of them)."""
        idx = getattr(self.split, which)
        if part is not None:
            idx = idx[part]
        return self._padded.with_pixels(idx, self.scene.labels.ravel()[idx] - 1)


def load_scene_for(config: RunConfig) -> Scene:
    d = config.data
    if d.cube or d.labels:
        if not (d.cube and d.labels):
            raise ConfigError("data.cube and data.labels must be given together")
        return load_user_scene(
            d.cube, d.labels, var=d.var, labels_var=d.labels_var, nan_policy=d.nan_policy
        )
    return load_scene(d.scene, data_dir=d.data_dir, download=d.download, nan_policy=d.nan_policy)


def prepare_data(
    config: RunConfig,
    scene: Scene,
    split: Split | None = None,
    preprocessor: Preprocessor | None = None,
) -> PreparedData:
    """Split (unless given) and fit preprocessing on the training pixels (unless given)."""
    cfg = config.model_args
    patch_size = int(cfg.get("patch_size") or 1)
    if split is None:
        split = make_split(
            scene.labels,
            config.data.split,
            seed=config.seed,
            patch_size=patch_size,
            val_fraction=config.data.val_fraction,
        )
    cube = scene.require_cube()
    if preprocessor is None:
        preprocessor = fit_preprocessor(
            cube,
            split.train,
            n_components=cfg.get("n_components"),
            pca_fit=config.data.pca_fit,  # type: ignore[arg-type]
            seed=config.seed,
        )
    return PreparedData(scene, split, preprocessor, preprocessor.transform(cube), patch_size)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _batches(n: int, batch_size: int, order: torch.Tensor) -> list[list[int]]:
    chunks = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:  # BatchNorm cannot train on one sample
        chunks[-2].extend(chunks.pop())
    return chunks


def _forward_chunk(model: nn.Module, device: torch.device, batch_size: int) -> int:
    """Sub-batch size for the forward pass: a model's ``cpu_forward_chunk`` on CPU, if it
    declares one, else the whole batch. Small chunks keep MS2FENet's 3-D activations in cache
    (1.5-1.9x, benchmarks/speed_ms2fenet.py); on a loaded CPU they made PyTorch's own NCDHW
    depthwise conv slower (0.4-0.9x), so only a model that measured it asks for it. In eval
    mode each sample's output is independent of the others: the result is the same.
    """
    inner = getattr(model, "module", model)  # DistributedDataParallel
    chunk = getattr(inner, "cpu_forward_chunk", None) if device.type == "cpu" else None
    return int(chunk) if chunk else batch_size


@torch.inference_mode()
def predict_dataset(
    model: nn.Module,
    dataset: PatchDataset,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "32",
    forward_chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (N,) and softmax probabilities (N, K) for every sample of ``dataset``.

    ``batch_size`` patches are cut at a time; the model sees ``forward_chunk`` of them per
    call (default: the model's ``cpu_forward_chunk`` on CPU if it has one, else the batch).
    """
    model.eval()
    chunk = forward_chunk or _forward_chunk(model, device, batch_size)
    preds, probs = [], []
    for start in range(0, len(dataset), batch_size):
        x, _ = dataset.get_batch(list(range(start, min(start + batch_size, len(dataset)))))
        x = x.to(device, non_blocking=True)
        with autocast(device, precision):
            logits = torch.cat([model(part) for part in torch.split(x, chunk)])
        p = torch.softmax(logits.float(), dim=1).cpu()
        probs.append(p.numpy())
        preds.append(p.argmax(1).numpy())
    if not preds:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(preds), np.concatenate(probs)


def _targets(dataset: PatchDataset) -> np.ndarray:
    if dataset.targets is None:
        raise ValueError("this dataset has no targets (built for prediction)")
    return dataset.targets


def _evaluate_loss_acc(
    model: nn.Module,
    dataset: PatchDataset,
    device: torch.device,
    precision: str,
    ctx: DistContext | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy on ``dataset``; under torchrun each rank takes a slice, then sums."""
    ctx = ctx or DistContext()
    if len(dataset) == 0:
        return math.nan, math.nan
    part = ctx.local_slice(len(dataset))
    local = dataset.with_pixels(dataset.flat_idx[part], _targets(dataset)[part])
    pred, prob = predict_dataset(unwrap(model), local, device, precision=precision)
    targets = _targets(local)
    nll = -np.log(np.clip(prob[np.arange(len(targets)), targets], 1e-12, None)).sum()
    nll_sum, correct, n = ctx.sum([float(nll), float((pred == targets).sum()), float(len(targets))])
    return nll_sum / n, correct / n


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


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: Metrics
    best_epoch: int
    epochs: int
    train_seconds: float
    test_pixels_per_s: float


class _StopRequested(Exception):
    """Raised by a test hook to simulate an interruption after an epoch."""


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()


def _truncate_log(path: Path, last_epoch: int) -> None:
    if not path.exists():
        return
    keep = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("epoch", 0) <= last_epoch
    ]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


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

    config: RunConfig
    run_dir: Path
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
    if requested is not None:
        if requested < 0:
            raise ConfigError(f"runtime.workers: expected >= 0, got {requested}")
        return requested
    return 0 if device.type == "cpu" else min(4, max(1, (os.cpu_count() or 2) // 2))


def _train_epoch(loop: _Loop, train_ds: PatchDataset, epoch: int) -> tuple[float, float]:
    """One pass over the training pixels; returns (mean loss, accuracy) over all ranks.

    Every rank builds the same global batch (same order, same augmentation) and trains on its
    slice; the loss is weighted so DDP's gradient average equals the global-batch gradient.
    """
    cfg, ctx, device = loop.config, loop.ctx, loop.device
    order = torch.randperm(len(train_ds), generator=_epoch_generator(cfg.seed, epoch))
    batches = _batches(len(train_ds), int(cfg.optim.batch_size or 64), order)
    loader = DataLoader(
        _EpochBatches(train_ds, batches, cfg.seed, epoch, bool(cfg.optim.augment)),
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
            loop.run_dir / BEST_CHECKPOINT,
            {"model": unwrap(loop.model).state_dict(), "epoch": epoch},
        )
    entry = {
        "epoch": epoch,
        **metrics,
        "lr": loop.optimizer.param_groups[0]["lr"],
        "seconds": round(seconds, 4),
    }
    _append_log(loop.run_dir / LOG_FILE, entry)
    save_checkpoint(loop.run_dir / LAST_CHECKPOINT, loop.checkpoint_state())


def _start(config: RunConfig | None, run_dir: Path, resume: bool) -> RunConfig:
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise MssfeError(f"{run_dir}: nothing to resume (no {CONFIG_FILE})")
        return load_config(run_dir / CONFIG_FILE)
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
    Under torchrun the ranks share the work (see :mod:`mssfe.training.distributed`).
    """
    if config is not None and not resume and get_model_spec(config.model).kind == "sklearn":
        from mssfe.training.classic import train_classic  # lazy: classic imports this module

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
    )
    if resume and (run_dir / LAST_CHECKPOINT).exists():
        loop.restore(load_checkpoint(run_dir / LAST_CHECKPOINT, map_location=device))
    if resume and ctx.is_main:  # drop log lines of an epoch whose checkpoint was never written
        _truncate_log(run_dir / LOG_FILE, loop.state["epoch"])
    _run_epochs(loop, stop_after_epoch)
    ctx.barrier()  # rank 0 has written best.pt
    return _finish(loop)


def _run_epochs(loop: _Loop, stop_after_epoch: int | None) -> None:
    config, state = loop.config, loop.state
    train_ds, val_ds = loop.data.dataset("train"), loop.data.dataset("val")
    max_epochs = int(config.optim.max_epochs or 1)
    patience = int(config.optim.patience or max_epochs)
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
            val_loss, val_acc = _evaluate_loss_acc(
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
    best = load_checkpoint(loop.run_dir / BEST_CHECKPOINT, map_location=loop.device)
    model = unwrap(loop.model)
    model.load_state_dict(best["model"])
    metrics, pixels_per_s = evaluate_prepared(
        model, loop.data, loop.device, loop.config.runtime.precision, loop.ctx
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


def evaluate_prepared(
    model: nn.Module,
    data: PreparedData,
    device: torch.device,
    precision: str = "32",
    ctx: DistContext | None = None,
) -> tuple[Metrics, float]:
    """Test-set metrics and inference throughput (pixels/s, preprocessing excluded).

    Under torchrun each rank predicts its slice of the test pixels; the slices are gathered so
    every rank computes the metrics of the whole test set.
    """
    ctx = ctx or DistContext()
    test_ds = data.dataset("test", ctx.local_slice(len(data.split.test)))
    t0 = time.perf_counter()
    pred, _ = predict_dataset(model, test_ds, device, precision=precision)
    seconds = time.perf_counter() - t0
    pred = ctx.gather(pred)
    targets = ctx.gather(_targets(test_ds))
    total_rate = ctx.sum([len(test_ds) / max(seconds, 1e-9)])[0]
    return compute_metrics(targets, pred, data.scene.n_classes), total_rate


def write_metrics(
    run_dir: Path, config: RunConfig, data: PreparedData, metrics: Metrics, extra: dict[str, Any]
) -> None:
    """metrics.json, metrics.md and run.json (provenance) in the run directory."""
    scene, split = data.scene, data.split
    counts = split.counts(scene.labels)
    payload = {
        "scene": scene.name,
        "simulated": scene.simulated,
        "model": config.model,
        "protocol": split.protocol,
        "seed": config.seed,
        "leakage": split.leakage(),
        "split_notes": list(split.notes),
        "class_names": list(scene.class_names),
        "n_train": int(counts[:, 0].sum()),
        "n_val": int(counts[:, 1].sum()),
        "n_test": int(counts[:, 2].sum()),
        "metrics": metrics.to_dict(),
        **extra,
    }
    atomic_write_json(run_dir / METRICS_FILE, payload)
    atomic_write_text(run_dir / "metrics.md", format_metrics_markdown(payload))
    record = {
        "seed": config.seed,
        "config": config_to_dict(config),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "data": scene.sources,
        "wall_time_s": extra.get("train_seconds"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(run_dir / RECORD_FILE, record)


def format_metrics_markdown(payload: dict[str, Any]) -> str:
    m = payload["metrics"]
    lines = [
        f"# {payload['model']} on {payload['scene']}"
        + (" (simulated scene)" if payload["simulated"] else ""),
        "",
        f"Split `{payload['protocol']}`, seed {payload['seed']}: {payload['n_train']} train, "
        f"{payload['n_val']} validation, {payload['n_test']} test pixels; "
        f"leakage {payload['leakage']:.1%} of test patches contain a training pixel.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| OA | {m['oa'] * 100:.2f} |",
        f"| AA | {m['aa'] * 100:.2f} |",
        f"| kappa | {m['kappa'] * 100:.2f} |",
        "",
        "| class | accuracy |",
        "|---|---|",
    ]
    lines += [
        f"| {name} | {acc * 100:.2f} |"
        for name, acc in zip(payload["class_names"], m["per_class"], strict=True)
    ]
    return "\n".join(lines) + "\n"


def evaluate_run(run_dir: str | Path, *, scene: Scene | None = None) -> Metrics:
    """Recompute test metrics from a run's best checkpoint, split and preprocessing."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / CONFIG_FILE)
    if get_model_spec(config.model).kind != "torch":
        raise MssfeError(
            f"{run_dir}: model '{config.model}' keeps no fitted model to re-evaluate (nothing is "
            f"pickled); its test metrics are in {METRICS_FILE}"
        )
    device = resolve_device(config.runtime.device)
    scene = scene if scene is not None else load_scene_for(config)
    data = prepare_data(
        config,
        scene,
        Split.load(run_dir / SPLIT_FILE),
        Preprocessor.load(run_dir / PREPROCESSOR_FILE),
    )
    model = create_model(
        config.model, n_bands=data.features.shape[2], n_classes=scene.n_classes, **config.model_args
    ).to(device)
    model.load_state_dict(load_checkpoint(run_dir / BEST_CHECKPOINT, map_location=device)["model"])
    metrics, _ = evaluate_prepared(model, data, device, config.runtime.precision)
    return metrics


def load_result(run_dir: str | Path) -> RunResult:
    """The result of a finished run, read back from its metrics.json."""
    run_dir = Path(run_dir)
    try:
        payload = json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))
        return RunResult(
            run_dir,
            Metrics.from_dict(payload["metrics"]),
            int(payload.get("best_epoch", 0)),
            int(payload.get("epochs", 0)),
            float(payload.get("train_seconds", 0.0)),
            float(payload.get("test_pixels_per_s", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MssfeError(f"{run_dir / METRICS_FILE}: not a readable result: {exc}") from exc


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


def _comparable(config: RunConfig) -> dict[str, Any]:
    """What decides a run's result (not where or how fast it runs), with tuples as lists."""
    d = config_to_dict(config)
    d.pop("runtime")
    for key in ("data_dir", "download"):
        d["data"].pop(key)
    return json.loads(json.dumps(d))


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return None if a == b else f"{where} (stored {a!r}, asked {b!r})"


def check_same_config(run_dir: Path, config: RunConfig) -> None:
    """Refuse to reuse or resume a run directory made with another configuration."""
    stored = _comparable(load_config(run_dir / CONFIG_FILE))
    asked = _comparable(resolve(config))
    difference = _first_difference(stored, asked)
    if difference:
        raise ConfigError(
            f"{run_dir}: holds a run with another configuration: {difference}; "
            "choose another --out, or delete the directory to start again"
        )
