"""Cubes read window by window, for scenes larger than memory (a flight line is 1-10 GB).

:func:`open_cube_windowed` gives a :class:`WindowedCube`: its shape, dtype and georeference are
known at once, and ``cube.rows(index)`` reads only the rows asked for, ``(len(index), W, B)``.
Each format reads through its own windowing: ENVI (BIP, BIL or BSQ) and ``.npy`` by positioned
reads of exactly the bytes of the rows asked for (no memory map: mapping a 10 GB file would by
itself break an address-space limit), GeoTIFF through rasterio windows (one per run of
consecutive rows) with GDAL's block cache bounded, MATLAB v7.3 / HDF5 through h5py slices. MATLAB v5 and ``.npz`` files cannot be
read in parts; they are loaded whole (and say so in ``windowed``).
No-data pixels (GeoTIFF nodata / masks, ENVI ``data ignore value``) come back in ``valid_rows``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mssfe.data.readers import (
    HDF5_SUFFIXES,
    MAT_SUFFIXES,
    TIFF_SUFFIXES,
    Transform,
    check_envi_size,
    envi_georef,
    envi_good_bands,
    envi_header_for,
    envi_ignore_value,
    envi_wavelengths,
    existing_file,
    load_cube,
)
from mssfe.errors import DataError

RowReader = Callable[[np.ndarray], np.ndarray]
GDAL_CACHE_MB = 64  # GDAL's block cache for windowed GeoTIFF reads


@dataclass(eq=False)
class WindowedCube:
    """A cube ``(H, W, B)`` on disk, read a few rows at a time."""

    path: Path
    shape: tuple[int, int, int]
    dtype: np.dtype[Any]
    read: RowReader  # sorted unique row indices -> (n, W, B)
    windowed: bool  # False: the format cannot be read in parts and was loaded whole
    crs: str | None = None
    transform: Transform | None = None
    read_valid: Callable[[np.ndarray], np.ndarray] | None = None  # rows -> (n, W) bool
    wavelengths: np.ndarray | None = None  # (B,) nm, from an ENVI header when present
    good_bands: np.ndarray | None = None  # (B,) bool, False for an ENVI bbl's bad bands
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

    def take_bands(self, indices: np.ndarray) -> WindowedCube:
        """The same file read with only the bands ``indices`` (a run's band selection): each
        row read still reads its rows, then keeps those bands."""
        indices = np.asarray(indices, dtype=np.int64)
        read = self.read

        def read_some(rows: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(read(rows)[..., indices])

        return dataclasses.replace(
            self,
            shape=(self.shape[0], self.shape[1], len(indices)),
            read=read_some,
            wavelengths=None if self.wavelengths is None else self.wavelengths[indices],
            good_bands=None if self.good_bands is None else self.good_bands[indices],
        )

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (any order, repeats allowed) as ``(len(index), W, B)``."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.shape[0]):
            raise DataError(
                "row outside the cube", file=self.path, expected=f"0..{self.shape[0] - 1}",
                got=f"{index.min()}..{index.max()}",
            )  # fmt: skip
        unique, inverse = np.unique(index, return_inverse=True)
        return self.read(unique)[inverse]

    def valid_rows(self, index: np.ndarray) -> np.ndarray | None:
        """``(len(index), W)`` bool, False where the file marks no data; None if it marks none."""
        if self.read_valid is None:
            return None
        unique, inverse = np.unique(np.asarray(index, dtype=np.int64), return_inverse=True)
        return self.read_valid(unique)[inverse]

    def close(self) -> None:
        self._close()

    def __enter__(self) -> WindowedCube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _runs(rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """Consecutive runs ``[start, stop)`` of sorted unique ``rows``."""
    if rows.size == 0:
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for part in np.split(rows, breaks):
        yield int(part[0]), int(part[-1]) + 1


def as_windowed(
    data: np.ndarray,
    path: str | Path = "array",
    *,
    crs: str | None = None,
    transform: Transform | None = None,
    valid: np.ndarray | None = None,
) -> WindowedCube:
    """A cube already in memory ``(H, W, B)`` behind the same interface (``windowed`` False),
    so that one tile loop serves files and arrays; ``valid`` ``(H, W)`` bool marks no data."""
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise DataError("cube must be 3-D, band-last", field="cube", expected="(H, W, B)",
                        got=arr.shape)  # fmt: skip
    return _from_array(
        Path(path), arr, False, crs=crs, transform=transform,
        read_valid=None if valid is None else (lambda rows: valid[rows]),
    )  # fmt: skip


def _from_array(path: Path, data: np.ndarray, windowed: bool, **meta: Any) -> WindowedCube:
    h, w, b = (int(x) for x in data.shape)
    return WindowedCube(path, (h, w, b), data.dtype, lambda rows: np.asarray(data[rows]),
                        windowed, **meta)  # fmt: skip


@dataclass(frozen=True)
class _RawLayout:
    """Where a band-interleaved raster's rows lie in a file of uncompressed samples."""

    offset: int  # bytes before the first sample
    shape: tuple[int, int, int]  # (H, W, B)
    dtype: np.dtype[Any]  # as stored (may be big-endian)
    interleave: str  # "bip" (H, W, B), "bil" (H, B, W) or "bsq" (B, H, W)


def _raw_reader(path: Path, layout: _RawLayout) -> tuple[RowReader, Callable[[], None]]:
    """Rows by ``os.pread`` of their bytes: one read per run of rows (per band for BSQ)."""
    fd = os.open(path, os.O_RDONLY)
    h, w, b = layout.shape
    size = layout.dtype.itemsize

    def pread(start: int, count: int) -> np.ndarray:
        raw = os.pread(fd, count * size, layout.offset + start * size)
        if len(raw) != count * size:
            raise DataError("file is shorter than its header says", file=path,
                            expected=f"{count * size} bytes at {layout.offset + start * size}",
                            got=f"{len(raw)} bytes")  # fmt: skip
        return np.frombuffer(raw, dtype=layout.dtype)

    def block(r0: int, r1: int) -> np.ndarray:
        n = r1 - r0
        if layout.interleave == "bip":
            return pread(r0 * w * b, n * w * b).reshape(n, w, b)
        if layout.interleave == "bil":
            return pread(r0 * b * w, n * b * w).reshape(n, b, w).transpose(0, 2, 1)
        bands = [pread((band * h + r0) * w, n * w).reshape(n, w) for band in range(b)]
        return np.stack(bands, axis=-1)

    def read(rows: np.ndarray) -> np.ndarray:
        parts = [block(r0, r1) for r0, r1 in _runs(rows)]
        data = np.concatenate(parts, axis=0) if parts else np.zeros((0, w, b), layout.dtype)
        return data.astype(layout.dtype.newbyteorder("="), copy=False)

    return read, lambda: os.close(fd)


def _open_npy(path: Path) -> WindowedCube:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if len(shape) != 3 or fortran or dtype.hasobject:
        return _whole(path, None)  # the whole-file reader checks it and names the problem
    h, w, b = (int(x) for x in shape)
    layout = _RawLayout(offset, (h, w, b), dtype, "bip")
    read, close = _raw_reader(path, layout)
    return WindowedCube(path, layout.shape, dtype.newbyteorder("="), read, True, _close=close)


def _open_envi(path: Path) -> WindowedCube:
    import spectral.io.envi as envi  # lazy: spectral is only needed for ENVI files

    header = path if path.suffix.lower() == ".hdr" else envi_header_for(path)
    image = envi.open(str(header)) if header == path else envi.open(str(header), str(path))
    check_envi_size(path, image)
    interleave = str(image.metadata.get("interleave", "bsq")).strip().lower()
    shape = (int(image.nrows), int(image.ncols), int(image.nbands))
    layout = _RawLayout(int(image.offset), shape, np.dtype(image.dtype), interleave)
    read, close = _raw_reader(Path(image.filename), layout)
    ignore = envi_ignore_value(path, image)
    read_valid = None
    if ignore is not None:

        def read_valid(rows: np.ndarray) -> np.ndarray:
            block = read(rows)
            hit = np.isnan(block) if np.isnan(ignore) else np.equal(block, ignore)
            return np.logical_not(np.any(hit, axis=-1))

    crs, transform = envi_georef(path, image)
    return WindowedCube(path, shape, layout.dtype.newbyteorder("="), read, True, crs=crs,
                        transform=transform, read_valid=read_valid,
                        wavelengths=envi_wavelengths(path, image),
                        good_bands=envi_good_bands(path, image), _close=close)  # fmt: skip


def _open_geotiff(path: Path) -> WindowedCube:
    import rasterio  # lazy: rasterio is only needed for GeoTIFF files
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import Window

    env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)  # GDAL's default is 5% of the RAM
    env.__enter__()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        dataset = rasterio.open(path)

    def close() -> None:
        dataset.close()
        env.__exit__(None, None, None)

    width = dataset.width

    def read(rows: np.ndarray) -> np.ndarray:
        parts = [dataset.read(window=Window(0, r0, width, r1 - r0)) for r0, r1 in _runs(rows)]
        bands_first = (
            np.concatenate(parts, axis=1) if parts else np.zeros((dataset.count, 0, width))
        )
        return np.moveaxis(bands_first, 0, -1)

    def read_valid(rows: np.ndarray) -> np.ndarray:
        parts = [
            dataset.dataset_mask(window=Window(0, r0, width, r1 - r0)) for r0, r1 in _runs(rows)
        ]
        return np.concatenate(parts, axis=0) != 0

    masked = dataset.nodata is not None or any(
        flag.name != "all_valid" for flags in dataset.mask_flag_enums for flag in flags
    )
    transform = None
    if dataset.crs is not None or not dataset.transform.is_identity:
        transform = tuple(float(x) for x in tuple(dataset.transform)[:6])
    return WindowedCube(
        path, (dataset.height, width, dataset.count), np.dtype(dataset.dtypes[0]), read, True,
        crs=dataset.crs.to_wkt() if dataset.crs else None, transform=transform,  # type: ignore[arg-type]
        read_valid=read_valid if masked else None, _close=close,
    )  # fmt: skip


def _open_hdf5(path: Path, var: str | None, transpose: bool) -> WindowedCube | None:
    import h5py  # lazy: h5py is only needed for HDF5 and MATLAB v7.3 files

    handle = h5py.File(path, "r")
    names: list[str] = []
    handle.visititems(
        lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.ndim == 3 else None
    )
    name = var if var is not None else (names[0] if len(names) == 1 else None)
    if name is None or name not in handle:
        handle.close()
        return None  # let the whole-file reader name the problem
    dataset = handle[name]
    stored = tuple(int(x) for x in dataset.shape)
    h, w, b = stored[::-1] if transpose else stored

    def read(rows: np.ndarray) -> np.ndarray:
        parts = []
        for r0, r1 in _runs(rows):
            parts.append(np.asarray(dataset[:, :, r0:r1]).T if transpose else dataset[r0:r1])
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, w, b), dataset.dtype)

    return WindowedCube(path, (h, w, b), dataset.dtype, read, True, _close=handle.close)


def open_cube_windowed(path: str | Path, var: str | None = None) -> WindowedCube:
    """Open a cube for reading by rows; formats that cannot be windowed are loaded whole."""
    file = existing_file(path)
    suffix = file.suffix.lower()
    opened: WindowedCube | None = None
    if suffix == ".npy":
        opened = _open_npy(file)
    elif suffix in TIFF_SUFFIXES:
        opened = _open_geotiff(file)
    elif suffix in HDF5_SUFFIXES:
        opened = _open_hdf5(file, var, transpose=False)
    elif suffix in MAT_SUFFIXES:
        import h5py  # lazy, as above

        if h5py.is_hdf5(file):
            opened = _open_hdf5(file, var, transpose=True)
    elif suffix == ".hdr" or envi_header_for(file) is not None:
        opened = _open_envi(file)
    if opened is not None:
        return opened
    return _whole(file, var)  # .mat v5, .npz: no partial reads; also names bad files


def _whole(file: Path, var: str | None) -> WindowedCube:
    whole = load_cube(file, var)
    valid = whole.valid
    return _from_array(
        file, whole.data, False, crs=whole.crs, transform=whole.transform,
        read_valid=None if valid is None else (lambda rows: valid[rows]),
    )  # fmt: skip
