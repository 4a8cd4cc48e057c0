"""Inference on a run's pixels: predictions, validation loss, test metrics, re-evaluation.

Under torchrun each rank takes a slice of the pixels and the results are reduced, so every
rank sees the metrics of the whole set.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mssfe.data.device_patches import gather_patches, offset_grid, pixel_major
from mssfe.data.patches import N_DIHEDRAL, PatchDataset, dihedral
from mssfe.data.scenes import Scene
from mssfe.data.splits import subsample_test
from mssfe.errors import MssfeError
from mssfe.evaluation.metrics import Metrics, compute_metrics
from mssfe.models import Fit, create_model, get_model_spec
from mssfe.training.checkpoint import load_checkpoint
from mssfe.training.distributed import DistContext, unwrap
from mssfe.training.prepare import PreparedData, load_scene_for, prepare_data
from mssfe.training.rundir import RunDir
from mssfe.training.runtime import autocast, resolve_device


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
def class_probabilities(
    model: nn.Module,
    x: torch.Tensor,
    *,
    chunk: int,
    device: torch.device,
    precision: str = "32",
    tta: bool = False,
) -> torch.Tensor:
    """Softmax probabilities ``(N, K)`` (float32) of patches ``x`` ``(N, 1, C, p, p)``.

    The model (in eval mode) sees ``chunk`` patches per call. ``tta`` averages the
    probabilities over the 8 flips/rotations of every patch (8x the forward passes): a
    prediction that does not depend on the patch's orientation, which no scene fixes.
    """
    views = range(N_DIHEDRAL) if tta else range(1)
    total: torch.Tensor | None = None
    for which in views:
        view = dihedral(x, which) if which else x
        with autocast(device, precision):
            logits = torch.cat([model(part) for part in torch.split(view, chunk)])
        p = torch.softmax(logits.float(), dim=1)
        total = p if total is None else total + p
    assert total is not None
    return total / len(views) if tta else total


@torch.inference_mode()
def tile_probabilities(
    model: nn.Module,
    features: torch.Tensor,
    width: int,
    *,
    batch_size: int,
    device: torch.device,
    precision: str = "32",
    tta: bool = False,
) -> torch.Tensor:
    """Probabilities ``(n, K)`` on ``device`` of every pixel (row-major) of a row tile whose
    reflection-padded features ``features`` ``(C, h + 2r, W + 2r)`` are already there: the
    patches are gathered on the device, ``batch_size`` at a time, and stay there. The
    batches and their values are those of cutting the same tile on the host.
    """
    padded_rows, padded_width = int(features.shape[1]), int(features.shape[2])
    patch_size = padded_width - width + 1
    n_pixels = (padded_rows - patch_size + 1) * width
    plane = pixel_major(features, device)
    offsets = offset_grid(patch_size, padded_width, device)
    pixel = torch.arange(n_pixels, device=device)
    corners = (pixel // width) * padded_width + pixel % width
    parts = []
    for start in range(0, n_pixels, batch_size):
        x = gather_patches(plane, corners[start : start + batch_size], offsets)
        parts.append(
            class_probabilities(model, x, chunk=len(x), device=device, precision=precision, tta=tta)
        )
    return torch.cat(parts)


@torch.inference_mode()
def predict_dataset(
    model: nn.Module,
    dataset: PatchDataset,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "32",
    forward_chunk: int | None = None,
    tta: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (N,) and softmax probabilities (N, K) for every sample of ``dataset``.

    ``batch_size`` patches are cut at a time; the model sees ``forward_chunk`` of them per
    call (default: the model's ``cpu_forward_chunk`` on CPU if it has one, else the batch).
    ``tta``: averaged over the 8 flips/rotations (:func:`class_probabilities`).
    """
    model.eval()
    chunk = forward_chunk or _forward_chunk(model, device, batch_size)
    preds, probs = [], []
    for start in range(0, len(dataset), batch_size):
        x, _ = dataset.get_batch(list(range(start, min(start + batch_size, len(dataset)))))
        x = x.to(device, non_blocking=True)
        p = class_probabilities(
            model, x, chunk=chunk, device=device, precision=precision, tta=tta
        ).cpu()
        probs.append(p.numpy())
        preds.append(p.argmax(1).numpy())
    if not preds:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(preds), np.concatenate(probs)


def targets_of(dataset: PatchDataset) -> np.ndarray:
    if dataset.targets is None:
        raise ValueError("this dataset has no targets (built for prediction)")
    return dataset.targets


def evaluate_loss_acc(
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
    local = dataset.with_pixels(dataset.flat_idx[part], targets_of(dataset)[part])
    pred, prob = predict_dataset(unwrap(model), local, device, precision=precision)
    targets = targets_of(local)
    nll = -np.log(np.clip(prob[np.arange(len(targets)), targets], 1e-12, None)).sum()
    nll_sum, correct, n = ctx.sum([float(nll), float((pred == targets).sum()), float(len(targets))])
    return nll_sum / n, correct / n


def evaluate_prepared(
    model: nn.Module,
    data: PreparedData,
    device: torch.device,
    precision: str = "32",
    ctx: DistContext | None = None,
    tta: bool = False,
) -> tuple[Metrics, float]:
    """Test-set metrics and inference throughput (pixels/s, preprocessing excluded).

    Under torchrun each rank predicts its slice of the test pixels; the slices are gathered so
    every rank computes the metrics of the whole test set. ``tta``: see
    :func:`class_probabilities`.
    """
    ctx = ctx or DistContext()
    test_ds = data.dataset("test", ctx.local_slice(len(data.split.test)))
    t0 = time.perf_counter()
    pred, _ = predict_dataset(model, test_ds, device, precision=precision, tta=tta)
    seconds = time.perf_counter() - t0
    pred = ctx.gather(pred)
    targets = ctx.gather(targets_of(test_ds))
    total_rate = ctx.sum([len(test_ds) / max(seconds, 1e-9)])[0]
    return compute_metrics(targets, pred, data.scene.n_classes), total_rate


def run_tta(run_dir: str | Path) -> bool:
    """Whether a run's recipe evaluates with test-time augmentation (before recipes: no)."""
    return RunDir(Path(run_dir)).read_config().recipe.tta


def evaluate_run(
    run_dir: str | Path,
    *,
    scene: Scene | None = None,
    tta: bool | None = None,
    max_test: int | None = None,
    data_dir: str | Path | None = None,
) -> Metrics:
    """Recompute test metrics from a run's best checkpoint, split and preprocessing.

    ``tta`` None: as the run's recipe says (a run made before recipes: no test-time
    augmentation); True/False: with or without the 8 flips/rotations averaged. ``max_test``:
    on a stratified random subset of at most that many of the run's test pixels (the run's
    seed draws it: the same subset every time). ``data_dir``: where the scene is looked for
    first.
    """
    run = RunDir(Path(run_dir))
    config = run.read_config()  # no [recipe] table: paper
    if get_model_spec(config.model).fit is Fit.ESTIMATOR:
        raise MssfeError(
            f"{run.path}: model '{config.model}' keeps no fitted model to re-evaluate (nothing is "
            f"pickled); its test metrics are in {run.metrics_file.name}"
        )
    device = resolve_device(config.runtime.device)
    if scene is None:
        where = (
            config
            if data_dir is None
            else replace(config, data=replace(config.data, data_dir=str(data_dir)))
        )
        scene = load_scene_for(where)
    split = run.read_split()
    if max_test is not None:
        split = subsample_test(split, scene.labels, max_test, seed=config.seed)
    data = prepare_data(config, scene, split, run.read_preprocessor())
    model = create_model(
        config.model, n_bands=data.features.shape[2], n_classes=scene.n_classes, **config.model_args
    ).to(device)
    model.load_state_dict(load_checkpoint(run.best_checkpoint, map_location=device)["model"])
    use_tta = config.recipe.tta if tta is None else tta
    metrics, _ = evaluate_prepared(model, data, device, config.runtime.precision, tta=use_tta)
    return metrics
