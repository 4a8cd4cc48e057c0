"""Tiny synthetic cubes and label maps in every supported format, written into tmp_path.

The cube is ``(H, W, B) = (5, 4, 3)``: three different sizes, so a wrong transpose shows.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from mssfe.data import download

H, W, B = 5, 4, 3
WAVELENGTHS = [450.0, 550.0, 650.0]
TRANSFORM = (30.0, 2.0, 500000.0, 1.0, -30.0, 4000000.0)  # with rotation terms: non-trivial


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the real user cache or a data dir set in the developer's environment."""
    cache = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv(download.CACHE_ENV_VAR, str(cache))
    monkeypatch.delenv(download.ENV_VAR, raising=False)
    return cache


@pytest.fixture
def cube_array() -> np.ndarray:
    """(5, 4, 3) int16 with distinct values, so any axis mix-up changes the array."""
    return (np.arange(H * W * B, dtype=np.int16).reshape(H, W, B) * 7 - 50).astype(np.int16)


@pytest.fixture
def labels_array() -> np.ndarray:
    """(5, 4) uint8 label map with 0 (unlabelled) and classes 1..3."""
    return (np.arange(H * W, dtype=np.uint8).reshape(H, W) % 4).astype(np.uint8)


@pytest.fixture
def mat_v5_file(tmp_path: Path, cube_array: np.ndarray, labels_array: np.ndarray) -> Path:
    path = tmp_path / "cube_v5.mat"
    scipy.io.savemat(path, {"cube": cube_array})
    return path


@pytest.fixture
def labels_mat_file(tmp_path: Path, labels_array: np.ndarray) -> Path:
    path = tmp_path / "labels_gt.mat"
    scipy.io.savemat(path, {"gt": labels_array})
    return path


def write_mat_v73(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays as MATLAB v7.3 does: HDF5 with a 512-byte user block, axes reversed."""
    with h5py.File(path, "w", userblock_size=512) as handle:
        for name, array in arrays.items():
            dataset = handle.create_dataset(name, data=np.ascontiguousarray(array.T))
            dataset.attrs["MATLAB_class"] = np.bytes_(array.dtype.name)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    with open(path, "r+b") as raw:
        raw.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return path


@pytest.fixture
def mat_v73_file(tmp_path: Path, cube_array: np.ndarray) -> Path:
    return write_mat_v73(tmp_path / "cube_v73.mat", {"cube": cube_array})


@pytest.fixture
def envi_file(tmp_path: Path, cube_array: np.ndarray) -> Path:
    """ENVI header ``cube.hdr`` with its data file ``cube.img``; returns the header."""
    import spectral.io.envi as envi

    header = tmp_path / "cube.hdr"
    metadata = {"wavelength": WAVELENGTHS, "wavelength units": "nm"}
    envi.save_image(str(header), cube_array, metadata=metadata, ext=".img", interleave="bsq")
    return header


@pytest.fixture
def geotiff_file(tmp_path: Path, cube_array: np.ndarray) -> Path:
    return write_geotiff(tmp_path / "cube.tif", cube_array)


def write_geotiff(path: Path, array: np.ndarray) -> Path:
    """Write ``(H, W, B)`` as a bands-first GeoTIFF in UTM 16N with a non-trivial transform."""
    import rasterio
    from rasterio.transform import Affine

    height, width, bands = array.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=bands,
        dtype=array.dtype.name,
        crs="EPSG:32616",
        transform=Affine(*TRANSFORM),
    ) as dataset:
        dataset.write(np.moveaxis(array, -1, 0))
    return path


@pytest.fixture
def npy_file(tmp_path: Path, cube_array: np.ndarray) -> Path:
    path = tmp_path / "cube.npy"
    np.save(path, cube_array)
    return path


@pytest.fixture
def npz_file(tmp_path: Path, cube_array: np.ndarray, labels_array: np.ndarray) -> Path:
    """Cube and labels in one archive: each loader must pick its own array."""
    path = tmp_path / "scene.npz"
    np.savez(path, cube=cube_array, gt=labels_array)
    return path
