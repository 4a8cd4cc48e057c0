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

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _ClassStyle:
    """What a GIS needs beside a class map's pixels: dtype, colour table, tags, RGBA."""

    dtype: type[np.unsignedinteger[Any]]
    colormap: dict[int, Any]
    tags: dict[str, str]
    rgba: list[tuple[int, int, int, int]]


def _class_style(
    codes: Sequence[int], class_names: Sequence[str], colours: Sequence[str]
) -> _ClassStyle:
    """uint8 when every code is below 256, else uint16; colour table indexed by code (0
    transparent); ``CLASS_<code>`` and ``CLASS_CODES`` tags."""
    if len(colours) < len(codes):
        raise DataError(
            "one colour per class", field="colours", expected=len(codes), got=len(colours)
        )
    dtype = np.uint8 if max(codes) <= 255 else np.uint16
    rgba = [(*hex_to_rgb(colour), 255) for colour in colours[: len(codes)]]
    colormap: dict[int, Any] = {0: (0, 0, 0, 0)}
    colormap.update(zip(codes, rgba, strict=True))
    tags = {f"CLASS_{code}": name for code, name in zip(codes, class_names, strict=True)}
    tags["CLASS_CODES"] = ",".join(str(c) for c in codes)
    return _ClassStyle(dtype, colormap, tags, rgba)


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
    style = _class_style(codes, class_names, colours)
    index_map = codes_to_indices(arr, codes)  # also checks that every value is a known code
    profile = {**_georef(crs, transform), "nodata": 0}
    path = Path(path)
    _write_cog(
        path,
        arr.astype(style.dtype)[None],
        profile,
        resampling="MODE",
        colormap=style.colormap,
        tags=style.tags,
        descriptions=["class"],
    )
    counts = np.bincount(index_map.ravel(), minlength=len(codes) + 1)[1:]
    aux = aux_xml_path(path)
    atomic_write_text(aux, class_aux_xml(codes, class_names, style.rgba, counts.tolist()))
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


# ---------------------------------------------------------------------------------------------
# Rasters larger than memory: written window by window
# ---------------------------------------------------------------------------------------------

GDAL_CACHE_MB = 64  # GDAL's block cache while streaming (its default is 5% of the RAM)


class TiledGeoTiffWriter:
    """A raster ``(C, H, W)`` written a few rows at a time, never held whole.

    The rows go into a tiled (256 x 256), DEFLATE-compressed GeoTIFF beside ``path``
    (``<path>.partial.tif``); :meth:`close` copies it with GDAL's COG driver (which reads it
    block by block and builds the overviews) into a cloud-optimised GeoTIFF at ``path``, moved
    in by rename, and deletes the partial file. GDAL's block cache is held to
    ``GDAL_CACHE_MB`` meanwhile, so memory does not grow with the raster. Close writers in the
    reverse order of opening (each holds a ``rasterio.Env``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        height: int,
        width: int,
        count: int,
        dtype: Any,
        profile: dict[str, Any],
        resampling: str,
        colormap: dict[int, Any] | None = None,
        tags: dict[str, str] | None = None,
        descriptions: Sequence[str] = (),
    ) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        self.path = Path(path)
        self.partial = Path(f"{self.path}.partial.tif")
        self.shape = (count, height, width)
        self.dtype = np.dtype(dtype)
        self._resampling = resampling
        self._env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)
        self._env.__enter__()
        full = {
            "driver": "GTiff", "height": height, "width": width, "count": count,
            "dtype": self.dtype.name, "tiled": True, "blockxsize": BLOCK_SIZE,
            "blockysize": BLOCK_SIZE, "compress": "DEFLATE", "BIGTIFF": "IF_SAFER", **profile,
        }  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._dataset = rasterio.open(self.partial, "w", **full)
            if colormap is not None:
                self._dataset.write_colormap(1, colormap)
            for index, text in enumerate(descriptions, start=1):
                self._dataset.set_band_description(index, text)
            self._dataset.update_tags(**(tags or {}))
        except BaseException:
            self._env.__exit__(None, None, None)
            raise

    def write_rows(self, row0: int, bands: np.ndarray) -> None:
        """Rows ``row0 .. row0 + h - 1`` of every band: ``bands`` ``(C, h, W)``."""
        from rasterio.windows import Window

        count, height, width = self.shape
        if bands.ndim != 3 or bands.shape[0] != count or bands.shape[2] != width:
            raise DataError("rows do not match the raster", field="bands",
                            expected=f"({count}, h, {width})", got=bands.shape)  # fmt: skip
        if not 0 <= row0 <= height - bands.shape[1]:
            raise DataError("rows outside the raster", field="row0",
                            expected=f"0..{height - bands.shape[1]}", got=row0)  # fmt: skip
        window = Window(0, row0, width, bands.shape[1])
        self._dataset.write(bands.astype(self.dtype, copy=False), window=window)

    def close(self) -> Path:
        """Finish the partial file and turn it into the COG at ``path``."""
        import rasterio.shutil

        try:
            self._dataset.close()
            staged = Path(f"{self.path}.cog.tif")
            rasterio.shutil.copy(
                self.partial, staged, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=BLOCK_SIZE,
                OVERVIEW_RESAMPLING=self._resampling, BIGTIFF="IF_SAFER",
            )  # fmt: skip
            os.replace(staged, self.path)
        finally:
            self.partial.unlink(missing_ok=True)
            self._env.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Close without a COG; the partial file is removed."""
        try:
            self._dataset.close()
        finally:
            self.partial.unlink(missing_ok=True)
            self._env.__exit__(None, None, None)


class ClassMapWriter(TiledGeoTiffWriter):
    """A class map in the label file's codes (0 = no class), streamed, with the colour table,
    tags and ``.aux.xml`` (category names, attribute table with the pixel counts counted as
    the rows arrive) of :func:`write_class_geotiff`."""

    def __init__(
        self,
        path: str | Path,
        *,
        height: int,
        width: int,
        class_names: Sequence[str],
        colours: Sequence[str],
        class_codes: Sequence[int] | None = None,
        crs: str | None = None,
        transform: Sequence[float] | None = None,
    ) -> None:
        self.codes = check_class_codes(class_names, class_codes)
        self.class_names = list(class_names)
        self._style = _class_style(self.codes, class_names, colours)
        self.counts = np.zeros(len(self.codes), dtype=np.int64)
        super().__init__(
            path, height=height, width=width, count=1, dtype=self._style.dtype,
            profile={**_georef(crs, transform), "nodata": 0}, resampling="MODE",
            colormap=self._style.colormap, tags=self._style.tags, descriptions=["class"],
        )  # fmt: skip

    def write_codes(self, row0: int, code_rows: np.ndarray) -> None:
        """Rows ``(h, W)`` of label codes (0 = no class) from ``row0`` on."""
        index = codes_to_indices(code_rows, self.codes)  # checks every value is a known code
        self.counts += np.bincount(index.ravel(), minlength=len(self.codes) + 1)[1:]
        self.write_rows(row0, np.asarray(code_rows)[None])

    def close(self) -> Path:
        path = super().close()
        atomic_write_text(
            aux_xml_path(path),
            class_aux_xml(self.codes, self.class_names, self._style.rgba, self.counts.tolist()),
        )
        return path


def float_geotiff_writer(
    path: str | Path,
    *,
    height: int,
    width: int,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    description: str | Sequence[str] = "confidence",
) -> TiledGeoTiffWriter:
    """A float32 raster (one band per description), streamed: :func:`write_float_geotiff`'s
    file, written by rows."""
    names = [description] if isinstance(description, str) else list(description)
    return TiledGeoTiffWriter(
        path, height=height, width=width, count=len(names), dtype=np.float32,
        profile=_georef(crs, transform), resampling="AVERAGE", descriptions=names,
    )  # fmt: skip


def read_geotiff_preview(path: str | Path, max_side: int = 2048) -> np.ndarray:
    """The first band of a GeoTIFF, decimated (nearest neighbour, from its overviews when it
    has them) so that neither side exceeds ``max_side``: a picture of a map too big to load."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(path) as dataset:
            step = max(1, -(-max(dataset.height, dataset.width) // max_side))
            shape = (-(-dataset.height // step), -(-dataset.width // step))
            return dataset.read(1, out_shape=shape, resampling=Resampling.nearest)
