"""Readers for users' own cubes and label maps, in the formats HSI data usually comes in.

Every format ends as a band-last array: cubes ``(H, W, B)``, labels ``(H, W)`` int64 with 0 for
unlabelled. Formats are chosen by extension: MATLAB ``.mat`` (v5 through scipy, v7.3 through
h5py), HDF5 ``.h5``/``.hdf5``, ENVI (``.hdr`` plus its data file), GeoTIFF ``.tif``/``.tiff``,
NumPy ``.npy``/``.npz``. Pixels a file marks as holding no data (a GeoTIFF ``nodata`` value,
internal mask or alpha band; an ENVI ``data ignore value``) are never taken for data: in a
label map they are unlabelled (0); in a cube they are reported, recorded in ``Cube.valid`` and
filled with their band's median of valid pixels so that no fill value such as -9999 skews the
preprocessing, and everything downstream excludes them. Anything wrong with the file, from a missing path to random bytes,
raises :class:`~mssfe.errors.DataError` naming the file and what was expected: a reader
library's own exception never reaches the user.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mssfe.errors import DataError, MssfeError
from mssfe.utils.paths import describe_path

MAT_SUFFIXES = (".mat",)
HDF5_SUFFIXES = (".h5", ".hdf5")
TIFF_SUFFIXES = (".tif", ".tiff")
NUMPY_SUFFIXES = (".npy", ".npz")
SUPPORTED = ".mat, .h5, .hdf5, .tif, .tiff, .npy, .npz, ENVI (.hdr + data file)"

NanPolicy = Literal["raise", "median"]
Transform = tuple[float, float, float, float, float, float]


@dataclass(frozen=True, eq=False)
class Cube:
    """A hyperspectral cube as read from a file, with what the file says about it.

    ``eq=False``: comparing arrays element-wise has no single truth value.
    """

    data: np.ndarray  # (H, W, B) band-last, numeric dtype as stored
    path: Path | None
    variable: str | None  # variable/dataset name inside the file, if any
    crs: str | None = None  # WKT, from GeoTIFF
    transform: Transform | None = None  # rasterio affine (a, b, c, d, e, f)
    wavelengths: np.ndarray | None = None  # (B,) nm, from an ENVI header when present
    valid: np.ndarray | None = None  # (H, W) bool, False where the file says no data; None: all
    good_bands: np.ndarray | None = None  # (B,) bool, False for an ENVI bbl's bad bands

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w, b = self.data.shape
        return int(h), int(w), int(b)

    @property
    def n_missing(self) -> int:
        """Pixels the file marks as holding no data."""
        return 0 if self.valid is None else int(self.valid.size - np.count_nonzero(self.valid))


@dataclass(frozen=True)
class _Variable:
    """One array in a container file, known by shape and dtype before it is read."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    read: Callable[[], np.ndarray]


@dataclass(frozen=True)
class _Contents:
    """What a file holds: named variables (containers) or one unnamed array, plus metadata."""

    variables: dict[str, _Variable]
    named: bool  # True for .mat/.npz/HDF5, where ``var`` picks among several arrays
    crs: str | None = None
    transform: Transform | None = None
    wavelengths: np.ndarray | None = None
    good_bands: np.ndarray | None = None  # (B,) bool: False where the file marks a bad band
    valid: np.ndarray | None = None  # (H, W) bool: False where the file marks no data
    nodata: str | None = None  # how the file marks it, for messages ("nodata=-9999", "mask")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_cube(path: str | Path, var: str | None = None, *, nan_policy: NanPolicy = "raise") -> Cube:
    """Read a hyperspectral cube ``(H, W, B)`` from ``path``.

    ``var`` names the variable inside a .mat/.npz/HDF5 file; without it the one 3-D numeric
    array is taken. ``nan_policy="median"`` replaces non-finite values with their band's
    median of finite values (with a warning) instead of raising.
    """
    if nan_policy not in ("raise", "median"):
        raise DataError(
            "unknown nan_policy",
            field="nan_policy",
            expected="'raise' or 'median'",
            got=repr(nan_policy),
        )
    file = existing_file(path)
    contents = _read_contents(file)
    name = _pick(file, contents, var, role="cube")
    data = _read_variable(file, contents, name)
    data = _validate_cube(file, name, data)
    valid = _checked_mask(file, contents, data.shape[:2])
    if valid is not None:
        data = _fill_missing(file, data, valid, contents.nodata or "no-data mask")
    data = _handle_non_finite(file, name, data, nan_policy)
    return Cube(
        data=data,
        path=file,
        variable=name if contents.named else None,
        crs=contents.crs,
        transform=contents.transform,
        wavelengths=contents.wavelengths,
        valid=valid,
        good_bands=contents.good_bands,
    )


#: The largest class id a label map may hold (int32's maximum; a float raster's 1e20 would not
#: convert to an integer, and an id is a name, not a count).
MAX_CLASS_ID = 2**31 - 1


def load_labels(path: str | Path, var: str | None = None) -> np.ndarray:
    """Read a label map ``(H, W)`` int64 from ``path``; 0 means unlabelled.

    ``var`` names the variable inside a .mat/.npz/HDF5 file; without it the one 2-D integer
    array is taken. A ``(H, W, 1)`` array is squeezed.
    """
    file = existing_file(path)
    contents = _read_contents(file)
    name = _pick(file, contents, var, role="labels")
    data = _read_variable(file, contents, name)
    labels = _validate_labels(file, name if contents.named else None, data, contents.valid)
    valid = _checked_mask(file, contents, labels.shape)
    if valid is not None and not valid.all():
        n = int(valid.size - np.count_nonzero(valid))
        labels = np.where(valid, labels, 0)
        warnings.warn(
            f"{file}: {n} pixels marked as no data ({contents.nodata}) are unlabelled",
            UserWarning,
            stacklevel=2,
        )
    return labels


def check_labels_match(
    cube_shape: tuple[int, ...],
    labels: np.ndarray,
    *,
    cube_file: str | Path | None,
    labels_file: str | Path | None,
) -> None:
    """Raise when a label map ``(H, W)`` does not cover the cube ``(H, W, B)`` pixel for pixel."""
    if tuple(labels.shape) != tuple(cube_shape[:2]):
        raise DataError(
            f"label map does not match the cube: cube {cube_file} is "
            f"{tuple(cube_shape)} (H, W, B), labels {labels_file} are {tuple(labels.shape)}",
            file=labels_file,
            field="shape",
            expected=f"(H, W) = {tuple(cube_shape[:2])} from {cube_file}",
            got=tuple(labels.shape),
        )


# ---------------------------------------------------------------------------------------------
# Opening files
# ---------------------------------------------------------------------------------------------


def existing_file(path: str | Path) -> Path:
    file = Path(path).expanduser()
    what = describe_path(file)
    if what == "nothing at that path":
        raise DataError("file not found", file=file, expected="an existing file", got=what)
    if what != "a regular file":
        raise DataError("not a regular file", file=file, expected="a regular file", got=what)
    return file


def _read_contents(file: Path) -> _Contents:
    """Dispatch on extension; wrap any reader failure into a DataError naming the file."""
    reader = _reader_for(file)
    try:
        return reader(file)
    except MssfeError:
        raise
    except Exception as exc:  # reader libraries raise anything on corrupt bytes
        raise DataError(
            f"cannot read the file ({type(exc).__name__}: {exc}); it may be corrupt, "
            "truncated or not in the format its extension says",
            file=file,
        ) from exc


def _reader_for(file: Path) -> Callable[[Path], _Contents]:
    suffix = file.suffix.lower()
    if suffix in MAT_SUFFIXES:
        return _read_mat
    if suffix in HDF5_SUFFIXES:
        return _read_hdf5
    if suffix in TIFF_SUFFIXES:
        return _read_geotiff
    if suffix == ".npy":
        return _read_npy
    if suffix == ".npz":
        return _read_npz
    if suffix == ".hdr" or envi_header_for(file) is not None:
        return _read_envi
    raise DataError(
        "unsupported file format", file=file, expected=SUPPORTED, got=f"'{file.suffix}'"
    )


def _read_variable(file: Path, contents: _Contents, name: str) -> np.ndarray:
    try:
        data = contents.variables[name].read()
    except MssfeError:
        raise
    except Exception as exc:  # lazy readers (HDF5, npz) fail here on truncated data
        raise DataError(
            f"cannot read the array ({type(exc).__name__}: {exc}); the file may be truncated",
            file=file,
            field=name or None,
        ) from exc
    return _native(np.asarray(data))


def _native(data: np.ndarray) -> np.ndarray:
    """Native byte order, so that torch.from_numpy and friends accept the array."""
    if data.dtype.byteorder not in ("=", "|"):
        return data.astype(data.dtype.newbyteorder("="))
    return data


def _in_memory(data: object) -> _Variable:
    array = np.asarray(data)
    return _Variable(tuple(array.shape), array.dtype, lambda: array)


def _single(data: np.ndarray, **meta: Any) -> _Contents:
    return _Contents(variables={"": _in_memory(data)}, named=False, **meta)


# ---------------------------------------------------------------------------------------------
# Format readers: each returns _Contents, raising freely (wrapped by _read_contents)
# ---------------------------------------------------------------------------------------------


def _read_mat(file: Path) -> _Contents:
    import h5py

    if h5py.is_hdf5(file):  # MATLAB v7.3
        return _read_hdf5(file, transpose=True)
    import scipy.io

    raw = scipy.io.loadmat(file)
    variables = {k: _in_memory(v) for k, v in raw.items() if not k.startswith("__")}
    return _Contents(variables=variables, named=True)


def _read_hdf5(file: Path, transpose: bool = False) -> _Contents:
    """HDF5 datasets by path; MATLAB v7.3 stores arrays column-major, so reverse their axes."""
    import h5py

    variables: dict[str, _Variable] = {}
    with h5py.File(file, "r") as handle:

        def visit(name: str, obj: object) -> None:
            if not isinstance(obj, h5py.Dataset) or name.startswith("#"):
                return
            shape = tuple(obj.shape)[::-1] if transpose else tuple(obj.shape)
            read = functools.partial(_read_dataset, file, name, transpose)
            variables[name] = _Variable(shape, obj.dtype, read)

        handle.visititems(visit)
    return _Contents(variables=variables, named=True)


def _read_dataset(file: Path, name: str, transpose: bool) -> np.ndarray:
    import h5py

    with h5py.File(file, "r") as handle:
        data = np.asarray(handle[name][()])
    return np.ascontiguousarray(data.T) if transpose else data


def _check_magic(file: Path, magic: bytes, what: str) -> None:
    """np.load falls back to pickle on unknown bytes; say what the file is not, instead."""
    with open(file, "rb") as handle:
        head = handle.read(len(magic))
    if head != magic:
        raise DataError(
            f"not a {what} file",
            file=file,
            field="header",
            expected=f"bytes starting with {magic!r}",
            got=repr(head),
        )


def _read_npy(file: Path) -> _Contents:
    _check_magic(file, b"\x93NUMPY", "NumPy .npy")
    return _single(np.load(file, allow_pickle=False))


def _read_npz(file: Path) -> _Contents:
    _check_magic(file, b"PK", "NumPy .npz (zip)")
    with np.load(file, allow_pickle=False) as archive:
        variables = {key: _in_memory(archive[key]) for key in archive.files}
    return _Contents(variables=variables, named=True)


def _read_geotiff(file: Path) -> _Contents:
    """GeoTIFF is bands-first on disk ``(B, H, W)``; keep its CRS (WKT) and affine transform."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(file) as dataset:
            bands_first = dataset.read()
            crs = dataset.crs.to_wkt() if dataset.crs else None
            affine = dataset.transform
            valid = dataset.dataset_mask() != 0  # nodata value, internal mask or alpha band
            nodata = f"nodata={dataset.nodata:g}" if dataset.nodata is not None else "mask"
    transform: Transform | None = None
    if crs is not None or not affine.is_identity:
        a, b, c, d, e, f = (float(x) for x in tuple(affine)[:6])
        transform = (a, b, c, d, e, f)
    mask = None if valid.all() else valid
    return _single(
        np.moveaxis(bands_first, 0, -1), crs=crs, transform=transform, valid=mask, nodata=nodata
    )


def envi_header_for(file: Path) -> Path | None:
    """The ENVI header of a data file: ``cube.hdr`` or ``cube.img.hdr``."""
    for candidate in (file.with_suffix(".hdr"), Path(f"{file}.hdr")):
        if candidate != file and candidate.is_file():
            return candidate
    return None


def _read_envi(file: Path) -> _Contents:
    import spectral.io.envi as envi

    if file.suffix.lower() == ".hdr":
        image = envi.open(str(file))
    else:
        image = envi.open(str(envi_header_for(file)), str(file))
    check_envi_size(file, image)
    data = np.array(_envi_memmap(file, image))
    ignore = envi_ignore_value(file, image)
    valid = None
    if ignore is not None:
        hit = np.isnan(data) if np.isnan(ignore) else data == ignore
        valid = ~hit.any(axis=-1) if data.ndim == 3 else ~hit
        valid = None if valid.all() else valid
    nodata = None if ignore is None else f"data ignore value={ignore:g}"
    crs, transform = envi_georef(file, image)
    return _single(
        data,
        wavelengths=envi_wavelengths(file, image),
        good_bands=envi_good_bands(file, image),
        crs=crs,
        transform=transform,
        valid=valid,
        nodata=nodata,
    )


def _envi_memmap(file: Path, image: Any) -> np.ndarray:
    """The data file mapped band-last. spectral returns None when the map fails (a file larger
    than the address space left, e.g. under a memory limit) and then fails on a transpose with
    "axes don't match array"; here that says what happened instead."""
    try:
        mapped = image.open_memmap(interleave="bip", writable=False)
    except ValueError:
        mapped = None
    if mapped is None:
        size = Path(image.filename).stat().st_size
        raise DataError(
            "cannot map the ENVI data file into memory to read it whole; `mssfe predict --cube` "
            "reads a cube this size window by window",
            file=file,
            expected=f"{size / 2**30:.2f} GiB of address space free",
            got="the memory map failed",
        )
    return np.asarray(mapped)


def envi_ignore_value(file: Path, image: Any) -> float | None:
    """The header's ``data ignore value``: a pixel with it in any band holds no data."""
    raw = image.metadata.get("data ignore value")
    if raw is None:
        return None
    try:
        return float(str(raw).strip())
    except ValueError:
        raise DataError(
            "unreadable ENVI header field",
            file=file,
            field="data ignore value",
            expected="a number",
            got=repr(raw),
        ) from None


def envi_georef(file: Path, image: Any) -> tuple[str | None, Transform | None]:
    """CRS (WKT) and transform from the header's ``map info`` (and ``coordinate system
    string``), as GDAL's ENVI driver reads them: the same values a GeoTIFF would give."""
    if "map info" not in image.metadata:
        return None, None
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(image.filename) as dataset:
                crs = dataset.crs.to_wkt() if dataset.crs else None
                affine = dataset.transform
    except RasterioError as exc:
        raise DataError(
            f"GDAL cannot read the header's georeference ({exc})",
            file=file,
            field="map info",
            expected="an ENVI 'map info' GDAL understands",
            got=image.metadata["map info"],
        ) from None
    if crs is None and affine.is_identity:
        return None, None
    a, b, c, d, e, f = (float(x) for x in tuple(affine)[:6])
    return crs, (a, b, c, d, e, f)


def check_envi_size(file: Path, image: Any) -> None:
    data_file = Path(image.filename)
    expected = image.offset + image.nrows * image.ncols * image.nbands * image.sample_size
    actual = data_file.stat().st_size
    if actual != expected:
        raise DataError(
            f"ENVI data file {data_file} does not match its header "
            f"({image.nrows} lines x {image.ncols} samples x {image.nbands} bands x "
            f"{image.sample_size} bytes + {image.offset} header offset); it may be truncated "
            "or belong to another header",
            file=file,
            field="file size",
            expected=f"{expected} bytes",
            got=f"{actual} bytes",
        )


def envi_wavelengths(file: Path, image: Any) -> np.ndarray | None:
    """Band centres in nm (the header's ``wavelength``); headers in micrometres are converted."""
    centers = image.bands.centers
    if not centers:
        return None
    values = np.asarray(centers, dtype=np.float64)
    if values.shape != (image.nbands,):
        raise DataError(
            "one wavelength per band",
            file=file,
            field="wavelength",
            expected=f"{image.nbands} values",
            got=f"{values.size} values",
        )
    units = str(image.metadata.get("wavelength units", "")).strip().lower()
    if units in ("micrometers", "micrometres", "micrometer", "micrometre", "um", "µm", "microns"):
        values = values * 1000.0
    return values


def envi_good_bands(file: Path, image: Any) -> np.ndarray | None:
    """The header's bad-band list ``bbl`` as ``(B,)`` bool, True for a good band (1)."""
    raw = image.metadata.get("bbl")
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else str(raw).strip("{} ").split(",")
    try:
        values = np.asarray([float(str(v).strip()) for v in items])
    except ValueError:
        values = np.zeros(0)
    if values.shape != (image.nbands,) or not np.isin(values, (0.0, 1.0)).all():
        raise DataError(
            "unreadable ENVI bad-band list",
            file=file,
            field="bbl",
            expected=f"{image.nbands} values, each 0 (bad) or 1 (good)",
            got=repr(raw)[:120],
        )
    return values == 1.0


# ---------------------------------------------------------------------------------------------
# Picking a variable
# ---------------------------------------------------------------------------------------------


def _is_real(dtype: np.dtype[Any]) -> bool:
    return dtype.kind in "iuf"


def _cube_candidates(variables: dict[str, _Variable]) -> list[str]:
    return [k for k, v in variables.items() if len(v.shape) == 3 and _is_real(v.dtype)]


def _label_candidates(variables: dict[str, _Variable]) -> list[str]:
    """2-D (or (H, W, 1)) integer arrays; float ones only when no integer one exists."""

    def is_map(v: _Variable) -> bool:
        return len(v.shape) == 2 or (len(v.shape) == 3 and v.shape[-1] == 1)

    integer = [k for k, v in variables.items() if is_map(v) and v.dtype.kind in "biu"]
    if integer:
        return integer
    return [k for k, v in variables.items() if is_map(v) and v.dtype.kind == "f"]


def _describe(variables: dict[str, _Variable]) -> str:
    if not variables:
        return "none"
    return ", ".join(f"'{k}' {v.shape} {v.dtype}" for k, v in variables.items())


def _pick(file: Path, contents: _Contents, var: str | None, role: str) -> str:
    """Name of the variable to read: ``var`` if given, else the one plausible candidate."""
    variables = contents.variables
    if not contents.named:
        return ""
    if var is not None:
        if var not in variables:
            raise DataError(
                f"no variable '{var}' in the file; available: {_describe(variables)}",
                file=file,
                field="var",
                expected=f"one of {sorted(variables)}",
                got=repr(var),
            )
        return var
    finder = _cube_candidates if role == "cube" else _label_candidates
    kind = "3-D numeric array (H, W, B)" if role == "cube" else "2-D integer array (H, W)"
    candidates = finder(variables)
    if len(candidates) == 1:
        return candidates[0]
    found = "none" if not candidates else f"{len(candidates)}: {', '.join(candidates)}"
    raise DataError(
        f"cannot tell which variable holds the {role}; variables in the file: "
        f"{_describe(variables)}. Pass var='NAME' (--var NAME on the command line)",
        file=file,
        expected=f"exactly one {kind}",
        got=found,
    )


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _validate_cube(file: Path, name: str, data: np.ndarray) -> np.ndarray:
    field = name or None
    if not _is_real(data.dtype):
        raise DataError(
            "cube is not numeric",
            file=file,
            field=field,
            expected="an integer or floating-point dtype",
            got=str(data.dtype),
        )
    if data.ndim != 3:
        raise DataError(
            "cube must be 3-D, band-last",
            file=file,
            field=field,
            expected="(H, W, B)",
            got=f"shape {data.shape}",
        )
    if data.shape[-1] < 2:
        raise DataError(
            "a hyperspectral cube needs several bands",
            file=file,
            field=field,
            expected=">= 2 bands",
            got=f"{data.shape[-1]} band(s), shape {data.shape}",
        )
    if 0 in data.shape:
        raise DataError(
            "cube is empty",
            file=file,
            field=field,
            expected="no zero-length axis",
            got=f"shape {data.shape}",
        )
    return data


def _checked_mask(file: Path, contents: _Contents, shape: tuple[int, ...]) -> np.ndarray | None:
    valid = contents.valid
    if valid is None:
        return None
    if tuple(valid.shape) != tuple(shape):  # a reader bug, not the user's: say so plainly
        raise DataError(
            "no-data mask does not match the array", file=file, expected=shape, got=valid.shape
        )
    return valid


def _fill_missing(file: Path, data: np.ndarray, valid: np.ndarray, how: str) -> np.ndarray:
    """Replace the no-data pixels ``~valid`` with each band's median over the valid pixels."""
    n_missing = int(valid.size - np.count_nonzero(valid))
    if n_missing == valid.size:
        raise DataError(
            "every pixel is marked as no data",
            file=file,
            field=how,
            expected="some pixels with data",
            got=f"all {valid.size} pixels masked",
        )
    medians = np.median(data[valid], axis=0).astype(data.dtype)
    filled = np.where(valid[..., None], data, medians[None, None, :])
    warnings.warn(
        f"{file}: {n_missing} of {valid.size} pixels hold no data ({how}); they are excluded "
        "(unlabelled for training, 0 in class maps)",
        UserWarning,
        stacklevel=3,
    )
    return filled


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_magnitude(file: Path, name: str, data: np.ndarray, finite: np.ndarray) -> None:
    """The networks compute in float32: a finite value beyond its range would become inf and
    train to chance with nothing but a numpy warning, so it is refused here."""
    if data.dtype.itemsize <= 4:
        return
    big = finite & (np.abs(np.where(finite, data, 0)) > FLOAT32_MAX)
    n_big = int(np.count_nonzero(big))
    if n_big:
        raise DataError(
            "cube values exceed the float32 range the models compute in; rescale the cube "
            "(e.g. to reflectance)",
            file=file,
            field=name or None,
            expected=f"|value| <= {FLOAT32_MAX:.3g}",
            got=f"{n_big} values, largest magnitude {np.abs(data[big]).max():.3g}",
        )


def _handle_non_finite(file: Path, name: str, data: np.ndarray, policy: NanPolicy) -> np.ndarray:
    """Raise on NaN/inf, or replace each with its band's median of finite values."""
    if data.dtype.kind != "f":
        return data  # integers cannot hold NaN or inf
    finite = np.isfinite(data)
    _check_magnitude(file, name, data, finite)
    n_bad = int(finite.size - np.count_nonzero(finite))
    if n_bad == 0:
        return data
    if policy == "raise":
        raise DataError(
            f'cube has {n_bad} non-finite values (NaN or inf); pass nan_policy="median" to '
            "replace each with its band's median",
            file=file,
            field=name or None,
            expected="finite values",
            got=f"{n_bad} non-finite",
        )
    per_band = finite.reshape(-1, data.shape[-1]).sum(axis=0)
    empty = np.flatnonzero(per_band == 0)
    if empty.size:
        raise DataError(
            "bands with no finite value cannot be filled with a median",
            file=file,
            field=name or None,
            expected="at least one finite value per band",
            got=f"bands {empty.tolist()} (0-based) all non-finite",
        )
    masked = np.where(finite, data, np.nan)
    medians = np.nanmedian(masked.reshape(-1, data.shape[-1]), axis=0).astype(data.dtype)
    filled = np.where(finite, data, medians[None, None, :])
    warnings.warn(
        f"{file}: replaced {n_bad} non-finite values with their band's median",
        UserWarning,
        stacklevel=3,
    )
    return filled


def _validate_labels(
    file: Path, field: str | None, data: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if valid is not None and valid.shape == data.shape:  # no-data pixels are checked for nothing
        data = np.where(valid, data, 0)
    if data.ndim != 2:
        raise DataError(
            "label map must be 2-D",
            file=file,
            field=field,
            expected="(H, W) or (H, W, 1)",
            got=f"shape {data.shape}",
        )
    if data.dtype.kind == "b":
        return data.astype(np.int64)
    if data.dtype.kind == "f":
        _check_integer_valued(file, field, data)
    elif data.dtype.kind not in "iu":
        raise DataError(
            "label map is not numeric",
            file=file,
            field=field,
            expected="an integer dtype",
            got=str(data.dtype),
        )
    if data.size and data.min() < 0:
        n_negative = int(np.count_nonzero(data < 0))
        raise DataError(
            "label map has negative values",
            file=file,
            field=field,
            expected="0 (unlabelled) or positive class ids",
            got=f"{n_negative} negative values, minimum {data.min()}",
        )
    if data.size and data.max() > MAX_CLASS_ID:
        n_large = int(np.count_nonzero(data > MAX_CLASS_ID))
        largest = data.max()
        raise DataError(
            "label map has class ids too large",
            file=file,
            field=field,
            expected=f"class ids <= {MAX_CLASS_ID:,}",
            got=f"{n_large} larger values, maximum {largest if data.dtype.kind in 'iu' else f'{largest:g}'}",
        )
    return data.astype(np.int64)


def _check_integer_valued(file: Path, field: str | None, data: np.ndarray) -> None:
    finite = np.isfinite(data)
    bad = ~finite | (np.where(finite, data, 0) != np.round(np.where(finite, data, 0)))
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        example = data[bad].flat[0]
        raise DataError(
            "label map has values that are not whole numbers",
            file=file,
            field=field,
            expected="integer class ids",
            got=f"{n_bad} values such as {example}",
        )
