"""Classify every pixel of a scene, streaming over row tiles so memory stays bounded.

A tile of rows ``[r0, r1)`` is cut from the raw cube together with its halo of ``p // 2``
rows on each side; rows outside the scene are taken by reflection, exactly as
:func:`~mssfe.data.patches.pad_cube` pads the whole cube, so tiles stitch with no seams. Each
run applies its own (pixel-wise) preprocessing to the tile, then patches are cut batch by
batch: at most one tile's features and one batch of patches are ever in memory.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mssfe.data.bands import select_bands
from mssfe.data.device_patches import PinnedUpload
from mssfe.data.preprocess import Preprocessor
from mssfe.data.readers import Cube, load_cube, load_labels
from mssfe.data.registry import PALETTE
from mssfe.data.scenes import Scene, find_scene_info, load_scene
from mssfe.data.windowed import WindowedCube, as_windowed, open_cube_windowed
from mssfe.errors import ConfigError, DataError, MssfeError
from mssfe.models import Fit, create_model, get_model_spec, input_needs
from mssfe.training.checkpoint import load_checkpoint
from mssfe.training.config import DataConfig, ResolvedRunConfig
from mssfe.training.distributed import DistContext, init_distributed, local_device, shutdown
from mssfe.training.inference import tile_probabilities
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import PREDICTION_RECORD, PredictionDir, RunDir, open_run
from mssfe.training.runtime import resolve_device
from mssfe.utils.atomic import atomic_save, atomic_write_json
from mssfe.utils.outdir import check_output_dir, output_set
from mssfe.viz.geotiff import (
    check_class_codes,
    codes_to_indices,
    indices_to_codes,
    write_class_geotiff,
    write_float_geotiff,
)
from mssfe.viz.maps import save_class_map_png
from mssfe.workflows.predict_core import (
    LoadedRun,
    Timings,
    check_runs,
    padded_probabilities,
    prediction_record,
    prediction_title,
    reflect_rows,
    sync_device,
    tile_bounds,
)
from mssfe.workflows.predict_stream import (
    MapStyle,
    PixelWindow,
    check_stream_inputs,
    check_window,
    parse_window,
    shift_transform,
    stream_tiles,
    warn_no_data,
    write_streamed,
)


@dataclass(frozen=True)
class _RunClasses:
    names: tuple[str, ...]
    colours: tuple[str, ...]
    codes: tuple[int, ...]
    scene_name: str
    simulated: bool


def _user_cube_codes(config: ResolvedRunConfig, n_classes: int) -> tuple[int, ...]:
    """Codes of a run on a user cube that predates ``class_codes`` in metrics.json: the
    non-zero values of its label file when it is still there, else 1..K."""
    labels = Path(config.data.labels or "")
    if config.data.labels and labels.is_file():
        values = tuple(int(v) for v in np.unique(load_labels(labels, config.data.labels_var)) if v)
        if len(values) == n_classes:
            return values
    return tuple(range(1, n_classes + 1))


def _run_classes(run: RunDir, config: ResolvedRunConfig) -> _RunClasses:
    """Class names, colours, label codes, scene name and simulated flag of a run (its
    metrics first, then the scene registry)."""
    stored = run.read_metrics() if run.is_finished() else None
    codes = (stored.class_codes if stored is not None else None) or ()  # none before codes
    if config.data.cube:
        if stored is None or not stored.class_names:
            raise DataError(
                "cannot tell the classes of a run on a user cube without its metrics",
                file=run.metrics_file,
            )
        names = stored.class_names
        colours = tuple(PALETTE[i % len(PALETTE)] for i in range(len(names)))
        codes = codes or _user_cube_codes(config, len(names))
        return _RunClasses(names, colours, codes, Path(config.data.cube).stem, False)
    info = find_scene_info(config.data.scene)
    if stored is None:
        return _RunClasses(
            tuple(info.class_names),
            tuple(info.class_colours),
            info.label_values,
            info.name,
            info.simulated_from is not None,
        )
    names = stored.class_names or tuple(info.class_names)
    return _RunClasses(
        names, tuple(info.class_colours), codes or info.label_values, info.name, stored.simulated
    )


def load_best_model(
    run_dir: Path,
    config: ResolvedRunConfig,
    n_bands: int,
    n_classes: int,
    device: str | torch.device,
) -> torch.nn.Module:
    """The run's network with the weights of its best epoch (best.pt), in eval mode."""
    model = create_model(config.model, n_bands=n_bands, n_classes=n_classes, **config.model_args)
    state = load_checkpoint(RunDir(run_dir).best_checkpoint, map_location=device)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Read a run directory (config, preprocessing, best checkpoint) into a :class:`LoadedRun`."""
    run = open_run(run_dir)  # a directory of several runs names them
    config = run.read_config()  # no [recipe] table: paper
    if get_model_spec(config.model).fit is Fit.ESTIMATOR:
        raise ConfigError(
            f"{run.path}: model '{config.model}' keeps no fitted model to predict with (nothing "
            "is pickled); use mssfe.models.svm.RBFSVM in Python to fit and predict"
        )
    preprocessor = run.read_preprocessor()
    classes = _run_classes(run, config)
    names = classes.names
    patch_size = input_needs(config.model, config.model_args).patch_size
    model = load_best_model(run.path, config, preprocessor.n_outputs, len(names), device)
    return LoadedRun(
        config=config,
        preprocessor=preprocessor,
        model=model,
        n_classes=len(names),
        class_names=names,
        colours=classes.colours,
        patch_size=patch_size,
        run_dir=run.path,
        scene_name=classes.scene_name,
        simulated=classes.simulated,
        class_codes=classes.codes,
        tta=config.recipe.tta,
    )


@dataclass(frozen=True, eq=False)
class PredictionResult:
    """Class map ``(H, W)`` int64 in 1..K (0 where this rank predicted nothing), confidence
    ``(H, W)`` float32 (the maximum of the averaged probabilities), the row tiles
    ``[(r0, r1), ...]`` this rank covered, and, when asked for, the averaged probabilities
    ``(H, W, K)`` float32 (column k = class index k + 1)."""

    class_map: np.ndarray
    confidence: np.ndarray
    timings: Timings
    tiles: tuple[tuple[int, int], ...] = field(default=())
    probabilities: np.ndarray | None = None


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


def _tile_probabilities(
    run: LoadedRun,
    cube: np.ndarray,
    r0: int,
    r1: int,
    batch_size: int,
    device: torch.device,
    tta: bool = False,
) -> tuple[np.ndarray, float]:
    """Softmax probabilities ``(n, K)`` of the tile's pixels (row-major) and forward seconds;
    ``tta``: averaged over the 8 flips/rotations of every patch."""
    padded = tile_features(cube, run.preprocessor, r0, r1, run.patch_size // 2)
    return padded_probabilities(run, padded, cube.shape[1], batch_size, device, tta)


def _host_tiles(
    runs: Sequence[LoadedRun],
    cube: np.ndarray,
    tiles: Sequence[tuple[int, int]],
    batch_size: int,
    device: torch.device,
    tta: bool | None,
    forward: list[float],
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(r0, r1, probabilities (n, K) summed over runs)`` per tile, patches cut on the host
    and copied batch by batch; forward seconds are added to ``forward[0]``."""
    for r0, r1 in tiles:
        total: np.ndarray | None = None
        for run in runs:
            use = run.tta if tta is None else tta
            probs, seconds = _tile_probabilities(run, cube, r0, r1, batch_size, device, use)
            forward[0] += seconds
            total = probs if total is None else total + probs
        assert total is not None  # runs is non-empty (checked by the caller)
        yield r0, r1, total


@torch.inference_mode()
def _device_tiles(
    runs: Sequence[LoadedRun],
    cube: np.ndarray,
    tiles: Sequence[tuple[int, int]],
    batch_size: int,
    device: torch.device,
    tta: bool | None,
    forward: list[float],
) -> Iterator[tuple[int, int, np.ndarray]]:
    """As :func:`_host_tiles`, but each run's tile features go to the device once (pinned,
    non-blocking, on a copy stream: :class:`~mssfe.data.device_patches.PinnedUpload`) and the
    patches are gathered there. While the device works on one (tile, run), the host
    preprocesses the next one and starts its copy (double buffering). ``forward`` gets the
    device's seconds from the first patch to the probabilities (gathering included)."""
    work = [(r0, r1, run) for r0, r1 in tiles for run in runs]
    upload = PinnedUpload(device)
    width = cube.shape[1]

    def send(k: int) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        r0, r1, run = work[k]
        return upload.send(tile_features(cube, run.preprocessor, r0, r1, run.patch_size // 2))

    pending = send(0) if work else None
    total: np.ndarray | None = None
    for k, (r0, r1, run) in enumerate(work):
        assert pending is not None
        features = upload.receive(pending)
        t0 = time.perf_counter()
        probs = tile_probabilities(
            run.model,
            features,
            width,
            batch_size=batch_size,
            device=device,
            precision=run.config.runtime.precision,
            tta=run.tta if tta is None else tta,
        )
        # into pinned memory, asynchronously, on CUDA (sync_device below waits for it)
        on_host = probs.to("cpu", non_blocking=device.type == "cuda")
        launched = time.perf_counter() - t0
        if k + 1 < len(work):
            pending = send(k + 1)  # the host's share of the next item, under this one's
        t1 = time.perf_counter()
        sync_device(device)
        forward[0] += launched + time.perf_counter() - t1
        host = on_host.numpy()
        total = host if total is None else total + host
        if k + 1 == len(work) or work[k + 1][0] != r0:  # the tile's last run
            yield r0, r1, total
            total = None


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
    probabilities: bool = False,
    tta: bool | None = None,
    on_device: bool | None = None,
) -> PredictionResult:
    """Class index (1..K) of every pixel of ``cube`` ``(H, W, B)`` (raw, as stored), from the
    probabilities averaged over ``runs``; with ``probabilities`` also those ``(H, W, K)``.

    Tiles of ``tile_rows`` rows go round-robin to ranks: this call predicts tiles
    ``rank, rank + world_size, ...`` only (see :func:`assemble`). ``device=None`` uses the
    device of the first run's weights. ``tta``: average the 8 flips/rotations of every patch
    (None: as each run's recipe says). ``on_device``: copy each tile's features to the device
    and gather its patches there, the next tile prepared while the device works (None: on
    cuda/mps only); the same maps as cutting patches on the host.
    """
    cube = np.asarray(cube)
    check_runs(runs, cube.shape, tile_rows, batch_size)
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size={world_size}), got {rank}")
    dev = torch.device(device) if device is not None else next(runs[0].model.parameters()).device
    for run in runs:
        run.model.to(dev).eval()
    height, width = cube.shape[:2]
    mine = tile_bounds(height, tile_rows)[rank::world_size]
    class_map = np.zeros((height, width), dtype=np.int64)
    confidence = np.zeros((height, width), dtype=np.float32)
    kept = np.zeros((height, width, runs[0].n_classes), dtype=np.float32) if probabilities else None
    forward = [0.0]
    t_start = time.perf_counter()
    bar = tqdm(
        total=sum(r1 - r0 for r0, r1 in mine) * width, disable=not progress, unit="px", leave=False
    )
    streamed = dev.type in ("cuda", "mps") if on_device is None else on_device
    tiles = _device_tiles if streamed else _host_tiles
    for r0, r1, total in tiles(runs, cube, mine, batch_size, dev, tta, forward):
        mean = total / len(runs)
        class_map[r0:r1] = (mean.argmax(axis=1) + 1).reshape(r1 - r0, width)
        confidence[r0:r1] = mean.max(axis=1).reshape(r1 - r0, width)
        if kept is not None:
            kept[r0:r1] = mean.reshape(r1 - r0, width, -1)
        bar.update((r1 - r0) * width)
    bar.close()
    pixels = sum(r1 - r0 for r0, r1 in mine) * width
    timings = Timings(time.perf_counter() - t_start, forward[0], pixels)
    return PredictionResult(class_map, confidence, timings, tuple(mine), kept)


def assemble(parts: Sequence[PredictionResult], shape: tuple[int, int]) -> PredictionResult:
    """Stitch the results of ranks (each covering its own row tiles) into one full map."""
    class_map = np.zeros(shape, dtype=np.int64)
    confidence = np.zeros(shape, dtype=np.float32)
    with_probs = [p.probabilities for p in parts if p.probabilities is not None]
    probs = np.zeros((*shape, with_probs[0].shape[2]), np.float32) if with_probs else None
    covered = np.zeros(shape[0], dtype=bool)
    tiles: list[tuple[int, int]] = []
    for part in parts:
        for r0, r1 in part.tiles:
            if covered[r0:r1].any():
                raise MssfeError(f"rows {r0}..{r1 - 1} are predicted by more than one part")
            class_map[r0:r1] = part.class_map[r0:r1]
            confidence[r0:r1] = part.confidence[r0:r1]
            if probs is not None and part.probabilities is not None:
                probs[r0:r1] = part.probabilities[r0:r1]
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
    return PredictionResult(class_map, confidence, timings, tuple(sorted(tiles)), probs)


# ---------------------------------------------------------------------------------------------
# Writing the outputs
# ---------------------------------------------------------------------------------------------


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_save(path, lambda handle: np.save(handle, array, allow_pickle=False))


def write_prediction(
    out_dir: str | Path,
    result: PredictionResult,
    *,
    class_names: Sequence[str],
    colours: Sequence[str],
    class_codes: Sequence[int] | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    simulated: bool,
    scene_name: str,
    confidence: bool = True,
    probabilities: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the outputs of a prediction into ``out_dir`` and return their paths.

    ``class_map.tif`` (a cloud-optimised GeoTIFF in the label file's codes, with colour
    table, category names and attribute table in ``class_map.tif.aux.xml``), ``class_map.npy``
    (the same codes), ``class_map.png`` (with legend), ``prediction.json`` (the classes with
    code, name and colour, georeference, counts, timings); with ``confidence`` also
    ``confidence.tif``/``.npy`` (the winning probability), with ``probabilities`` (and a
    result that kept them) ``probabilities.tif`` (one band per class, described by code and
    name) and ``probabilities.npy`` ``(H, W, K)``.

    The files replace an earlier prediction there as one set, ``prediction.json`` last
    (:func:`mssfe.utils.outdir.output_set`): a reader that finds it finds the rest of its set.
    """
    final = Path(out_dir)
    style = MapStyle(
        tuple(class_names),
        tuple(colours),
        tuple(check_class_codes(class_names, class_codes)),
        crs,
        None if transform is None else tuple(transform),
    )
    with output_set(final, PREDICTION_RECORD) as staging:
        paths = _write_prediction_files(
            PredictionDir(staging), result, style, simulated=simulated, scene_name=scene_name,
            confidence=confidence, probabilities=probabilities, extra=extra,
        )  # fmt: skip
    return {key: final / path.name for key, path in paths.items()}


def _write_prediction_files(
    out: PredictionDir,
    result: PredictionResult,
    style: MapStyle,
    *,
    simulated: bool,
    scene_name: str,
    confidence: bool,
    probabilities: bool,
    extra: dict[str, Any] | None,
) -> dict[str, Path]:
    """The files of :func:`write_prediction`, written into ``out`` (the staging directory)."""
    class_names, colours, codes = style.class_names, style.colours, style.class_codes
    crs, transform = style.crs, style.transform
    code_map = indices_to_codes(result.class_map, codes)
    paths = {
        "class_map_tif": out.class_map_tif,
        "class_map_npy": out.class_map_npy,
        "class_map_png": out.class_map_png,
    }
    _, paths["class_map_aux"] = write_class_geotiff(
        paths["class_map_tif"],
        code_map,
        class_names,
        colours,
        class_codes=codes,
        crs=crs,
        transform=transform,
    )
    _save_npy(paths["class_map_npy"], code_map)
    title = f"Classification map: {prediction_title(scene_name, simulated)}"
    save_class_map_png(paths["class_map_png"], result.class_map, colours, class_names, title)
    if confidence:
        paths["confidence_tif"] = out.confidence_tif
        paths["confidence_npy"] = out.confidence_npy
        write_float_geotiff(
            paths["confidence_tif"], result.confidence, crs=crs, transform=transform
        )
        _save_npy(paths["confidence_npy"], result.confidence)
    if probabilities:
        if result.probabilities is None:
            raise ConfigError("write_prediction: the result kept no probabilities")
        paths["probabilities_tif"] = out.probabilities_tif
        paths["probabilities_npy"] = out.probabilities_npy
        write_float_geotiff(
            paths["probabilities_tif"],
            result.probabilities,
            crs=crs,
            transform=transform,
            description=[f"{c}: {n}" for c, n in zip(codes, class_names, strict=True)],
        )
        _save_npy(paths["probabilities_npy"], result.probabilities)
    counts = np.bincount(result.class_map.ravel(), minlength=len(class_names) + 1)[1:]
    meta = prediction_record(
        scene_name=scene_name, simulated=simulated, shape=result.class_map.shape,
        class_codes=codes, class_names=class_names, colours=colours, counts=counts, crs=crs,
        transform=transform, timings=result.timings, extra=extra,
    )  # fmt: skip
    paths["json"] = out.record_file
    atomic_write_json(paths["json"], meta)
    return paths


def describe_timings(t: Timings) -> str:
    return (
        f"{t.pixels} pixels in {t.seconds:.2f} s ({t.pixels_per_s:,.0f} px/s end to end; "
        f"forward only {t.forward_pixels_per_s:,.0f} px/s; ratio {t.efficiency:.2f})"
    )


# ---------------------------------------------------------------------------------------------
# What to predict: a scene, a file or an array
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Pixels:
    """The cube to classify ``(H, W, B)`` with its name and georeference."""

    cube: np.ndarray
    name: str
    simulated: bool = False
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    valid: np.ndarray | None = None  # (H, W) bool: False where the file holds no data
    wavelengths: np.ndarray | None = None  # (B,) nm, where the file gives them
    good_bands: np.ndarray | None = None  # (B,) bool: False for a band the file marks bad


CUBE_SUFFIXES = (".mat", ".h5", ".hdf5", ".tif", ".tiff", ".npy", ".npz", ".hdr", ".img", ".dat")


def _looks_like_file(text: str | Path) -> bool:
    path = Path(text)
    return isinstance(text, Path) or path.suffix.lower() in CUBE_SUFFIXES or path.is_file()


def resolve_pixels(
    source: str | Path | np.ndarray | Scene | Cube | None,
    own: ResolvedRunConfig,
    *,
    var: str | None = None,
    data_dir: str | Path | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    n_bands: int | None = None,
) -> Pixels:
    """What :func:`predict` classifies: ``None`` (the scene of the run configured by ``own``,
    loaded as its training loaded it: a registered scene or the user's cube), a registered
    scene name, a cube file (any format :func:`~mssfe.data.readers.load_cube` reads; its CRS
    and transform are kept), a :class:`Scene` or :class:`Cube`, or an array ``(H, W, B)``
    (georeferenced by ``crs``/``transform`` when given). Every source gets the bands the
    run took from its own cube (:func:`take_run_bands`; ``n_bands``: how many it trained on).
    """
    pixels = _pixels_of(source, own, var=var, data_dir=data_dir, crs=crs, transform=transform)
    if source is None or n_bands is None:  # the run's own scene: loaded with its bands
        return pixels
    cube = take_run_bands(
        pixels.cube,
        own.data,
        n_bands=n_bands,
        wavelengths=pixels.wavelengths,
        good=pixels.good_bands,
    )
    return dataclasses.replace(pixels, cube=cube)


def take_run_bands(
    cube: np.ndarray,
    data: DataConfig,
    *,
    n_bands: int,
    wavelengths: np.ndarray | None = None,
    good: np.ndarray | None = None,
) -> np.ndarray:
    """The bands of ``cube`` ``(H, W, B)`` that a run configured with ``data`` takes: its
    band spec (``data.bands``), less the file's bad bands (``good`` False) unless it kept them.
    A cube that already has the ``n_bands`` bands the run trained on is taken as it is (an
    array cut beforehand, or a cube with nothing to drop)."""
    indices = run_band_indices(
        cube.shape[2], data, n_bands=n_bands, wavelengths=wavelengths, good=good
    )
    return cube if indices is None else np.ascontiguousarray(cube[:, :, indices])


def run_band_indices(
    n_source: int,
    data: DataConfig,
    *,
    n_bands: int,
    wavelengths: np.ndarray | None = None,
    good: np.ndarray | None = None,
) -> np.ndarray | None:
    """The positions of the bands a run configured with ``data`` takes from a cube of
    ``n_source`` bands (see :func:`take_run_bands`); None: all of them, as they are."""
    if n_source == n_bands:
        return None
    if data.bands is None and (good is None or data.keep_bad_bands):
        return None
    chosen = select_bands(
        n_source,
        data.bands,
        wavelengths=wavelengths,
        good=good,
        keep_bad=data.keep_bad_bands,
        name="data.bands",
    )
    return np.asarray(chosen.indices)


def _pixels_of(
    source: str | Path | np.ndarray | Scene | Cube | None,
    own: ResolvedRunConfig,
    *,
    var: str | None,
    data_dir: str | Path | None,
    crs: str | None,
    transform: Sequence[float] | None,
) -> Pixels:
    if isinstance(source, np.ndarray):
        georef = tuple(float(v) for v in transform) if transform is not None else None
        return Pixels(source, "array", False, crs, georef)
    if isinstance(source, (str, Path)) and _looks_like_file(source):
        source = load_cube(source, var)
    if isinstance(source, Cube):
        name = source.path.stem if source.path is not None else "cube"
        return Pixels(
            source.data,
            name,
            False,
            source.crs,
            source.transform,
            source.valid,
            source.wavelengths,
            source.good_bands,
        )
    if source is None:
        scene = load_scene_for(_with_data_dir(own, data_dir))
    elif isinstance(source, Scene):
        scene = source
    else:
        scene = load_scene(str(source), data_dir=data_dir)
    return Pixels(
        scene.require_cube(),
        scene.name,
        scene.simulated,
        scene.crs,
        scene.transform,
        scene.valid,
        scene.wavelengths,
        scene.good_bands,
    )


def _with_data_dir(config: ResolvedRunConfig, data_dir: str | Path | None) -> ResolvedRunConfig:
    """The run's config, its scene looked for first in ``data_dir`` when one is given."""
    if data_dir is None:
        return config
    return replace(config, data=replace(config.data, data_dir=str(data_dir)))


def without_no_data(result: PredictionResult, valid: np.ndarray | None) -> PredictionResult:
    """No data, no class: class 0 (as in a label map) and confidence 0 where ``~valid``."""
    if valid is None:
        return result
    probabilities = result.probabilities
    if probabilities is not None:
        probabilities = np.where(valid[..., None], probabilities, 0).astype(probabilities.dtype)
    return dataclasses.replace(
        result,
        class_map=np.where(valid, result.class_map, 0).astype(result.class_map.dtype),
        confidence=np.where(valid, result.confidence, 0).astype(result.confidence.dtype),
        probabilities=probabilities,
    )


@dataclass(frozen=True, eq=False)
class Prediction:
    """Every pixel of a scene classified by one run or an ensemble.

    ``class_map`` ``(H, W)`` int64 holds the label file's codes (Salinas-A: 1, 10-14), the
    same values as the training labels; ``probabilities`` ``(H, W, K)`` float32 (averaged over
    the runs; ``None`` when not asked for) and ``class_codes``/``class_names``/``colours`` are
    in one order, the network's output order; ``confidence`` ``(H, W)`` float32 is the winning
    class's probability. ``paths`` lists the files written when ``out`` was given.
    """

    class_map: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None
    class_codes: tuple[int, ...]
    class_names: tuple[str, ...]
    colours: tuple[str, ...]
    scene_name: str
    simulated: bool
    crs: str | None
    transform: tuple[float, ...] | None
    timings: Timings
    paths: dict[str, Path] = field(default_factory=dict)

    def class_index(self) -> np.ndarray:
        """``(H, W)`` positions 0..K-1 of each pixel's class in ``class_codes`` (the column of
        ``probabilities``)."""
        return codes_to_indices(self.class_map, self.class_codes) - 1


def _as_runs(
    runs: str | Path | LoadedRun | Sequence[str | Path | LoadedRun], device: str | torch.device
) -> tuple[LoadedRun, ...]:
    items = [runs] if isinstance(runs, (str, Path, LoadedRun)) else list(runs)
    return tuple(r if isinstance(r, LoadedRun) else load_run(r, device=device) for r in items)


@dataclass(frozen=True, eq=False)
class _Source:
    """A cube to classify behind the window-by-window interface, with its name."""

    cube: WindowedCube
    name: str
    simulated: bool


def _windowed_source(
    source: str | Path | np.ndarray | Scene | Cube | None,
    own: ResolvedRunConfig,
    *,
    var: str | None,
    data_dir: str | Path | None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    n_bands: int | None = None,
) -> _Source:
    """A cube file opened for reading by windows (never loaded whole, except the formats that
    cannot be read in parts); any other source as :func:`resolve_pixels` loads it. Either
    way the run's bands (``n_bands`` of them) are taken, as :func:`take_run_bands` says."""
    if isinstance(source, (str, Path)) and _looks_like_file(source):
        opened = open_cube_windowed(source, var)
        if n_bands is not None:
            indices = run_band_indices(
                opened.shape[2],
                own.data,
                n_bands=n_bands,
                wavelengths=opened.wavelengths,
                good=opened.good_bands,
            )
            if indices is not None:
                opened = opened.take_bands(indices)
        return _Source(opened, Path(source).stem, False)
    pixels = resolve_pixels(
        source, own, var=var, data_dir=data_dir, crs=crs, transform=transform, n_bands=n_bands
    )
    georef = tuple(pixels.transform[:6]) if pixels.transform is not None else None
    cube = as_windowed(pixels.cube, pixels.name, crs=pixels.crs, transform=georef,  # type: ignore[arg-type]
                       valid=pixels.valid)  # fmt: skip
    return _Source(cube, pixels.name, pixels.simulated)


def _predict_window(
    loaded: Sequence[LoadedRun],
    source: str | Path | np.ndarray | Scene | Cube | None,
    window: PixelWindow,
    *,
    out: str | Path | None,
    probabilities: bool,
    confidence: bool,
    var: str | None,
    data_dir: str | Path | None,
    crs: str | None,
    transform: Sequence[float] | None,
    tile_rows: int,
    batch_size: int,
    device: torch.device,
    tta: bool | None,
) -> Prediction:
    """:func:`predict` of a window: its tiles streamed from the source, gathered in memory."""
    first = loaded[0]
    opened = _windowed_source(source, first.config, var=var, data_dir=data_dir, crs=crs,
                              transform=transform, n_bands=first.preprocessor.n_bands)  # fmt: skip
    with opened.cube as cube:
        check_stream_inputs(loaded, cube, tile_rows, batch_size)
        check_window(window, cube.shape)
        shape = (window.height, window.width)
        class_map = np.zeros(shape, dtype=np.int64)
        conf = np.zeros(shape, dtype=np.float32)
        probs = np.zeros((*shape, first.n_classes), np.float32) if probabilities else None
        t0, forward, no_data = time.perf_counter(), 0.0, 0
        for tile in stream_tiles(loaded, cube, window, DistContext(), tile_rows=tile_rows,
                                 batch_size=batch_size, device=device, tta=tta,
                                 probabilities=probabilities):  # fmt: skip
            class_map[tile.r0 : tile.r1] = tile.class_index
            conf[tile.r0 : tile.r1] = tile.confidence
            if probs is not None and tile.probabilities is not None:
                probs[tile.r0 : tile.r1] = tile.probabilities
            forward += tile.forward_seconds
            no_data += tile.no_data
        crs_out, transform_out = cube.crs, shift_transform(cube.transform, window)
    warn_no_data(cube.path, no_data, shape[0] * shape[1])
    timings = Timings(time.perf_counter() - t0, forward, shape[0] * shape[1])
    result = PredictionResult(class_map, conf, timings, ((0, shape[0]),), probs)
    paths: dict[str, Path] = {}
    if out is not None:
        paths = write_prediction(
            out, result, class_names=first.class_names, colours=first.colours,
            class_codes=first.codes, crs=crs_out, transform=transform_out,
            simulated=opened.simulated, scene_name=opened.name, confidence=confidence,
            probabilities=probabilities,
            extra={"runs": [str(r.run_dir) for r in loaded],
                   "tta": [r.tta if tta is None else tta for r in loaded],
                   "window": window.text(), "source_shape": list(cube.shape)},
        )  # fmt: skip
    return Prediction(
        class_map=indices_to_codes(class_map, first.codes), confidence=conf,
        probabilities=probs, class_codes=first.codes, class_names=first.class_names,
        colours=first.colours, scene_name=opened.name, simulated=opened.simulated, crs=crs_out,
        transform=transform_out, timings=timings, paths=paths,
    )  # fmt: skip


def predict(
    runs: str | Path | LoadedRun | Sequence[str | Path | LoadedRun],
    source: str | Path | np.ndarray | Scene | Cube | None = None,
    *,
    out: str | Path | None = None,
    probabilities: bool = True,
    confidence: bool = True,
    var: str | None = None,
    data_dir: str | Path | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    tile_rows: int = 32,
    batch_size: int = 256,
    device: str = "auto",
    progress: bool = False,
    tta: bool | None = None,
    window: str | Sequence[int] | PixelWindow | None = None,
) -> Prediction:
    """Classify every pixel of ``source`` with trained run(s): ``mssfe predict`` in Python.

    ``runs``: a run directory, a :class:`LoadedRun` (from :func:`load_run`), or several of
    either, whose probabilities are averaged. ``source``: ``None`` (the first run's scene), a
    scene name, a cube file, a :class:`Scene`/:class:`Cube`, or a raw array ``(H, W, B)`` with
    the bands the runs were trained on (optionally georeferenced by ``crs``, ``transform``).
    ``out`` also writes the files of :func:`write_prediction` (GeoTIFFs in the label codes).
    ``tta``: average the 8 flips/rotations of every patch (None: as each run's recipe says).
    ``window``: classify only rows ``ROW0:ROW1`` and columns ``COL0:COL1`` (``"0:512,100:900"``
    or four integers, ends excluded) of the scene; a cube file is then read window by window,
    never whole, and the result's transform is the window's.
    """
    dev = resolve_device(device)
    loaded = _as_runs(runs, dev)
    if not loaded:
        raise ConfigError("predict needs at least one run")
    if window is not None:
        return _predict_window(
            loaded, source, parse_window(window), out=out, probabilities=probabilities,
            confidence=confidence, var=var, data_dir=data_dir, crs=crs, transform=transform,
            tile_rows=tile_rows, batch_size=batch_size, device=dev, tta=tta,
        )  # fmt: skip
    pixels = resolve_pixels(
        source,
        loaded[0].config,
        var=var,
        data_dir=data_dir,
        crs=crs,
        transform=transform,
        n_bands=loaded[0].preprocessor.n_bands,
    )
    result = predict_scene(
        list(loaded),
        pixels.cube,
        tile_rows=tile_rows,
        batch_size=batch_size,
        device=dev,
        progress=progress,
        probabilities=probabilities,
        tta=tta,
    )
    result = without_no_data(result, pixels.valid)
    first = loaded[0]
    paths: dict[str, Path] = {}
    if out is not None:
        paths = write_prediction(
            out,
            result,
            class_names=first.class_names,
            colours=first.colours,
            class_codes=first.codes,
            crs=pixels.crs,
            transform=pixels.transform,
            simulated=pixels.simulated,
            scene_name=pixels.name,
            confidence=confidence,
            probabilities=probabilities,
            extra={
                "runs": [str(r.run_dir) for r in loaded],
                "tta": [r.tta if tta is None else tta for r in loaded],
            },
        )
    return Prediction(
        class_map=indices_to_codes(result.class_map, first.codes),
        confidence=result.confidence,
        probabilities=result.probabilities,
        class_codes=first.codes,
        class_names=first.class_names,
        colours=first.colours,
        scene_name=pixels.name,
        simulated=pixels.simulated,
        crs=pixels.crs,
        transform=pixels.transform,
        timings=result.timings,
        paths=paths,
    )


@dataclass(frozen=True)
class PredictionRun:
    """What ``mssfe predict`` did: the source scene, the runs used, the result and its files."""

    scene_name: str
    simulated: bool
    runs: tuple[LoadedRun, ...]
    timings: Timings
    paths: dict[str, Path]
    tta_per_run: list[bool] = field(default_factory=list)  # test-time augmentation of each run
    result: PredictionResult | None = None  # None when streamed: the maps are only on disk

    @property
    def tta(self) -> bool:
        """Whether any run's probabilities averaged the 8 flips/rotations."""
        return any(self.tta_per_run)


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
    probabilities: bool = False,
    device: str = "auto",
    progress: bool = True,
    tta: bool | None = None,
    window: str | Sequence[int] | PixelWindow | None = None,
) -> PredictionRun | None:
    """Classify a scene (the first run's own, ``scene``, or a user ``cube``) with the runs'
    averaged probabilities and write the outputs into ``out``.

    A ``cube`` file, and any ``window`` (``"ROW0:ROW1,COL0:COL1"``, ends excluded), is
    streamed (:mod:`mssfe.workflows.predict_stream`): read tile by tile, never whole, and
    the maps written tile by tile, so a cube larger than memory can be classified.

    Under torchrun the row tiles are shared between ranks and gathered on rank 0, which writes;
    the other ranks return None. ``tta``: average the 8 flips/rotations of every patch (None:
    as each run's recipe says); recorded in prediction.json.
    """
    wanted = parse_window(window) if window is not None else None  # a typo fails at once
    ctx = init_distributed(resolve_device(device))
    if ctx.is_main:  # before any work: a prediction never ends in an unwritable --out
        check_output_dir(out)
    local = local_device(resolve_device(device), ctx)
    runs = tuple(load_run(d, device=local) for d in run_dirs)
    used = [run.tta if tta is None else tta for run in runs]
    if cube or wanted is not None:
        source = _windowed_source(Path(cube) if cube else scene, runs[0].config, var=var,
                                  data_dir=data_dir, n_bands=runs[0].preprocessor.n_bands)  # fmt: skip
        return _run_predict_streamed(
            runs, source, out, ctx, wanted, tile_rows=tile_rows, batch_size=batch_size,
            confidence=confidence, probabilities=probabilities, device=local,
            progress=progress, tta=tta, used=used,
        )  # fmt: skip
    pixels = resolve_pixels(
        Path(cube) if cube else scene,
        runs[0].config,
        var=var,
        data_dir=data_dir,
        n_bands=runs[0].preprocessor.n_bands,
    )
    result = predict_scene(
        list(runs),
        pixels.cube,
        tile_rows=tile_rows,
        batch_size=batch_size,
        progress=progress and ctx.is_main,
        rank=ctx.rank,
        world_size=ctx.world_size,
        probabilities=probabilities,
        tta=tta,
    )
    if ctx.enabled:
        parts = ctx.gather_objects(result)
        shutdown(ctx)
        if not ctx.is_main:
            return None
        result = assemble(parts, pixels.cube.shape[:2])
    result = without_no_data(result, pixels.valid)
    paths = write_prediction(
        out,
        result,
        class_names=runs[0].class_names,
        colours=runs[0].colours,
        class_codes=runs[0].codes,
        crs=pixels.crs,
        transform=pixels.transform,
        simulated=pixels.simulated,
        scene_name=pixels.name,
        confidence=confidence,
        probabilities=probabilities,
        extra={"runs": [str(r.run_dir) for r in runs], "tta": used},
    )
    return PredictionRun(
        pixels.name, pixels.simulated, runs, result.timings, paths, used, result=result
    )


def _run_predict_streamed(
    runs: tuple[LoadedRun, ...],
    source: _Source,
    out: str | Path,
    ctx: DistContext,
    window: PixelWindow | None,
    *,
    tile_rows: int,
    batch_size: int,
    confidence: bool,
    probabilities: bool,
    device: torch.device,
    progress: bool,
    tta: bool | None,
    used: list[bool],
) -> PredictionRun | None:
    """:func:`run_predict` tile by tile: each rank classifies its own tiles, rank 0 writes."""
    with source.cube as cube:
        check_stream_inputs(runs, cube, tile_rows, batch_size)
        region = check_window(window or PixelWindow.whole(cube.shape), cube.shape)
        tiles = stream_tiles(runs, cube, region, ctx, tile_rows=tile_rows, batch_size=batch_size,
                             device=device, tta=tta, probabilities=probabilities)  # fmt: skip
        if not ctx.is_main:
            for _ in tiles:  # the collectives of each round happen inside
                pass
            shutdown(ctx)
            return None
        first = runs[0]
        style = MapStyle(first.class_names, first.colours, first.codes, cube.crs,
                         shift_transform(cube.transform, region))  # fmt: skip
        maps = write_streamed(
            out, tiles, (region.height, region.width), style, scene_name=source.name,
            simulated=source.simulated, confidence=confidence, probabilities=probabilities,
            progress=progress,
            extra={
                "runs": [str(r.run_dir) for r in runs], "tta": used, "streamed": True,
                "window": region.text(), "source": str(cube.path),
                "source_shape": list(cube.shape), "read_by_windows": cube.windowed,
                "tile_rows": tile_rows, "ranks": ctx.world_size,
                "preprocessor": "each run's own preprocessor.npz, fitted when it was trained "
                "(not refitted on this cube)",
                "no_data_fill": "the first run's band means (for neighbouring patches)",
            },
        )  # fmt: skip
    shutdown(ctx)
    warn_no_data(cube.path, maps.no_data, region.height * region.width)
    return PredictionRun(source.name, source.simulated, runs, maps.timings, maps.paths, used)


__all__ = [
    "LoadedRun",
    "PixelWindow",
    "Pixels",
    "Prediction",
    "PredictionResult",
    "PredictionRun",
    "Timings",
    "assemble",
    "describe_timings",
    "load_best_model",
    "load_run",
    "predict",
    "predict_scene",
    "reflect_rows",
    "resolve_pixels",
    "run_predict",
    "tile_bounds",
    "tile_features",
    "write_prediction",
]
