"""The training loop: split, preprocess, train with early stopping, checkpoint, evaluate.

Every choice (early stopping, the best epoch) uses the validation subset carved from the
training pixels; the test pixels are touched once, after training, to report metrics.
Given a seed the run is deterministic on CPU: the epoch order and the augmentation of each
epoch come from generators seeded by (seed, epoch), so a resumed run replays exactly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
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
from mssfe.training.record import git_commit, machine, package_versions
from mssfe.training.runtime import autocast, resolve_device, seed_everything, set_threads
from mssfe.utils.atomic import atomic_write_json, atomic_write_text

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

    def dataset(self, which: str) -> PatchDataset:
        idx = getattr(self.split, which)
        targets = self.scene.labels.ravel()[idx] - 1
        return PatchDataset(self.features, idx, targets, self.patch_size)


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


@torch.inference_mode()
def predict_dataset(
    model: nn.Module,
    dataset: PatchDataset,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "32",
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (N,) and softmax probabilities (N, K) for every sample of ``dataset``."""
    model.eval()
    preds, probs = [], []
    for start in range(0, len(dataset), batch_size):
        x, _ = dataset.get_batch(list(range(start, min(start + batch_size, len(dataset)))))
        with autocast(device, precision):
            logits = model(x.to(device, non_blocking=True))
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
    model: nn.Module, dataset: PatchDataset, device: torch.device, precision: str
) -> tuple[float, float]:
    if len(dataset) == 0:
        return math.nan, math.nan
    pred, prob = predict_dataset(model, dataset, device, precision=precision)
    targets = _targets(dataset)
    nll = -np.log(np.clip(prob[np.arange(len(targets)), targets], 1e-12, None)).mean()
    return float(nll), float((pred == targets).mean())


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


def _better(score: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Higher validation accuracy wins; equal accuracy, lower validation loss wins."""
    if best is None:
        return True
    return score[0] > best[0] or (score[0] == best[0] and score[1] < best[1])


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
    """
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise MssfeError(f"{run_dir}: nothing to resume (no {CONFIG_FILE})")
        config = load_config(run_dir / CONFIG_FILE)
    else:
        if config is None:
            raise ConfigError("train() needs a config unless resume=True")
        config = resolve(config)
        if (run_dir / LAST_CHECKPOINT).exists():
            raise MssfeError(f"{run_dir}: already holds a run; use --resume or another --out")
    rt = config.runtime
    set_threads(rt.threads)
    seed_everything(config.seed, deterministic=rt.deterministic)
    device = resolve_device(rt.device)
    scene = scene if scene is not None else load_scene_for(config)

    split = Split.load(run_dir / SPLIT_FILE) if resume else None
    pre = (
        Preprocessor.load(run_dir / PREPROCESSOR_FILE)
        if resume and (run_dir / PREPROCESSOR_FILE).exists()
        else None
    )
    data = prepare_data(config, scene, split, pre)
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG_FILE, config_to_toml(config))
        data.split.save(run_dir / SPLIT_FILE)
        data.preprocessor.save(run_dir / PREPROCESSOR_FILE)
        (run_dir / LOG_FILE).unlink(missing_ok=True)

    n_bands = data.features.shape[2]
    model = create_model(
        config.model, n_bands=n_bands, n_classes=scene.n_classes, **config.model_args
    ).to(device)
    optimizer = _make_optimizer(model, config)
    scheduler = _make_scheduler(optimizer, config)
    scaler = torch.amp.GradScaler(device.type, enabled=rt.precision == "16")
    state: dict[str, Any] = {
        "epoch": 0,
        "best_score": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "train_seconds": 0.0,
    }
    if resume and (run_dir / LAST_CHECKPOINT).exists():
        ck = load_checkpoint(run_dir / LAST_CHECKPOINT, map_location=device)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        restore_rng_state(ck["rng"])
        state = {k: ck[k] for k in state}
        _truncate_log(run_dir / LOG_FILE, state["epoch"])

    train_ds, val_ds = data.dataset("train"), data.dataset("val")
    loss_fn = nn.CrossEntropyLoss()
    max_epochs = int(config.optim.max_epochs or 1)
    patience = int(config.optim.patience or max_epochs)
    batch_size = int(config.optim.batch_size or 64)
    bar = tqdm(
        total=max_epochs,
        initial=state["epoch"],
        desc=f"{scene.name} {config.model} seed {config.seed}",
        disable=not rt.progress,
        unit="epoch",
        leave=False,
    )
    while state["epoch"] < max_epochs and state["bad_epochs"] < patience:
        epoch = state["epoch"] + 1
        t0 = time.perf_counter()
        gen = _epoch_generator(config.seed, epoch)
        order = torch.randperm(len(train_ds), generator=gen)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for batch in _batches(len(train_ds), batch_size, order):
            x, y = train_ds.get_batch(batch)
            if config.optim.augment:
                x = augment_batch(x, gen)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, rt.precision):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total_loss += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(batch)
        scheduler.step()
        val_loss, val_acc = _evaluate_loss_acc(model, val_ds, device, rt.precision)
        train_loss, train_acc = total_loss / max(seen, 1), correct / max(seen, 1)
        score = (val_acc, val_loss) if len(val_ds) else (-train_loss, train_loss)
        state["train_seconds"] += time.perf_counter() - t0
        state["epoch"] = epoch
        if _better(score, state["best_score"]):
            state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
            save_checkpoint(
                run_dir / BEST_CHECKPOINT, {"model": model.state_dict(), "epoch": epoch}
            )
        else:
            state["bad_epochs"] += 1
        entry = {
            "epoch": epoch,
            "loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - t0, 4),
        }
        _append_log(run_dir / LOG_FILE, entry)
        save_checkpoint(
            run_dir / LAST_CHECKPOINT,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": capture_rng_state(),
                **state,
            },
        )
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.3f}", train=f"{train_acc:.3f}", val=f"{val_acc:.3f}")
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            bar.close()
            raise _StopRequested(f"stopped after epoch {epoch}")
    bar.close()
    return _finish(config, run_dir, data, model, device, state)


def _finish(
    config: RunConfig,
    run_dir: Path,
    data: PreparedData,
    model: nn.Module,
    device: torch.device,
    state: dict[str, Any],
) -> RunResult:
    best = load_checkpoint(run_dir / BEST_CHECKPOINT, map_location=device)
    model.load_state_dict(best["model"])
    metrics, pixels_per_s = evaluate_prepared(model, data, device, config.runtime.precision)
    write_metrics(
        run_dir,
        config,
        data,
        metrics,
        extra={
            "best_epoch": state["best_epoch"],
            "epochs": state["epoch"],
            "train_seconds": state["train_seconds"],
            "test_pixels_per_s": pixels_per_s,
        },
    )
    return RunResult(
        run_dir,
        metrics,
        int(state["best_epoch"]),
        int(state["epoch"]),
        float(state["train_seconds"]),
        pixels_per_s,
    )


def evaluate_prepared(
    model: nn.Module, data: PreparedData, device: torch.device, precision: str = "32"
) -> tuple[Metrics, float]:
    """Test-set metrics and inference throughput (pixels/s, preprocessing excluded)."""
    test_ds = data.dataset("test")
    t0 = time.perf_counter()
    pred, _ = predict_dataset(model, test_ds, device, precision=precision)
    seconds = time.perf_counter() - t0
    metrics = compute_metrics(_targets(test_ds), pred, data.scene.n_classes)
    return metrics, len(test_ds) / max(seconds, 1e-9)


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
