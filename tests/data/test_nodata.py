"""No-data pixels (GeoTIFF nodata / internal masks, ENVI data ignore value) are never data:
unlabelled in label maps, excluded and reported in cubes. Real files written by rasterio and
spectral, read back through the readers a user's --cube / --labels go through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mssfe.data.readers import load_cube, load_labels
from mssfe.data.scenes import load_user_scene


def write_tif(path: Path, bands_last: np.ndarray, *, nodata=None, mask=None) -> Path:
    import rasterio

    h, w, b = bands_last.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=b,
                       dtype=bands_last.dtype.name, nodata=nodata, crs="EPSG:32616") as ds:  # fmt: skip
        ds.write(np.moveaxis(bands_last, -1, 0))
        if mask is not None:
            ds.write_mask(np.where(mask, 255, 0).astype(np.uint8))
    return path


@pytest.fixture
def cube() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(100, 10, size=(12, 10, 6)).astype(np.float32)


@pytest.fixture
def labels() -> np.ndarray:
    out = np.zeros((12, 10), np.uint8)
    out[:, :5], out[:, 5:] = 1, 2
    return out


def test_geotiff_cube_nodata_is_excluded_and_reported(tmp_path: Path, cube: np.ndarray) -> None:
    cube[2:4, 3:6] = -9999.0  # the sensor's fill value over 6 pixels
    path = write_tif(tmp_path / "cube.tif", cube, nodata=-9999.0)
    with pytest.warns(UserWarning, match=r"6 of 120 pixels hold no data \(nodata=-9999\)"):
        loaded = load_cube(path)
    assert loaded.n_missing == 6 and not loaded.valid[2:4, 3:6].any()
    assert loaded.data.min() > 0  # no -9999 left to skew the standardisation and PCA
    good = cube[loaded.valid]
    np.testing.assert_allclose(loaded.data[3, 4], np.median(good, axis=0), rtol=1e-6)


def test_geotiff_labels_nodata_255_is_unlabelled_not_class_255(
    tmp_path: Path, labels: np.ndarray
) -> None:
    labels[0, :] = 255
    path = write_tif(tmp_path / "gt.tif", labels[..., None], nodata=255)
    with pytest.warns(UserWarning, match="10 pixels marked as no data"):
        read = load_labels(path)
    assert read.max() == 2 and (read[0] == 0).all() and (read[1:] > 0).all()


def test_geotiff_internal_mask_unlabels_pixels(tmp_path: Path, labels: np.ndarray) -> None:
    mask = np.ones(labels.shape, bool)
    mask[5:7, :] = False
    path = write_tif(tmp_path / "gt.tif", labels[..., None], mask=mask)
    with pytest.warns(UserWarning, match="20 pixels marked as no data"):
        read = load_labels(path)
    assert (read[5:7] == 0).all() and (read[~(~mask)] > 0).all()


def test_envi_data_ignore_value(tmp_path: Path, cube: np.ndarray) -> None:
    import spectral.io.envi as envi

    cube[0, 0, :] = -1.0
    cube[5, 5, 2] = -1.0  # one band is enough: that pixel's spectrum is not whole
    header = tmp_path / "cube.hdr"
    envi.save_image(str(header), cube, metadata={"data ignore value": -1}, ext=".img")
    with pytest.warns(UserWarning, match=r"2 of 120 pixels hold no data \(data ignore value=-1\)"):
        loaded = load_cube(header)
    assert not loaded.valid[0, 0] and not loaded.valid[5, 5] and loaded.n_missing == 2


def test_user_scene_never_labels_a_pixel_without_data(
    tmp_path: Path, cube: np.ndarray, labels: np.ndarray
) -> None:
    cube[:3, :] = -9999.0
    cube_path = write_tif(tmp_path / "cube.tif", cube, nodata=-9999.0)
    labels_path = write_tif(tmp_path / "gt.tif", labels[..., None])
    with pytest.warns(UserWarning, match="30 of 120 pixels hold no data"):
        scene = load_user_scene(cube_path, labels_path)
    assert (scene.labels[:3] == 0).all() and (scene.labels[3:] > 0).all()
    assert scene.valid is not None and not scene.valid[:3].any()


def test_a_cube_with_no_valid_pixel_is_refused(tmp_path: Path, cube: np.ndarray) -> None:
    from mssfe.errors import DataError

    path = write_tif(tmp_path / "cube.tif", np.full_like(cube, -9999.0), nodata=-9999.0)
    with pytest.raises(DataError, match="every pixel is marked as no data"):
        load_cube(path)
