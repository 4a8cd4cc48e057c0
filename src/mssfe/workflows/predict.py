"""Classify every pixel of a scene, streaming over row tiles so memory stays bounded.

A tile of rows ``[r0, r1)`` is cut from the raw cube together with its halo of ``p // 2``
rows on each side; rows outside the scene are taken by reflection, exactly as
:func:`~mssfe.data.patches.pad_cube` pads the whole cube, so tiles stitch with no seams. Each
run applies its own (pixel-wise) preprocessing to the tile, then patches are cut batch by
batch: at most one tile's features and one batch of patches are ever in memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mssfe.data.patches import extract_patches
from mssfe.data.preprocess import Preprocessor
from mssfe.data.readers import load_cube
from mssfe.data.registry import PALETTE
from mssfe.data.scenes import find_scene_info, load_scene
from mssfe.errors import ConfigError, DataError, MssfeError
from mssfe.models import create_model, input_needs
from mssfe.training.checkpoint import load_checkpoint
from mssfe.training.config import ResolvedRunConfig
from mssfe.training.distributed import init_distributed, local_device, shutdown
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import RunDir
from mssfe.training.runtime import autocast, resolve_device
from mssfe.utils.atomic import atomic_save, atomic_write_json
from mssfe.utils.validation import check_scalar
from mssfe.viz.geotiff import write_class_geotiff, write_float_geotiff
from mssfe.viz.maps import save_class_map_png


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


def _run_classes(
    run: RunDir, config: ResolvedRunConfig
) -> tuple[tuple[str, ...], tuple[str, ...], str, bool]:
    """Class names, colours, scene name and simulated flag of a run (its metrics, registry)."""
    stored = run.read_metrics() if run.is_finished() else None
    if config.data.cube:
        if stored is None or not stored.class_names:
            raise DataError(
                "cannot tell the classes of a run on a user cube without its metrics",
                file=run.metrics_file,
            )
        names = stored.class_names
        colours = tuple(PALETTE[i % len(PALETTE)] for i in range(len(names)))
        return names, colours, Path(config.data.cube).stem, False
    info = find_scene_info(config.data.scene)
    if stored is None:
        return info.class_names, info.class_colours, info.name, info.simulated_from is not None
    names = stored.class_names or tuple(info.class_names)
    return names, tuple(info.class_colours), info.name, stored.simulated


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Read a run directory (config, preprocessing, best checkpoint) into a :class:`LoadedRun`."""
    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise DataError("run directory not found", file=run.path)
    config = run.read_config()
    preprocessor = run.read_preprocessor()
    names, colours, scene_name, simulated = _run_classes(run, config)
    patch_size = input_needs(config.model, config.model_args).patch_size
    model = create_model(
        config.model,
        n_bands=preprocessor.n_outputs,
        n_classes=len(names),
        **config.model_args,
    )
    state = load_checkpoint(run.best_checkpoint, map_location=device)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return LoadedRun(
        config=config,
        preprocessor=preprocessor,
        model=model,
        n_classes=len(names),
        class_names=names,
        colours=colours,
        patch_size=patch_size,
        run_dir=run.path,
        scene_name=scene_name,
        simulated=simulated,
    )


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


@dataclass(frozen=True, eq=False)
class PredictionResult:
    """Class map ``(H, W)`` int64 in 1..K (0 where this rank predicted nothing), confidence
    ``(H, W)`` float32 (the maximum of the averaged probabilities), and the row tiles
    ``[(r0, r1), ...]`` this rank covered."""

    class_map: np.ndarray
    confidence: np.ndarray
    timings: Timings
    tiles: tuple[tuple[int, int], ...] = field(default=())


def tile_bounds(height: int, tile_rows: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` of consecutive tiles covering ``height`` rows."""
    return [(r0, min(height, r0 + tile_rows)) for r0 in range(0, height, tile_rows)]


def reflect_rows(start: int, stop: int, height: int) -> np.ndarray:
    """Row indices ``start..stop-1`` of the scene, mirrored at the border like ``np.pad``'s
    ``reflect`` mode (row -k -> row k, row H-1+k -> row H-1-k)."""
    rows = np.arange(start, stop)
    rows = np.where(rows < 0, -rows, rows)
    return np.where(rows >= height, 2 * (height - 1) - rows, rows)


def tile_features(
    cube: np.ndarray, preprocessor: Preprocessor, r0: int, r1: int, radius: int
) -> np.ndarray:
    """Preprocessed, reflection-padded features of rows ``[r0, r1)`` with their halo:
    ``(C, r1 - r0 + 2r, W + 2r)`` float32, equal to those rows of ``pad_cube`` on the
    preprocessed whole cube."""
    height, width = cube.shape[:2]
    rows = reflect_rows(r0 - radius, r1 + radius, height)
    feats = preprocessor.transform(cube[rows])  # (h + 2r, W, C), pixel-wise
    out = np.empty((feats.shape[2], rows.size, width + 2 * radius), dtype=np.float32)
    out[:, :, radius : radius + width] = feats.transpose(2, 0, 1)
    if radius:
        out[:, :, :radius] = out[:, :, 2 * radius : radius : -1]
        out[:, :, radius + width :] = out[:, :, radius + width - 2 : width - 2 : -1]
    return out


def _check_inputs(
    runs: Sequence[LoadedRun], cube: np.ndarray, tile_rows: int, batch_size: int
) -> None:
    if not runs:
        raise ConfigError("predict_scene needs at least one run")
    if cube.ndim != 3:
        raise DataError(
            "cube must be 3-D, band-last", field="cube", expected="(H, W, B)", got=cube.shape
        )
    for run in runs:
        if cube.shape[2] != run.preprocessor.n_bands:
            raise DataError(
                "cube does not have the bands the run was trained on",
                file=run.run_dir,
                field="cube",
                expected=f"(H, W, {run.preprocessor.n_bands})",
                got=cube.shape,
            )
        radius = run.patch_size // 2
        if radius >= cube.shape[0] or radius >= cube.shape[1]:
            raise DataError(
                "scene too small for the run's patch size",
                field="cube",
                expected=f"H and W > {radius}",
                got=cube.shape[:2],
            )
    if len({run.n_classes for run in runs}) != 1:
        raise ConfigError(
            f"ensemble runs disagree on the number of classes: {[r.n_classes for r in runs]}"
        )
    check_scalar(tile_rows, "tile_rows", int, min_val=1)
    check_scalar(batch_size, "batch_size", int, min_val=1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def _tile_probabilities(
    run: LoadedRun,
    cube: np.ndarray,
    r0: int,
    r1: int,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, float]:
    """Softmax probabilities ``(n, K)`` of the tile's pixels (row-major) and forward seconds."""
    radius = run.patch_size // 2
    width = cube.shape[1]
    padded = tile_features(cube, run.preprocessor, r0, r1, radius)
    n_pixels = (r1 - r0) * width
    probs = np.empty((n_pixels, run.n_classes), dtype=np.float32)
    forward = 0.0
    for start in range(0, n_pixels, batch_size):
        stop = min(n_pixels, start + batch_size)
        patches = extract_patches(padded, np.arange(start, stop), width, run.patch_size)
        x = torch.from_numpy(patches).to(device, non_blocking=True)
        _sync(device)
        t0 = time.perf_counter()
        with autocast(device, run.config.runtime.precision):
            logits = run.model(x)
        _sync(device)
        forward += time.perf_counter() - t0
        probs[start:stop] = torch.softmax(logits.float(), dim=1).cpu().numpy()
    return probs, forward


def predict_scene(
    runs: Sequence[LoadedRun],
    cube: np.ndarray,
    *,
    tile_rows: int = 32,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> PredictionResult:
    """Class of every pixel of ``cube`` ``(H, W, B)`` (raw, as stored), averaged over ``runs``.

    Tiles of ``tile_rows`` rows go round-robin to ranks: this call predicts tiles
    ``rank, rank + world_size, ...`` only (see :func:`assemble`). ``device=None`` uses the
    device of the first run's weights.
    """
    cube = np.asarray(cube)
    _check_inputs(runs, cube, tile_rows, batch_size)
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size={world_size}), got {rank}")
    dev = torch.device(device) if device is not None else next(runs[0].model.parameters()).device
    for run in runs:
        run.model.to(dev).eval()
    height, width = cube.shape[:2]
    mine = tile_bounds(height, tile_rows)[rank::world_size]
    class_map = np.zeros((height, width), dtype=np.int64)
    confidence = np.zeros((height, width), dtype=np.float32)
    forward = 0.0
    t_start = time.perf_counter()
    bar = tqdm(
        total=sum(r1 - r0 for r0, r1 in mine) * width, disable=not progress, unit="px", leave=False
    )
    for r0, r1 in mine:
        total: np.ndarray | None = None
        for run in runs:
            probs, seconds = _tile_probabilities(run, cube, r0, r1, batch_size, dev)
            forward += seconds
            total = probs if total is None else total + probs
        assert total is not None  # runs is non-empty (checked above)
        mean = total / len(runs)
        class_map[r0:r1] = (mean.argmax(axis=1) + 1).reshape(r1 - r0, width)
        confidence[r0:r1] = mean.max(axis=1).reshape(r1 - r0, width)
        bar.update((r1 - r0) * width)
    bar.close()
    pixels = sum(r1 - r0 for r0, r1 in mine) * width
    timings = Timings(time.perf_counter() - t_start, forward, pixels)
    return PredictionResult(class_map, confidence, timings, tuple(mine))


def assemble(parts: Sequence[PredictionResult], shape: tuple[int, int]) -> PredictionResult:
    """Stitch the results of ranks (each covering its own row tiles) into one full map."""
    class_map = np.zeros(shape, dtype=np.int64)
    confidence = np.zeros(shape, dtype=np.float32)
    covered = np.zeros(shape[0], dtype=bool)
    tiles: list[tuple[int, int]] = []
    for part in parts:
        for r0, r1 in part.tiles:
            if covered[r0:r1].any():
                raise MssfeError(f"rows {r0}..{r1 - 1} are predicted by more than one part")
            class_map[r0:r1] = part.class_map[r0:r1]
            confidence[r0:r1] = part.confidence[r0:r1]
            covered[r0:r1] = True
            tiles.append((r0, r1))
    if not covered.all():
        missing = np.flatnonzero(~covered)
        raise MssfeError(f"{missing.size} rows were predicted by no part (first {missing[0]})")
    timings = Timings(
        max((p.timings.seconds for p in parts), default=0.0),
        sum(p.timings.forward_seconds for p in parts),
        sum(p.timings.pixels for p in parts),
    )
    return PredictionResult(class_map, confidence, timings, tuple(sorted(tiles)))


# ---------------------------------------------------------------------------------------------
# Writing the outputs
# ---------------------------------------------------------------------------------------------


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_save(path, lambda handle: np.save(handle, array, allow_pickle=False))


def _prediction_title(scene_name: str, simulated: bool) -> str:
    return f"{scene_name} (simulated scene)" if simulated else scene_name


def write_prediction(
    out_dir: str | Path,
    result: PredictionResult,
    *,
    class_names: Sequence[str],
    colours: Sequence[str],
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    simulated: bool,
    scene_name: str,
    confidence: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write class_map.tif/.npy/.png (+ confidence.tif/.npy) and prediction.json into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "class_map_tif": out / "class_map.tif",
        "class_map_npy": out / "class_map.npy",
        "class_map_png": out / "class_map.png",
    }
    write_class_geotiff(
        paths["class_map_tif"], result.class_map, class_names, colours, crs=crs, transform=transform
    )
    _save_npy(paths["class_map_npy"], result.class_map)
    title = f"Classification map: {_prediction_title(scene_name, simulated)}"
    save_class_map_png(paths["class_map_png"], result.class_map, colours, class_names, title)
    if confidence:
        paths["confidence_tif"] = out / "confidence.tif"
        paths["confidence_npy"] = out / "confidence.npy"
        write_float_geotiff(
            paths["confidence_tif"], result.confidence, crs=crs, transform=transform
        )
        _save_npy(paths["confidence_npy"], result.confidence)
    t = result.timings
    meta = {
        "scene": scene_name,
        "simulated": simulated,
        "shape": list(result.class_map.shape),
        "class_names": list(class_names),
        "colours": list(colours),
        "crs": crs,
        "transform": list(transform) if transform is not None else None,
        "pixels": t.pixels,
        "seconds": t.seconds,
        "forward_seconds": t.forward_seconds,
        "pixels_per_s": t.pixels_per_s,
        "forward_pixels_per_s": t.forward_pixels_per_s,
        "class_counts": np.bincount(result.class_map.ravel(), minlength=len(class_names) + 1)[1:],
        **(extra or {}),
    }
    paths["json"] = out / "prediction.json"
    atomic_write_json(paths["json"], meta)
    return paths


def describe_timings(t: Timings) -> str:
    return (
        f"{t.pixels} pixels in {t.seconds:.2f} s ({t.pixels_per_s:,.0f} px/s end to end; "
        f"forward only {t.forward_pixels_per_s:,.0f} px/s; ratio {t.efficiency:.2f})"
    )


@dataclass(frozen=True)
class PredictionRun:
    """What ``mssfe predict`` did: the source scene, the runs used, the result and its files."""

    scene_name: str
    simulated: bool
    runs: tuple[LoadedRun, ...]
    result: PredictionResult
    paths: dict[str, Path]


def _with_data_dir(config: ResolvedRunConfig, data_dir: str | None) -> ResolvedRunConfig:
    """The run's config, its scene looked for first in ``data_dir`` when one is given."""
    if data_dir is None:
        return config
    return replace(config, data=replace(config.data, data_dir=data_dir))


def run_predict(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    scene: str | None = None,
    cube: str | None = None,
    var: str | None = None,
    data_dir: str | None = None,
    tile_rows: int = 32,
    batch_size: int = 256,
    confidence: bool = False,
    device: str = "auto",
    progress: bool = True,
) -> PredictionRun | None:
    """Classify a scene (the first run's own, ``scene``, or a user ``cube``) with the runs'
    averaged probabilities and write the outputs into ``out``.

    Under torchrun the row tiles are shared between ranks and gathered on rank 0, which writes;
    the other ranks return None.
    """
    ctx = init_distributed(resolve_device(device))
    local = local_device(resolve_device(device), ctx)
    runs = tuple(load_run(d, device=local) for d in run_dirs)
    if cube:
        loaded = load_cube(cube, var)
        pixels, crs, transform = loaded.data, loaded.crs, loaded.transform
        name, simulated = Path(cube).stem, False
    else:
        source = (
            load_scene(scene, data_dir=data_dir)
            if scene
            else load_scene_for(_with_data_dir(runs[0].config, data_dir))
        )
        pixels, crs, transform = source.require_cube(), source.crs, source.transform
        name, simulated = source.name, source.simulated
    result = predict_scene(
        list(runs),
        pixels,
        tile_rows=tile_rows,
        batch_size=batch_size,
        progress=progress and ctx.is_main,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    if ctx.enabled:
        parts = ctx.gather_objects(result)
        shutdown(ctx)
        if not ctx.is_main:
            return None
        result = assemble(parts, pixels.shape[:2])
    paths = write_prediction(
        out,
        result,
        class_names=runs[0].class_names,
        colours=runs[0].colours,
        crs=crs,
        transform=transform,
        simulated=simulated,
        scene_name=name,
        confidence=confidence,
        extra={"runs": [str(r.run_dir) for r in runs]},
    )
    return PredictionRun(name, simulated, runs, result, paths)


__all__ = [
    "LoadedRun",
    "PredictionResult",
    "PredictionRun",
    "Timings",
    "assemble",
    "describe_timings",
    "load_run",
    "predict_scene",
    "reflect_rows",
    "run_predict",
    "tile_bounds",
    "tile_features",
    "write_prediction",
]
