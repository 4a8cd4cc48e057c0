"""Window-by-window reading returns exactly what the whole-file reader returns, in every format
that can be windowed, and reads only the rows asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mssfe.data.readers import load_cube
from mssfe.data.windowed import open_cube_windowed

from .conftest import write_geotiff, write_mat_v73

ROWS = np.array([4, 0, 1, 1, 3, 7])  # out of order, repeated, with gaps


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(9, 6, 5)).astype(np.float32)


def _files(tmp_path: Path, cube: np.ndarray) -> dict[str, Path]:
    import h5py
    import scipy.io
    import spectral.io.envi as envi

    np.save(tmp_path / "c.npy", cube)
    envi.save_image(str(tmp_path / "bsq.hdr"), cube, ext=".img", interleave="bsq")
    envi.save_image(str(tmp_path / "bil.hdr"), cube, ext=".img", interleave="bil")
    write_geotiff(tmp_path / "c.tif", cube)
    write_mat_v73(tmp_path / "c73.mat", {"cube": cube})
    with h5py.File(tmp_path / "c.h5", "w") as handle:
        handle["cube"] = cube
    scipy.io.savemat(tmp_path / "c5.mat", {"cube": cube})
    return {
        p.name: p for p in tmp_path.iterdir() if p.suffix in (".npy", ".hdr", ".tif", ".mat", ".h5")
    }


def test_rows_equal_the_whole_file_reader(tmp_path: Path, cube: np.ndarray) -> None:
    for name, path in _files(tmp_path, cube).items():
        whole = load_cube(path).data
        with open_cube_windowed(path) as windowed:
            assert windowed.shape == whole.shape, name
            np.testing.assert_array_equal(windowed.rows(ROWS), whole[ROWS], err_msg=name)
            assert windowed.windowed == (name != "c5.mat"), name


def test_geotiff_reads_only_the_windows_asked_for(
    tmp_path: Path, cube: np.ndarray, monkeypatch
) -> None:
    import rasterio.io

    seen: list[tuple[int, int]] = []
    real = rasterio.io.DatasetReader.read

    def spy(self, *args, window=None, **kwargs):
        seen.append((int(window.row_off), int(window.height)))
        return real(self, *args, window=window, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy)
    with open_cube_windowed(write_geotiff(tmp_path / "c.tif", cube)) as windowed:
        windowed.rows(ROWS)
    assert seen == [(0, 2), (3, 2), (7, 1)]  # rows 0-1, 3-4, 7: three windows, 5 rows of 9


def test_geotiff_nodata_comes_back_as_valid_rows(tmp_path: Path, cube: np.ndarray) -> None:
    import rasterio

    cube[2, 3] = -9999
    with rasterio.open(tmp_path / "n.tif", "w", driver="GTiff", height=9, width=6, count=5,
                       dtype="float32", nodata=-9999) as ds:  # fmt: skip
        ds.write(np.moveaxis(cube, -1, 0))
    with open_cube_windowed(tmp_path / "n.tif") as windowed:
        valid = windowed.valid_rows(np.array([1, 2]))
    assert valid is not None and valid.shape == (2, 6) and valid.sum() == 11 and not valid[1, 3]


def test_big_endian_envi_bil_and_bsq_read_by_rows(tmp_path: Path, cube: np.ndarray) -> None:
    import spectral.io.envi as envi

    for interleave in ("bil", "bsq", "bip"):
        header = tmp_path / f"{interleave}.hdr"
        envi.save_image(str(header), cube, ext=".img", interleave=interleave, byteorder=1)
        with open_cube_windowed(header) as windowed:
            got = windowed.rows(ROWS)
        assert got.dtype.byteorder in ("=", "|") or got.dtype.isnative
        np.testing.assert_array_equal(got, cube[ROWS], err_msg=interleave)


def test_reading_rows_needs_no_address_space_for_the_whole_file(tmp_path: Path) -> None:
    """A cube far larger than an address-space limit set for the reading process is read by
    rows within it (a memory map of the whole file would fail at once)."""
    import subprocess
    import sys

    rows, width, bands = 2048, 1024, 256  # 1 GiB of float32 on disk, sparse
    path = tmp_path / "big.npy"
    header = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(rows, width, bands)
    )
    header[1000, :, :] = 7.0
    header.flush()
    del header
    code = (
        "import resource, numpy as np; from mssfe.data.windowed import open_cube_windowed;"
        "resource.setrlimit(resource.RLIMIT_AS, (700 * 2**20, resource.RLIM_INFINITY));"
        f"cube = open_cube_windowed({str(path)!r});"
        "got = cube.rows(np.arange(990, 1010)); print(float(got[10].mean()), got.shape)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "7.0"


def test_the_whole_file_reader_says_when_a_cube_cannot_be_mapped(tmp_path: Path) -> None:
    """Under an address-space limit smaller than the file, ENVI's whole-file reader names the
    failed memory map (spectral's own error was "axes don't match array")."""
    import subprocess
    import sys

    header = tmp_path / "big.hdr"
    header.write_text("ENVI\nsamples = 1024\nlines = 2048\nbands = 256\nheader offset = 0\n"
                      "data type = 4\ninterleave = bil\nbyte order = 0\n")  # fmt: skip
    with open(tmp_path / "big.img", "wb") as handle:
        handle.truncate(2048 * 1024 * 256 * 4)  # 2 GiB, sparse
    code = (
        "import resource; from mssfe.data.readers import load_cube;"
        "resource.setrlimit(resource.RLIMIT_AS, (700 * 2**20, resource.RLIM_INFINITY));"
        f"load_cube({str(header)!r})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "cannot map the ENVI data file into memory" in done.stderr, done.stderr[-2000:]
