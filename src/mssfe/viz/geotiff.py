"""GeoTIFF export of class maps (with a colour table) and float rasters (confidence).

The raster is built in memory (rasterio ``MemoryFile``) and written atomically, so a reader
never sees half a file. The input's CRS (WKT) and affine transform are kept when given.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mssfe.errors import DataError
from mssfe.utils.atomic import atomic_write_bytes
from mssfe.viz.colours import hex_to_rgb


def _georef(crs: str | None, transform: Sequence[float] | None) -> dict[str, Any]:
    from affine import Affine
    from rasterio.crs import CRS

    profile: dict[str, Any] = {}
    if crs is not None:
        profile["crs"] = CRS.from_user_input(crs)
    if transform is not None:
        values = [float(v) for v in transform]
        if len(values) < 6:
            raise DataError("affine transform needs 6 numbers", field="transform", got=values)
        profile["transform"] = Affine(*values[:6])
    return profile


def _write(
    path: str | Path,
    array: np.ndarray,
    profile: dict[str, Any],
    colormap: dict[int, Any] | None,
    tags: dict[str, str],
    descriptions: str | None,
) -> None:
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    height, width = array.shape
    full = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 1,
        "dtype": array.dtype.name,
        "compress": "deflate",
        **profile,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as memfile:
            with memfile.open(**full) as dataset:
                dataset.write(array, 1)
                if colormap is not None:
                    dataset.write_colormap(1, colormap)
                if descriptions:
                    dataset.set_band_description(1, descriptions)
                dataset.update_tags(**tags)
            data = memfile.read()
    atomic_write_bytes(path, data)


def write_class_geotiff(
    path: str | Path,
    class_map: np.ndarray,
    class_names: Sequence[str],
    colours: Sequence[str],
    *,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
) -> None:
    """Class map ``(H, W)`` 0..K (0 = none) as uint8 (uint16 above 255 classes), nodata 0,
    with a colour table of the class colours and the class names as tags."""

    arr = np.asarray(class_map)
    if arr.ndim != 2:
        raise DataError(
            "class map must be 2-D", field="class_map", expected="(H, W)", got=arr.shape
        )
    n_classes = len(class_names)
    if len(colours) < n_classes:
        raise DataError(
            "one colour per class", field="colours", expected=n_classes, got=len(colours)
        )
    if arr.size and (arr.min() < 0 or arr.max() > n_classes):
        raise DataError(
            "class map values outside 0..K",
            field="class_map",
            expected=f"0..{n_classes}",
            got=f"{arr.min()}..{arr.max()}",
        )
    dtype = np.uint8 if n_classes <= 255 else np.uint16
    colormap: dict[int, Any] = {0: (0, 0, 0, 0)}
    for index, colour in enumerate(colours[:n_classes], start=1):
        colormap[index] = (*hex_to_rgb(colour), 255)
    tags = {f"CLASS_{i}": name for i, name in enumerate(class_names, start=1)}
    profile = {**_georef(crs, transform), "nodata": 0}
    if dtype == np.uint16:
        profile["photometric"] = "palette"
    _write(path, arr.astype(dtype), profile, colormap, tags, "class")


def write_float_geotiff(
    path: str | Path,
    raster: np.ndarray,
    *,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    description: str = "confidence",
) -> None:
    """A float32 raster ``(H, W)`` (e.g. the per-pixel maximum probability)."""
    arr = np.asarray(raster, dtype=np.float32)
    if arr.ndim != 2:
        raise DataError("raster must be 2-D", field="raster", expected="(H, W)", got=arr.shape)
    _write(path, arr, _georef(crs, transform), None, {}, description)


def read_geotiff(path: str | Path) -> dict[str, Any]:
    """The first band, CRS (WKT), transform (6 numbers), colour table and tags of a GeoTIFF."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as dataset:
            band = dataset.read(1)
            try:
                colormap = dataset.colormap(1)
            except ValueError:
                colormap = None
            return {
                "array": band,
                "crs": dataset.crs.to_wkt() if dataset.crs else None,
                "transform": tuple(float(v) for v in tuple(dataset.transform)[:6]),
                "colormap": colormap,
                "tags": dataset.tags(),
                "dtype": dataset.dtypes[0],
                "nodata": dataset.nodata,
            }
