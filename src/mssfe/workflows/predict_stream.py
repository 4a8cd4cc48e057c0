"""Classify a cube larger than memory: read it tile by tile, write the maps tile by tile.

The cube stays on disk (:func:`~mssfe.data.windowed.open_cube_windowed`: ENVI and ``.npy`` by
positioned reads, GeoTIFF through rasterio windows, MATLAB v7.3 / HDF5 through h5py slices).
A tile of ``tile_rows`` rows of the window being classified is read with a halo of
``p // 2`` rows and columns on each side (taken from the scene around the window, mirrored
only at the scene's own border, as :func:`~mssfe.data.patches.pad_cube` pads a whole cube),
preprocessed by each run's own fitted preprocessor (``preprocessor.npz``, fitted at training
time; nothing is refitted on the new cube) and classified. Its rows go straight into the
output files: a tiled, DEFLATE-compressed GeoTIFF per raster (turned into a cloud-optimised
GeoTIFF by GDAL's COG driver at the end, block by block) and ``.npy`` files written row after
row. Memory is one tile, its halo and one batch of patches, whatever the cube's size.

Under torchrun the tiles are dealt round-robin (:func:`tile_rounds`): each rank reads and
classifies only its own tiles; after each round of one tile per rank, rank 0 receives the
round's rows and writes them, so it too holds only one round at a time.

No-data pixels (the file's nodata / mask / ``data ignore value``, and any non-finite value)
get class 0 and confidence 0; for their neighbours' patches they are filled with the first
run's band means (the training pixels' mean, a neutral 0 after standardisation). The
in-memory path fills them with each band's median over the whole cube instead, which a
stream cannot know; pixels near no data may therefore differ between the two.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mssfe.data.windowed import WindowedCube
from mssfe.errors import ConfigError, DataError, MssfeError
from mssfe.training.distributed import DistContext
from mssfe.training.rundir import PREDICTION_RECORD, PredictionDir
from mssfe.utils.atomic import atomic_write_json
from mssfe.utils.outdir import output_set
from mssfe.viz.geotiff import (
    ClassMapWriter,
    TiledGeoTiffWriter,
    codes_to_indices,
    float_geotiff_writer,
    indices_to_codes,
    read_geotiff_preview,
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
    tile_bounds,
)

PNG_MAX_SIDE = 2048  # class_map.png of a bigger map is drawn from a decimated read


# ---------------------------------------------------------------------------------------------
# The region to classify
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelWindow:
    """Rows ``[row0, row1)`` and columns ``[col0, col1)`` of a scene."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    def text(self) -> str:
        return f"{self.row0}:{self.row1},{self.col0}:{self.col1}"

    @classmethod
    def whole(cls, shape: Sequence[int]) -> PixelWindow:
        return cls(0, int(shape[0]), 0, int(shape[1]))


_WINDOW = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_window(value: str | Sequence[int] | PixelWindow) -> PixelWindow:
    """``"ROW0:ROW1,COL0:COL1"`` (or four integers) as a :class:`PixelWindow`; ends excluded."""
    if isinstance(value, PixelWindow):
        return value
    if isinstance(value, str):
        match = _WINDOW.match(value)
        if match is None:
            raise ConfigError(
                "window must be ROW0:ROW1,COL0:COL1 (non-negative integers, ends excluded)",
                field="window",
                expected="e.g. 0:512,100:900",
                got=repr(value),
            )
        return PixelWindow(*(int(g) for g in match.groups()))
    numbers = list(value)
    if len(numbers) != 4 or not all(isinstance(v, (int, np.integer)) for v in numbers):
        raise ConfigError("window must be four integers (row0, row1, col0, col1)",
                          field="window", got=repr(value))  # fmt: skip
    return PixelWindow(*(int(v) for v in numbers))


def check_window(window: PixelWindow, shape: Sequence[int]) -> PixelWindow:
    """The window lies inside a cube of ``shape`` ``(H, W, B)`` and is not empty."""
    height, width = int(shape[0]), int(shape[1])
    inside = 0 <= window.row0 < window.row1 <= height and 0 <= window.col0 < window.col1 <= width
    if not inside:
        raise ConfigError(
            "window must be a non-empty region inside the cube (rows 0..H, columns 0..W, "
            "ends excluded)",
            field="window",
            expected=f"ROW0 < ROW1 <= {height}, COL0 < COL1 <= {width} "
            f"(cube {' x '.join(str(int(s)) for s in shape)})",
            got=window.text(),
        )
    return window


def shift_transform(
    transform: Sequence[float] | None, window: PixelWindow
) -> tuple[float, ...] | None:
    """The affine transform ``(a, b, c, d, e, f)`` of the window's pixels: the scene's, moved
    to its top-left corner (``rasterio.windows.transform``)."""
    if transform is None:
        return None
    a, b, c, d, e, f = (float(v) for v in list(transform)[:6])
    return (
        a,
        b,
        a * window.col0 + b * window.row0 + c,
        d,
        e,
        d * window.col0 + e * window.row0 + f,
    )


# ---------------------------------------------------------------------------------------------
# Which rank classifies which tile
# ---------------------------------------------------------------------------------------------


def tile_rounds(
    height: int, tile_rows: int, world_size: int
) -> list[tuple[tuple[int, int] | None, ...]]:
    """Tiles of ``tile_rows`` rows over ``height`` rows, dealt round-robin: round ``i`` gives
    rank ``r`` tile ``i * world_size + r`` (None when the tiles ran out). Rank ``r``'s tiles
    are ``tile_bounds(height, tile_rows)[r::world_size]``; read in round order, rank by rank,
    the tiles come top to bottom."""
    if world_size < 1:
        raise ConfigError(f"world_size must be at least 1, got {world_size}")
    tiles: list[tuple[int, int] | None] = list(tile_bounds(height, tile_rows))
    tiles += [None] * (-len(tiles) % world_size)
    return [tuple(tiles[i : i + world_size]) for i in range(0, len(tiles), world_size)]


# ---------------------------------------------------------------------------------------------
# One tile
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TileResult:
    """Rows ``[r0, r1)`` of the window: class indices ``(h, w)`` int64 in 1..K (0 = no data),
    confidence ``(h, w)`` float32 (0 = no data), optionally probabilities ``(h, w, K)``."""

    r0: int
    r1: int
    class_index: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray | None
    no_data: int
    forward_seconds: float


def read_tile(
    cube: WindowedCube, window: PixelWindow, r0: int, r1: int, radius: int, fill: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows ``[r0, r1)`` of ``window`` with a halo of ``radius`` on every side, as stored:
    ``(h + 2r, w + 2r, B)``, and the tile's valid pixels ``(h, w)`` (None: all valid).
    No-data and non-finite pixels of the halo are replaced by ``fill`` ``(B,)``."""
    height, width = cube.shape[:2]
    rows = reflect_rows(window.row0 + r0 - radius, window.row0 + r1 + radius, height)
    cols = reflect_rows(window.col0 - radius, window.col1 + radius, width)
    raw = cube.rows(rows)[:, cols]
    valid = cube.valid_rows(rows)
    if valid is not None:
        valid = valid[:, cols]
    if raw.dtype.kind == "f":
        finite = np.isfinite(raw).all(axis=-1)
        if not finite.all():
            valid = finite if valid is None else valid & finite
    if valid is None or valid.all():
        return raw, None
    raw = np.where(valid[..., None], raw, fill.astype(raw.dtype))
    centre = valid[radius : radius + r1 - r0, radius : radius + window.width]
    return raw, centre


def _run_features(run: LoadedRun, raw: np.ndarray, halo: int) -> np.ndarray:
    """The run's features of a tile read with ``halo``: ``(C, h + 2r, w + 2r)`` float32 for
    the run's own radius ``r <= halo``."""
    r = run.patch_size // 2
    cut = raw[halo - r : raw.shape[0] - (halo - r), halo - r : raw.shape[1] - (halo - r)]
    return np.ascontiguousarray(run.preprocessor.transform(cut).transpose(2, 0, 1))


def classify_tile(
    runs: Sequence[LoadedRun],
    cube: WindowedCube,
    window: PixelWindow,
    bounds: tuple[int, int],
    *,
    batch_size: int,
    device: torch.device,
    tta: bool | None,
    probabilities: bool,
) -> TileResult:
    """Read, preprocess and classify rows ``bounds`` of ``window``: the runs' probabilities
    averaged, as :func:`~mssfe.workflows.predict.predict_scene` does."""
    r0, r1 = bounds
    halo = max(run.patch_size // 2 for run in runs)
    raw, valid = read_tile(cube, window, r0, r1, halo, runs[0].preprocessor.band_mean)
    total: np.ndarray | None = None
    forward = 0.0
    for run in runs:
        feats = _run_features(run, raw, halo)
        use = run.tta if tta is None else tta
        probs, seconds = padded_probabilities(run, feats, window.width, batch_size, device, use)
        forward += seconds
        total = probs if total is None else total + probs
    assert total is not None  # runs is non-empty (checked by check_runs)
    mean = (total / len(runs)).reshape(r1 - r0, window.width, -1)
    class_index = mean.argmax(axis=2) + 1
    confidence = mean.max(axis=2)
    no_data = 0
    if valid is not None:
        no_data = int(valid.size - np.count_nonzero(valid))
        class_index = np.where(valid, class_index, 0)
        confidence = np.where(valid, confidence, 0).astype(np.float32)
        mean = np.where(valid[..., None], mean, 0).astype(np.float32)
    return TileResult(
        r0, r1, class_index.astype(np.int64), confidence, mean if probabilities else None,
        no_data, forward,
    )  # fmt: skip


def stream_tiles(
    runs: Sequence[LoadedRun],
    cube: WindowedCube,
    window: PixelWindow,
    ctx: DistContext,
    *,
    tile_rows: int,
    batch_size: int,
    device: torch.device,
    tta: bool | None,
    probabilities: bool,
) -> Iterator[TileResult]:
    """The window's tiles, top to bottom, on rank 0 (other ranks yield nothing): each rank
    classifies its own tiles of each round and rank 0 receives them."""
    for round_tiles in tile_rounds(window.height, tile_rows, ctx.world_size):
        mine = round_tiles[ctx.rank]
        result = None
        if mine is not None:
            result = classify_tile(
                runs, cube, window, mine, batch_size=batch_size, device=device, tta=tta,
                probabilities=probabilities,
            )  # fmt: skip
        parts = ctx.gather_objects(result)
        if ctx.is_main:
            yield from (part for part in parts if part is not None)


# ---------------------------------------------------------------------------------------------
# Where the rows go
# ---------------------------------------------------------------------------------------------


class NpyRowWriter:
    """An ``.npy`` file ``shape`` written rows first, top to bottom, never held whole."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self._handle: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by close())
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": shape}  # fmt: skip
        np.lib.format.write_array_header_2_0(self._handle, header)
        self._next = 0

    def write_rows(self, row0: int, rows: np.ndarray) -> None:
        if row0 != self._next or tuple(rows.shape[1:]) != self.shape[1:]:
            raise MssfeError(
                f"{self.path}: rows must come in order and shape (expected row {self._next}, "
                f"shape (h, {', '.join(map(str, self.shape[1:]))}); got row {row0}, "
                f"shape {rows.shape})"
            )
        self._handle.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self._next += rows.shape[0]

    def close(self) -> Path:
        self._handle.close()
        if self._next != self.shape[0]:
            raise MssfeError(f"{self.path}: {self._next} of {self.shape[0]} rows were written")
        return self.path

    def abort(self) -> None:
        self._handle.close()


@dataclass(frozen=True)
class StreamedMaps:
    """What a streamed prediction wrote: the files, pixel counts per class, no-data pixels,
    the timings."""

    paths: dict[str, Path]
    counts: np.ndarray
    no_data: int
    timings: Timings


@dataclass(frozen=True)
class MapStyle:
    """The classes of the map and the georeference of its pixels."""

    class_names: tuple[str, ...]
    colours: tuple[str, ...]
    class_codes: tuple[int, ...]
    crs: str | None
    transform: tuple[float, ...] | None


def _open_writers(
    out: PredictionDir,
    stack: ExitStack,
    shape: tuple[int, int],
    style: MapStyle,
    *,
    confidence: bool,
    probabilities: bool,
) -> dict[str, Any]:
    """One writer per output file; each is aborted (its partial file removed) on an error."""
    height, width = shape
    georef: dict[str, Any] = {"crs": style.crs, "transform": style.transform}
    writers: dict[str, Any] = {}

    def keep(name: str, writer: TiledGeoTiffWriter | NpyRowWriter) -> None:
        writers[name] = writer
        stack.callback(lambda: writer.abort() if name in writers else None)

    keep("class_map_tif", ClassMapWriter(
        out.class_map_tif, height=height, width=width, class_names=style.class_names,
        colours=style.colours, class_codes=style.class_codes, **georef,
    ))  # fmt: skip
    keep("class_map_npy", NpyRowWriter(out.class_map_npy, shape, np.int64))
    if confidence:
        keep("confidence_tif", float_geotiff_writer(out.confidence_tif, height=height,
                                                    width=width, **georef))  # fmt: skip
        keep("confidence_npy", NpyRowWriter(out.confidence_npy, shape, np.float32))
    if probabilities:
        names = [f"{c}: {n}" for c, n in zip(style.class_codes, style.class_names, strict=True)]
        keep("probabilities_tif", float_geotiff_writer(
            out.probabilities_tif, height=height, width=width, description=names, **georef,
        ))  # fmt: skip
        keep("probabilities_npy",
             NpyRowWriter(out.probabilities_npy, (*shape, len(names)), np.float32))  # fmt: skip
    return writers


def _write_tile(writers: dict[str, Any], tile: TileResult, codes: Sequence[int]) -> None:
    code_rows = indices_to_codes(tile.class_index, codes)
    writers["class_map_tif"].write_codes(tile.r0, code_rows)
    writers["class_map_npy"].write_rows(tile.r0, code_rows)
    if "confidence_tif" in writers:
        writers["confidence_tif"].write_rows(tile.r0, tile.confidence[None])
        writers["confidence_npy"].write_rows(tile.r0, tile.confidence)
    if "probabilities_tif" in writers:
        if tile.probabilities is None:
            raise MssfeError("a tile kept no probabilities")
        writers["probabilities_tif"].write_rows(tile.r0, np.moveaxis(tile.probabilities, -1, 0))
        writers["probabilities_npy"].write_rows(tile.r0, tile.probabilities)


def _close_writers(writers: dict[str, Any]) -> dict[str, Path]:
    """Close in the reverse order of opening (each GeoTIFF writer holds a rasterio.Env)."""
    paths: dict[str, Path] = {}
    for name in reversed(list(writers)):
        paths[name] = writers[name].close()
        del writers[name]
    return paths


def _save_png(out: PredictionDir, style: MapStyle, title: str) -> tuple[Path, tuple[int, ...]]:
    """class_map.png from the finished class map, decimated to PNG_MAX_SIDE a side."""
    code_map = read_geotiff_preview(out.class_map_tif, PNG_MAX_SIDE)
    index_map = codes_to_indices(code_map, style.class_codes)
    save_class_map_png(out.class_map_png, index_map, style.colours, style.class_names, title)
    return out.class_map_png, index_map.shape


def write_streamed(
    out_dir: str | Path,
    tiles: Iterator[TileResult],
    shape: tuple[int, int],
    style: MapStyle,
    *,
    scene_name: str,
    simulated: bool,
    confidence: bool,
    probabilities: bool,
    progress: bool = False,
    extra: dict[str, Any] | None = None,
) -> StreamedMaps:
    """Write ``tiles`` (top to bottom) into ``out_dir`` as they come: the files of
    :func:`~mssfe.workflows.predict.write_prediction`, replacing an earlier prediction there as
    one set with ``prediction.json`` last (:func:`~mssfe.utils.outdir.output_set`)."""
    final = Path(out_dir)
    counts = np.zeros(len(style.class_codes), dtype=np.int64)
    no_data, forward = 0, 0.0
    t_start = time.perf_counter()
    with output_set(final, PREDICTION_RECORD) as staging:
        out = PredictionDir(staging)
        with ExitStack() as stack:
            writers = _open_writers(out, stack, shape, style, confidence=confidence,
                                    probabilities=probabilities)  # fmt: skip
            bar = tqdm(total=shape[0] * shape[1], disable=not progress, unit="px", leave=False)
            for tile in tiles:
                _write_tile(writers, tile, style.class_codes)
                counts += np.bincount(tile.class_index.ravel(), minlength=len(counts) + 1)[1:]
                no_data += tile.no_data
                forward += tile.forward_seconds
                bar.update(tile.class_index.size)
            bar.close()
            seconds = time.perf_counter() - t_start
            paths = _close_writers(writers)
        title = f"Classification map: {prediction_title(scene_name, simulated)}"
        paths["class_map_png"], png_shape = _save_png(out, style, title)
        timings = Timings(seconds, forward, shape[0] * shape[1])
        record = prediction_record(
            scene_name=scene_name, simulated=simulated, shape=shape,
            class_codes=style.class_codes, class_names=style.class_names,
            colours=style.colours, counts=counts, crs=style.crs, transform=style.transform,
            timings=timings,
            extra={**(extra or {}), "no_data_pixels": no_data, "png_shape": list(png_shape)},
        )  # fmt: skip
        paths["json"] = out.record_file
        atomic_write_json(paths["json"], record)
    return StreamedMaps({k: final / p.name for k, p in paths.items()}, counts, no_data, timings)


def warn_no_data(source: Path, no_data: int, n_pixels: int) -> None:
    """Say how many pixels held no data, as the whole-cube reader does."""
    if no_data:
        warnings.warn(
            f"{source}: {no_data} of {n_pixels} pixels hold no data (no-data value, mask or "
            "non-finite values); they are excluded (0 in class maps)",
            UserWarning,
            stacklevel=3,
        )


def check_stream_inputs(
    runs: Sequence[LoadedRun], cube: WindowedCube, tile_rows: int, batch_size: int
) -> None:
    """As :func:`~mssfe.workflows.predict_core.check_runs`, on a cube known by its shape."""
    if cube.dtype.kind not in "iuf":
        raise DataError("cube is not numeric", file=cube.path,
                        expected="an integer or floating-point dtype", got=str(cube.dtype))  # fmt: skip
    check_runs(runs, cube.shape, tile_rows, batch_size)


__all__ = [
    "MapStyle",
    "NpyRowWriter",
    "PixelWindow",
    "StreamedMaps",
    "TileResult",
    "check_stream_inputs",
    "check_window",
    "classify_tile",
    "parse_window",
    "read_tile",
    "shift_transform",
    "stream_tiles",
    "tile_rounds",
    "warn_no_data",
    "write_streamed",
]
