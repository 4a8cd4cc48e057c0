"""Readers: every format reads back band-last and equal; every bad input is a clear DataError."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from mssfe.data.embedded import embedded_dir
from mssfe.data.readers import Cube, check_labels_match, load_cube, load_labels
from mssfe.errors import DataError

from .conftest import TRANSFORM, WAVELENGTHS, write_geotiff, write_mat_v73

FORMATS = ["mat_v5_file", "mat_v73_file", "envi_file", "geotiff_file", "npy_file", "npz_file"]


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FORMATS)
def test_cube_reads_back_band_last(
    fixture: str, request: pytest.FixtureRequest, cube_array: np.ndarray
) -> None:
    path = request.getfixturevalue(fixture)
    cube = load_cube(path)
    assert isinstance(cube, Cube)
    assert cube.data.shape == cube_array.shape
    assert cube.data.dtype == cube_array.dtype
    np.testing.assert_array_equal(cube.data, cube_array)
    assert cube.path == Path(path)


def test_container_formats_report_the_variable(
    mat_v5_file: Path, mat_v73_file: Path, npz_file: Path, npy_file: Path
) -> None:
    assert load_cube(mat_v5_file).variable == "cube"
    assert load_cube(mat_v73_file).variable == "cube"
    assert load_cube(npz_file).variable == "cube"
    assert load_cube(npy_file).variable is None


def test_envi_keeps_wavelengths_and_accepts_the_data_file(
    envi_file: Path, cube_array: np.ndarray
) -> None:
    from_header = load_cube(envi_file)
    assert from_header.wavelengths is not None
    np.testing.assert_allclose(from_header.wavelengths, WAVELENGTHS)
    from_data = load_cube(envi_file.with_suffix(".img"))
    np.testing.assert_array_equal(from_data.data, cube_array)


def test_envi_wavelengths_in_micrometres_become_nm(tmp_path: Path, cube_array: np.ndarray) -> None:
    import spectral.io.envi as envi

    header = tmp_path / "um.hdr"
    meta = {"wavelength": [0.45, 0.55, 0.65], "wavelength units": "Micrometers"}
    envi.save_image(str(header), cube_array, metadata=meta, ext=".img")
    np.testing.assert_allclose(load_cube(header).wavelengths, WAVELENGTHS)


def test_envi_map_info_gives_the_georeference_a_geotiff_would(
    tmp_path: Path, cube_array: np.ndarray
) -> None:
    import spectral.io.envi as envi
    from rasterio.crs import CRS

    header = tmp_path / "utm.hdr"
    meta = {
        # pixel (1, 1) at easting 588000, northing 4140000; 3.7 m pixels; UTM 10 N, WGS-84
        "map info": ["UTM", 1, 1, 588000.0, 4140000.0, 3.7, 3.7, 10, "North", "WGS-84"],
    }
    envi.save_image(str(header), cube_array, metadata=meta, ext=".img")
    cube = load_cube(header)
    assert cube.crs is not None and CRS.from_wkt(cube.crs) == CRS.from_epsg(32610)
    assert cube.transform == (3.7, 0.0, 588000.0, 0.0, -3.7, 4140000.0)
    assert load_cube(header.with_suffix(".img")).transform == cube.transform


def test_envi_without_map_info_has_no_georeference(envi_file: Path) -> None:
    cube = load_cube(envi_file)
    assert cube.crs is None and cube.transform is None


def test_geotiff_keeps_crs_and_transform(geotiff_file: Path) -> None:
    cube = load_cube(geotiff_file)
    assert cube.crs is not None
    assert "32616" in cube.crs
    assert cube.transform == pytest.approx(TRANSFORM)


def test_npz_picks_cube_and_labels_from_one_archive(
    npz_file: Path, cube_array: np.ndarray, labels_array: np.ndarray
) -> None:
    np.testing.assert_array_equal(load_cube(npz_file).data, cube_array)
    labels = load_labels(npz_file)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, labels_array)


def test_var_selects_among_several(tmp_path: Path, cube_array: np.ndarray) -> None:
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"a": cube_array, "b": cube_array * 2})
    np.testing.assert_array_equal(load_cube(path, "b").data, cube_array * 2)


def test_labels_from_mat_v5_v73_and_tiff(
    tmp_path: Path, labels_mat_file: Path, labels_array: np.ndarray
) -> None:
    v73 = write_mat_v73(tmp_path / "gt73.mat", {"gt": labels_array})
    tif = write_geotiff(tmp_path / "gt.tif", labels_array[..., None])
    for path in (labels_mat_file, v73, tif):
        labels = load_labels(path)
        assert labels.dtype == np.int64, path
        np.testing.assert_array_equal(labels, labels_array)


def test_labels_accept_whole_floats_and_squeeze_trailing_axis(
    tmp_path: Path, labels_array: np.ndarray
) -> None:
    path = tmp_path / "gt.npy"
    np.save(path, labels_array[..., None].astype(np.float64))
    np.testing.assert_array_equal(load_labels(path), labels_array)


def test_plain_hdf5_is_not_transposed(tmp_path: Path, cube_array: np.ndarray) -> None:
    path = tmp_path / "cube.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("group/cube", data=cube_array)
    cube = load_cube(path)
    assert cube.variable == "group/cube"
    np.testing.assert_array_equal(cube.data, cube_array)


def test_embedded_salinas_a_reads_as_published() -> None:
    cube = load_cube(embedded_dir() / "SalinasA_corrected.mat")
    assert cube.data.shape == (83, 86, 204)
    assert cube.data.dtype == np.int16
    labels = load_labels(embedded_dir() / "SalinasA_gt.mat")
    assert labels.shape == (83, 86)
    assert set(np.unique(labels).tolist()) == {0, 1, 10, 11, 12, 13, 14}
    assert int(np.count_nonzero(labels)) == 5348
    check_labels_match(cube.data.shape, labels, cube_file="c", labels_file="l")


# ---------------------------------------------------------------------------------------------
# Non-finite values
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def nan_cube(tmp_path: Path) -> Path:
    data = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    data[0, 0, 1] = np.nan
    data[2, 3, 1] = np.inf
    data[1, 1, 2] = -np.inf
    path = tmp_path / "nan.npy"
    np.save(path, data)
    return path


def test_nan_raises_by_default_and_says_how_to_fix(nan_cube: Path) -> None:
    with pytest.raises(DataError) as info:
        load_cube(nan_cube)
    message = str(info.value)
    assert str(nan_cube) in message
    assert "3 non-finite" in message
    assert 'nan_policy="median"' in message


def test_nan_median_replaces_with_band_median_and_warns(nan_cube: Path) -> None:
    raw = np.load(nan_cube)
    with pytest.warns(UserWarning, match="replaced 3 non-finite"):
        cube = load_cube(nan_cube, nan_policy="median")
    assert np.isfinite(cube.data).all()
    band1 = raw[..., 1][np.isfinite(raw[..., 1])]
    assert cube.data[0, 0, 1] == pytest.approx(np.median(band1))
    assert cube.data[2, 3, 1] == pytest.approx(np.median(band1))
    band2 = raw[..., 2][np.isfinite(raw[..., 2])]
    assert cube.data[1, 1, 2] == pytest.approx(np.median(band2))
    finite = np.isfinite(raw)
    np.testing.assert_array_equal(cube.data[finite], raw[finite])


def test_nan_median_with_an_all_nan_band_raises(tmp_path: Path) -> None:
    data = np.ones((3, 3, 4), dtype=np.float64)
    data[..., 2] = np.nan
    path = tmp_path / "allnan.npy"
    np.save(path, data)
    with pytest.raises(DataError, match=r"bands \[2\]") as info:
        load_cube(path, nan_policy="median")
    assert str(path) in str(info.value)


def test_finite_float_cube_emits_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "ok.npy"
    np.save(path, np.ones((2, 2, 2), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_cube(path, nan_policy="median")


# ---------------------------------------------------------------------------------------------
# Errors: every one names the file and what was expected
# ---------------------------------------------------------------------------------------------


def _raises(path: Path, *needles: str, labels: bool = False, var: str | None = None) -> str:
    """Load and return the DataError message after checking it names the file and needles."""
    with pytest.raises(DataError) as info:
        (load_labels if labels else load_cube)(path, var)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, (needle, message)
    assert not isinstance(info.value.__cause__, DataError)
    return message


def test_missing_file(tmp_path: Path) -> None:
    _raises(tmp_path / "absent.mat", "not found", "expected an existing file")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "cube.xyz"
    path.write_bytes(b"123")
    _raises(path, "unsupported", ".npy", "'.xyz'")


@pytest.mark.parametrize("suffix", [".mat", ".npy", ".npz", ".tif", ".h5", ".hdr"])
def test_random_bytes_with_a_valid_extension(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError) as info:
        load_cube(path)
    assert str(path) in str(info.value)
    assert "allow_pickle" not in str(info.value)  # never suggest unpickling unknown bytes


@pytest.mark.parametrize(
    "fixture", ["mat_v5_file", "mat_v73_file", "geotiff_file", "npy_file", "npz_file"]
)
def test_truncated_files(fixture: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(fixture)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        load_cube(path)
    assert str(path) in str(info.value)


def test_envi_size_mismatch(envi_file: Path) -> None:
    data_file = envi_file.with_suffix(".img")
    data_file.write_bytes(data_file.read_bytes()[:-6])
    _raises(envi_file, "does not match its header", "bytes")


def test_cube_not_3d(tmp_path: Path) -> None:
    path = tmp_path / "flat.npy"
    np.save(path, np.ones((4, 5)))
    _raises(path, "3-D", "(H, W, B)", "(4, 5)")


def test_cube_non_numeric(tmp_path: Path) -> None:
    path = tmp_path / "text.npy"
    np.save(path, np.full((2, 2, 2), "a"))
    _raises(path, "not numeric", "<U1")


def test_single_band_geotiff_is_not_a_cube(tmp_path: Path, labels_array: np.ndarray) -> None:
    path = write_geotiff(tmp_path / "one.tif", labels_array[..., None])
    _raises(path, ">= 2 bands", "1 band")


def test_ambiguous_container_lists_candidates_and_var(
    tmp_path: Path, cube_array: np.ndarray
) -> None:
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"a": cube_array, "b": cube_array})
    _raises(path, "'a' (5, 4, 3)", "'b' (5, 4, 3)", "var=", "--var")


def test_container_without_candidates(tmp_path: Path) -> None:
    path = tmp_path / "none.npz"
    np.savez(path, x=np.ones(4), y=np.ones((2, 3)))
    _raises(path, "'x' (4,)", "'y' (2, 3)", "3-D numeric", "--var")


def test_unknown_var_lists_available(mat_v73_file: Path) -> None:
    _raises(mat_v73_file, "'nope'", "'cube' (5, 4, 3)", var="nope")


def test_labels_with_fractions(tmp_path: Path) -> None:
    path = tmp_path / "frac.npy"
    np.save(path, np.array([[0.0, 1.5], [2.0, 3.0]]))
    _raises(path, "whole numbers", "1.5", labels=True)


def test_labels_negative(tmp_path: Path) -> None:
    path = tmp_path / "neg.npy"
    np.save(path, np.array([[0, -1], [2, 3]], dtype=np.int32))
    _raises(path, "negative", "minimum -1", labels=True)


def test_labels_not_2d(tmp_path: Path) -> None:
    path = tmp_path / "cube_as_labels.npy"
    np.save(path, np.zeros((3, 3, 2), dtype=np.uint8))
    _raises(path, "2-D", "(3, 3, 2)", labels=True)


def test_labels_shape_mismatch_names_both_files() -> None:
    with pytest.raises(DataError) as info:
        check_labels_match(
            (5, 4, 3), np.zeros((4, 5), dtype=np.int64), cube_file="cube.mat", labels_file="gt.mat"
        )
    message = str(info.value)
    for needle in ("cube.mat", "gt.mat", "(5, 4, 3)", "(4, 5)", "(5, 4)"):
        assert needle in message


def test_bad_nan_policy(npy_file: Path) -> None:
    with pytest.raises(DataError, match="nan_policy"):
        load_cube(npy_file, nan_policy="zero")  # type: ignore[arg-type]
