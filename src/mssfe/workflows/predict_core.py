"""What in-memory and streamed prediction share: a loaded run, row tiles, the probabilities
of a tile's patches and the record a prediction leaves (prediction.json).

:mod:`mssfe.workflows.predict` classifies a cube held in memory; :mod:`mssfe.workflows.
predict_stream` one read window by window from its file. Both cut row tiles with
:func:`tile_bounds`, take the rows beyond the scene's border by reflection
(:func:`reflect_rows`) and classify each tile's reflection-padded features with
:func:`padded_probabilities`, so the two give the same map.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mssfe.data.patches import extract_patches
from mssfe.data.preprocess import Preprocessor
from mssfe.errors import ConfigError, DataError
from mssfe.training.config import ResolvedRunConfig
from mssfe.training.inference import class_probabilities
from mssfe.utils.validation import check_scalar


@dataclass(frozen=True, eq=False)
class LoadedRun:
    """A trained run ready to predict: its config, preprocessing and model in eval mode."""

    config: ResolvedRunConfig
    preprocessor: Preprocessor
    model: torch.nn.Module
    n_classes: int
    class_names: tuple[str, ...]
    colours: tuple[str, ...]
    patch_size: int
    run_dir: Path
    scene_name: str = ""
    simulated: bool = False
    class_codes: tuple[int, ...] = ()  # the label file's code of each class; () = 1..K

    @property
    def codes(self) -> tuple[int, ...]:
        """The label file's code of each class, in the order of the network's outputs."""
        return self.class_codes or tuple(range(1, self.n_classes + 1))

    tta: bool = False  # the run's recipe averages the 8 flips/rotations at test time


@dataclass(frozen=True)
class Timings:
    """End-to-end seconds (tiling, preprocessing, patches, forward) and pure forward seconds."""

    seconds: float
    forward_seconds: float
    pixels: int

    @property
    def pixels_per_s(self) -> float:
        return self.pixels / max(self.seconds, 1e-12)

    @property
    def forward_pixels_per_s(self) -> float:
        return self.pixels / max(self.forward_seconds, 1e-12)

    @property
    def efficiency(self) -> float:
        """End-to-end over forward-only throughput: 1.0 means no overhead at all."""
        return self.forward_seconds / max(self.seconds, 1e-12)


def tile_bounds(height: int, tile_rows: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` of consecutive tiles covering ``height`` rows."""
    return [(r0, min(height, r0 + tile_rows)) for r0 in range(0, height, tile_rows)]


def reflect_rows(start: int, stop: int, height: int) -> np.ndarray:
    """Row indices ``start..stop-1`` of the scene, mirrored at the border like ``np.pad``'s
    ``reflect`` mode (row -k -> row k, row H-1+k -> row H-1-k)."""
    rows = np.arange(start, stop)
    rows = np.where(rows < 0, -rows, rows)
    return np.where(rows >= height, 2 * (height - 1) - rows, rows)


def check_runs(
    runs: Sequence[LoadedRun], shape: tuple[int, ...], tile_rows: int, batch_size: int
) -> None:
    """The runs can classify a cube of ``shape`` ``(H, W, B)``: its bands, a patch that fits,
    one number of classes; ``tile_rows`` and ``batch_size`` positive integers."""
    if not runs:
        raise ConfigError("predict_scene needs at least one run")
    if len(shape) != 3:
        raise DataError(
            "cube must be 3-D, band-last", field="cube", expected="(H, W, B)", got=shape
        )
    for run in runs:
        if shape[2] != run.preprocessor.n_bands:
            raise DataError(
                "cube does not have the bands the run was trained on",
                file=run.run_dir,
                field="cube",
                expected=f"(H, W, {run.preprocessor.n_bands})",
                got=shape,
            )
        radius = run.patch_size // 2
        if radius >= shape[0] or radius >= shape[1]:
            raise DataError(
                "scene too small for the run's patch size",
                field="cube",
                expected=f"H and W > {radius}",
                got=shape[:2],
            )
    if len({run.n_classes for run in runs}) != 1:
        raise ConfigError(
            f"ensemble runs disagree on the number of classes: {[r.n_classes for r in runs]}"
        )
    check_scalar(tile_rows, "tile_rows", int, min_val=1)
    check_scalar(batch_size, "batch_size", int, min_val=1)


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def padded_probabilities(
    run: LoadedRun,
    padded: np.ndarray,
    width: int,
    batch_size: int,
    device: torch.device,
    tta: bool = False,
) -> tuple[np.ndarray, float]:
    """Softmax probabilities ``(n, K)`` of the pixels (row-major) at the centre of ``padded``
    ``(C, h + 2r, width + 2r)`` (preprocessed features with a halo of ``r = p // 2``), and
    the forward seconds; patches are cut ``batch_size`` at a time. ``tta``: averaged over
    the 8 flips/rotations of every patch."""
    radius = run.patch_size // 2
    n_pixels = (padded.shape[1] - 2 * radius) * width
    probs = np.empty((n_pixels, run.n_classes), dtype=np.float32)
    forward = 0.0
    for start in range(0, n_pixels, batch_size):
        stop = min(n_pixels, start + batch_size)
        patches = extract_patches(padded, np.arange(start, stop), width, run.patch_size)
        x = torch.from_numpy(patches).to(device, non_blocking=True)
        sync_device(device)
        t0 = time.perf_counter()
        p = class_probabilities(
            run.model,
            x,
            chunk=len(x),
            device=device,
            precision=run.config.runtime.precision,
            tta=tta,
        )
        sync_device(device)
        forward += time.perf_counter() - t0
        probs[start:stop] = p.cpu().numpy()
    return probs, forward


def prediction_title(scene_name: str, simulated: bool) -> str:
    return f"{scene_name} (simulated scene)" if simulated else scene_name


def prediction_record(
    *,
    scene_name: str,
    simulated: bool,
    shape: tuple[int, int],
    class_codes: Sequence[int],
    class_names: Sequence[str],
    colours: Sequence[str],
    counts: np.ndarray,
    crs: str | None,
    transform: Sequence[float] | None,
    timings: Timings,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What prediction.json says: the classes (code, name, colour, pixel count), the map's
    shape and georeference, the timings and ``extra`` (runs, TTA, window, ...)."""
    t = timings
    return {
        "scene": scene_name,
        "simulated": simulated,
        "shape": list(shape),
        "classes": [
            {"code": code, "name": name, "colour": colour, "pixels": int(n)}
            for code, name, colour, n in zip(
                class_codes, class_names, colours, counts, strict=False
            )
        ],
        "class_codes": list(class_codes),
        "class_names": list(class_names),
        "colours": list(colours),
        "crs": crs,
        "transform": list(transform) if transform is not None else None,
        "pixels": t.pixels,
        "seconds": t.seconds,
        "forward_seconds": t.forward_seconds,
        "pixels_per_s": t.pixels_per_s,
        "forward_pixels_per_s": t.forward_pixels_per_s,
        "class_counts": counts,
        **(extra or {}),
    }


__all__ = [
    "LoadedRun",
    "Timings",
    "check_runs",
    "padded_probabilities",
    "prediction_record",
    "prediction_title",
    "reflect_rows",
    "tile_bounds",
]
