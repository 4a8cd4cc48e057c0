"""Cubes read window by window, for scenes larger than memory (a flight line is 1-10 GB).

:func:`open_cube_windowed` gives a :class:`WindowedCube`: its shape, dtype and georeference are
known at once, and ``cube.rows(index)`` reads only the rows asked for, ``(len(index), W, B)``.
Each format reads through its own windowing: ENVI and ``.npy`` through a memory map, GeoTIFF
through rasterio windows (one per run of consecutive rows, so block-aligned tiles read each
block once), MATLAB v7.3 / HDF5 through h5py slices. MATLAB v5 and ``.npz`` files cannot be
read in parts; they are loaded whole (and say so in ``windowed``).
No-data pixels (GeoTIFF nodata / masks, ENVI ``data ignore value``) come back in ``valid_rows``.
"""

from __future__ import annotations

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
    _envi_header_for,
    _envi_ignore_value,
    _existing_file,
    load_cube,
)
from mssfe.errors import DataError

RowReader = Callable[[np.ndarray], np.ndarray]


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
    _close: Callable[[], None] = field(default=lambda: None, repr=False)

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


def _from_array(path: Path, data: np.ndarray, windowed: bool, **meta: Any) -> WindowedCube:
    h, w, b = (int(x) for x in data.shape)
    return WindowedCube(path, (h, w, b), data.dtype, lambda rows: np.asarray(data[rows]),
                        windowed, **meta)  # fmt: skip


def _open_npy(path: Path) -> WindowedCube:
    data = np.load(path, mmap_mode="r", allow_pickle=False)
    if data.ndim != 3:
        raise DataError("cube must be 3-D, band-last", file=path, expected="(H, W, B)",
                        got=f"shape {data.shape}")  # fmt: skip
    return _from_array(path, data, True)


def _open_envi(path: Path) -> WindowedCube:
    import spectral.io.envi as envi  # lazy: spectral is only needed for ENVI files

    header = path if path.suffix.lower() == ".hdr" else _envi_header_for(path)
    image = envi.open(str(header)) if header == path else envi.open(str(header), str(path))
    data = image.open_memmap(interleave="bip", writable=False)  # a view: nothing read yet
    ignore = _envi_ignore_value(path, image)
    read_valid = None
    if ignore is not None:

        def read_valid(rows: np.ndarray) -> np.ndarray:
            block = np.asarray(data[rows])
            hit = np.isnan(block) if np.isnan(ignore) else block == ignore
            return ~hit.any(axis=-1)

    return _from_array(path, data, True, read_valid=read_valid)


def _open_geotiff(path: Path) -> WindowedCube:
    import rasterio  # lazy: rasterio is only needed for GeoTIFF files
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.windows import Window

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        dataset = rasterio.open(path)
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
        read_valid=read_valid if masked else None, _close=dataset.close,
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
    file = _existing_file(path)
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
    elif suffix == ".hdr" or _envi_header_for(file) is not None:
        opened = _open_envi(file)
    if opened is not None:
        return opened
    whole = load_cube(file, var)  # .mat v5, .npz: no partial reads; also names bad files
    valid = whole.valid
    return _from_array(
        file, whole.data, False, crs=whole.crs, transform=whole.transform,
        read_valid=None if valid is None else (lambda rows: valid[rows]),
    )  # fmt: skip
