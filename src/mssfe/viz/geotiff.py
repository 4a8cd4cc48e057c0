"""GIS-ready GeoTIFFs: class maps in the label file's own codes, and float rasters.

Every raster is a cloud-optimised GeoTIFF (GDAL's COG driver through rasterio: 256 x 256
tiles, DEFLATE, internal overviews when the raster is larger than one tile), built in memory
(rasterio ``MemoryFile``) and written atomically, so a reader never sees half a file. The
input's CRS (WKT) and affine transform are kept when given.

A class map holds the label file's codes (Salinas-A: 1, 10-14), not the network's indices,
with 0 = no class (nodata). What a GIS needs to show it travels with it:

- a colour table, indexed by code (the class colours; 0 transparent);
- ``CLASS_<code>`` tags and ``CLASS_CODES`` in the TIFF's GDAL metadata;
- a sidecar ``<name>.tif.aux.xml`` (GDAL's PAM file, read by GDAL and QGIS when the raster is
  opened) with the band's category names (one per pixel value) and a thematic raster
  attribute table: value, class name, red, green, blue, alpha and pixel count of each class.

Overviews of a class map are resampled with MODE (the most frequent class), of a float
raster with AVERAGE.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from mssfe.errors import DataError
from mssfe.utils.atomic import atomic_write_bytes, atomic_write_text
from mssfe.viz.colours import hex_to_rgb

BLOCK_SIZE = 256

# GDAL raster attribute table field types and usages (gdal.h: GDALRATFieldType/Usage)
_GFT_INTEGER, _GFT_STRING = 0, 2
_GFU_GENERIC, _GFU_PIXEL_COUNT, _GFU_NAME, _GFU_MIN_MAX = 0, 1, 2, 5
_GFU_RED, _GFU_GREEN, _GFU_BLUE, _GFU_ALPHA = 6, 7, 8, 9


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


def _write_cog(
    path: str | Path,
    bands: np.ndarray,
    profile: dict[str, Any],
    *,
    resampling: str,
    colormap: dict[int, Any] | None = None,
    tags: dict[str, str] | None = None,
    descriptions: Sequence[str] = (),
) -> None:
    """Bands ``(C, H, W)`` as a cloud-optimised GeoTIFF at ``path`` (atomically)."""
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    count, height, width = bands.shape
    full = {
        "driver": "COG",
        "height": height,
        "width": width,
        "count": count,
        "dtype": bands.dtype.name,
        "compress": "DEFLATE",
        "blocksize": BLOCK_SIZE,
        "overview_resampling": resampling,
        **profile,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as memfile:
            with memfile.open(**full) as dataset:
                dataset.write(bands)
                if colormap is not None:
                    dataset.write_colormap(1, colormap)
                for index, text in enumerate(descriptions, start=1):
                    dataset.set_band_description(index, text)
                dataset.update_tags(**(tags or {}))
            data = memfile.read()
    atomic_write_bytes(path, data)


def check_class_codes(class_names: Sequence[str], codes: Sequence[int] | None) -> list[int]:
    """The label file's code of each class (default ``1..K``): distinct integers in 1..65535."""
    values = [int(c) for c in codes] if codes is not None else list(range(1, len(class_names) + 1))
    if len(values) != len(class_names):
        raise DataError(
            "one code per class", field="class_codes", expected=len(class_names), got=len(values)
        )
    if len(set(values)) != len(values) or any(not 0 < v <= 65535 for v in values):
        raise DataError(
            "class codes must be distinct integers in 1..65535 (0 is nodata)",
            field="class_codes",
            got=values,
        )
    return values


def indices_to_codes(index_map: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """Map ``(H, W)`` of class indices 0..K (0 = none) -> the label file's codes (0 stays)."""
    lut = np.array([0, *codes], dtype=np.int64)
    index_map = np.asarray(index_map)
    if index_map.size and (index_map.min() < 0 or index_map.max() > len(codes)):
        raise DataError(
            "class indices outside 0..K",
            field="class_map",
            expected=f"0..{len(codes)}",
            got=f"{index_map.min()}..{index_map.max()}",
        )
    return lut[index_map]


def codes_to_indices(code_map: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """The inverse of :func:`indices_to_codes`; a value that is no class's code is an error."""
    code_map = np.asarray(code_map, dtype=np.int64)
    known = np.array([0, *codes], dtype=np.int64)
    order = np.argsort(known)
    position = np.searchsorted(known, code_map, sorter=order)
    position = np.clip(position, 0, len(known) - 1)
    found = known[order[position]] == code_map
    if not found.all():
        bad = np.unique(code_map[~found])
        raise DataError(
            "class map values that are no class's code",
            field="class_map",
            expected=f"0 or one of {list(codes)}",
            got=bad[:10].tolist(),
        )
    return order[position].astype(np.int64)


def write_class_geotiff(
    path: str | Path,
    class_map: np.ndarray,
    class_names: Sequence[str],
    colours: Sequence[str],
    *,
    class_codes: Sequence[int] | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
) -> list[Path]:
    """Class map ``(H, W)`` in the label file's codes (0 = no class) as a COG with a colour
    table, category names and a raster attribute table (see the module docstring).

    ``class_codes[k]`` is the code of ``class_names[k]`` and ``colours[k]`` (default 1..K).
    uint8 when every code is below 256, else uint16. Returns the files written: the GeoTIFF
    and its ``.aux.xml``.
    """
    arr = np.asarray(class_map)
    if arr.ndim != 2:
        raise DataError(
            "class map must be 2-D", field="class_map", expected="(H, W)", got=arr.shape
        )
    codes = check_class_codes(class_names, class_codes)
    if len(colours) < len(codes):
        raise DataError(
            "one colour per class", field="colours", expected=len(codes), got=len(colours)
        )
    index_map = codes_to_indices(arr, codes)  # also checks that every value is a known code
    dtype = np.uint8 if max(codes) <= 255 else np.uint16
    rgba = [(*hex_to_rgb(colour), 255) for colour in colours[: len(codes)]]
    colormap: dict[int, Any] = {0: (0, 0, 0, 0)}
    colormap.update(zip(codes, rgba, strict=True))
    tags = {f"CLASS_{code}": name for code, name in zip(codes, class_names, strict=True)}
    tags["CLASS_CODES"] = ",".join(str(c) for c in codes)
    profile = {**_georef(crs, transform), "nodata": 0}
    path = Path(path)
    _write_cog(
        path,
        arr.astype(dtype)[None],
        profile,
        resampling="MODE",
        colormap=colormap,
        tags=tags,
        descriptions=["class"],
    )
    counts = np.bincount(index_map.ravel(), minlength=len(codes) + 1)[1:]
    aux = aux_xml_path(path)
    atomic_write_text(aux, class_aux_xml(codes, class_names, rgba, counts.tolist()))
    return [path, aux]


def aux_xml_path(path: str | Path) -> Path:
    """GDAL's PAM sidecar of a raster: ``class_map.tif`` -> ``class_map.tif.aux.xml``."""
    return Path(f"{path}.aux.xml")


def class_aux_xml(
    codes: Sequence[int],
    class_names: Sequence[str],
    rgba: Sequence[tuple[int, int, int, int]],
    counts: Sequence[int],
) -> str:
    """GDAL PAM XML for band 1: category names (index = pixel value) and a thematic RAT."""
    by_code = dict(zip(codes, class_names, strict=True))
    categories = [by_code.get(value, "") for value in range(max(codes) + 1)]
    fields = [
        ("Value", _GFT_INTEGER, _GFU_MIN_MAX),
        ("Class", _GFT_STRING, _GFU_NAME),
        ("Red", _GFT_INTEGER, _GFU_RED),
        ("Green", _GFT_INTEGER, _GFU_GREEN),
        ("Blue", _GFT_INTEGER, _GFU_BLUE),
        ("Alpha", _GFT_INTEGER, _GFU_ALPHA),
        ("Count", _GFT_INTEGER, _GFU_PIXEL_COUNT),
    ]
    lines = [
        "<PAMDataset>",
        '  <PAMRasterBand band="1">',
        "    <Description>class</Description>",
        "    <CategoryNames>",
        *(f"      <Category>{escape(name)}</Category>" for name in categories),
        "    </CategoryNames>",
        '    <GDALRasterAttributeTable tableType="thematic">',
        *(
            f'      <FieldDefn index="{i}"><Name>{name}</Name><Type>{kind}</Type>'
            f"<Usage>{usage}</Usage></FieldDefn>"
            for i, (name, kind, usage) in enumerate(fields)
        ),
    ]
    for row, (code, name, colour, count) in enumerate(
        zip(codes, class_names, rgba, counts, strict=True)
    ):
        values = [str(code), escape(name), *(str(c) for c in colour), str(int(count))]
        cells = "".join(f"<F>{v}</F>" for v in values)
        lines.append(f'      <Row index="{row}">{cells}</Row>')
    lines += ["    </GDALRasterAttributeTable>", "  </PAMRasterBand>", "</PAMDataset>"]
    return "\n".join(lines) + "\n"


def write_float_geotiff(
    path: str | Path,
    raster: np.ndarray,
    *,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    description: str | Sequence[str] = "confidence",
) -> None:
    """A float32 raster ``(H, W)`` (e.g. the per-pixel maximum probability) or a stack
    ``(H, W, C)`` (e.g. one probability band per class, described by ``description``)."""
    arr = np.asarray(raster, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise DataError(
            "raster must be 2-D or 3-D",
            field="raster",
            expected="(H, W) or (H, W, C)",
            got=arr.shape,
        )
    bands = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    names = [description] if isinstance(description, str) else list(description)
    if len(names) != bands.shape[0]:
        raise DataError(
            "one description per band", field="description", expected=bands.shape[0], got=len(names)
        )
    _write_cog(
        path,
        np.ascontiguousarray(bands),
        _georef(crs, transform),
        resampling="AVERAGE",
        descriptions=names,
    )


def read_geotiff(path: str | Path) -> dict[str, Any]:
    """The first band, CRS (WKT), transform (6 numbers), colour table, tags, band
    descriptions, block shape, compression and overview factors of a GeoTIFF."""
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
                "count": dataset.count,
                "crs": dataset.crs.to_wkt() if dataset.crs else None,
                "transform": tuple(float(v) for v in tuple(dataset.transform)[:6]),
                "colormap": colormap,
                "tags": dataset.tags(),
                "dtype": dataset.dtypes[0],
                "nodata": dataset.nodata,
                "descriptions": dataset.descriptions,
                "block_shape": dataset.block_shapes[0],
                "compression": dataset.compression.value if dataset.compression else None,
                "overviews": dataset.overviews(1),
                "layout": dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
            }
