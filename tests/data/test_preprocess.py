"""Preprocessing: statistics from training pixels, PCA fit choices, persistence, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mssfe.data.embedded import embedded_path
from mssfe.data.preprocess import Preprocessor, fit_preprocessor
from mssfe.errors import ConfigError, DataError


@pytest.fixture
def cube() -> np.ndarray:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(4, 12))
    return (rng.normal(size=(30, 25, 4)) @ mixing * 50 + 300).astype(np.int16)


@pytest.fixture
def train_idx() -> np.ndarray:
    return np.sort(np.random.default_rng(1).choice(30 * 25, size=120, replace=False))


def _train_stats(out: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = out.reshape(-1, out.shape[2])[idx].astype(np.float64)
    return pixels.mean(axis=0), pixels.std(axis=0)


@pytest.mark.parametrize("n_components", [None, 3])
def test_training_pixels_are_standardised(
    cube: np.ndarray, train_idx: np.ndarray, n_components: int | None
) -> None:
    prep = fit_preprocessor(cube, train_idx, n_components=n_components)
    out = prep.transform(cube)
    assert out.dtype == np.float32
    assert out.shape == (30, 25, n_components or 12)
    mean, std = _train_stats(out, train_idx)
    np.testing.assert_allclose(mean, 0, atol=1e-5)
    np.testing.assert_allclose(std, 1, atol=1e-5)


def test_train_fit_differs_from_scene_fit(cube: np.ndarray, train_idx: np.ndarray) -> None:
    scene = fit_preprocessor(cube, train_idx, n_components=3, pca_fit="scene")
    train = fit_preprocessor(cube, train_idx, n_components=3, pca_fit="train")
    assert scene.pca_fit == "scene" and train.pca_fit == "train"
    assert not np.allclose(scene.components, train.components)  # type: ignore[arg-type]


def test_save_load_round_trip(cube: np.ndarray, train_idx: np.ndarray, tmp_path: Path) -> None:
    for n_components in (None, 5):
        prep = fit_preprocessor(cube, train_idx, n_components=n_components, pca_fit="train")
        prep.save(tmp_path / "prep.npz")
        loaded = Preprocessor.load(tmp_path / "prep.npz")
        assert loaded.pca_fit == prep.pca_fit
        np.testing.assert_array_equal(loaded.transform(cube), prep.transform(cube))


def test_chunked_transform_equals_one_shot(
    cube: np.ndarray, train_idx: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    prep = fit_preprocessor(cube, train_idx, n_components=4)
    whole = prep.transform(cube)
    monkeypatch.setattr("mssfe.data.preprocess.CHUNK_PIXELS", 50)  # 2 rows per chunk
    np.testing.assert_allclose(prep.transform(cube), whole, rtol=0, atol=1e-6)


def test_constant_band_warns_and_stays_finite(cube: np.ndarray, train_idx: np.ndarray) -> None:
    cube = cube.copy()
    cube[..., 2] = 7
    with pytest.warns(RuntimeWarning, match="constant band"):
        prep = fit_preprocessor(cube, train_idx, n_components=None)
    out = prep.transform(cube)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[..., 2], 0)


def test_bad_arguments(cube: np.ndarray, train_idx: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"12 bands, got 13"):
        fit_preprocessor(cube, train_idx, n_components=13)
    with pytest.raises(DataError, match="outside"):
        fit_preprocessor(cube, np.array([30 * 25]), n_components=None)
    prep = fit_preprocessor(cube, train_idx, n_components=2)
    with pytest.raises(DataError, match="does not match"):
        prep.transform(cube[..., :5])
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataError):
        Preprocessor.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", metadata=np.array('{"format": "x"}'))
    with pytest.raises(DataError, match="not an mssfe preprocessor"):
        Preprocessor.load(tmp_path / "other.npz")


def test_salinas_a_to_30_components() -> None:
    path = embedded_path("SalinasA_corrected.mat")
    assert path is not None
    cube = scipy.io.loadmat(path)["salinasA_corrected"]
    height, width, bands = cube.shape
    train_idx = np.arange(0, height * width, 10)
    prep = fit_preprocessor(cube, train_idx, n_components=30, seed=0)
    out = prep.transform(cube)
    assert out.shape == (height, width, 30) and bands == 204
    mean, std = _train_stats(out, train_idx)
    np.testing.assert_allclose(mean, 0, atol=1e-4)
    np.testing.assert_allclose(std, 1, atol=1e-4)
    again = fit_preprocessor(cube, train_idx, n_components=30, seed=0)
    np.testing.assert_array_equal(again.transform(cube), out)


def test_global_scale_keeps_the_variance_ordering_of_real_components() -> None:
    """``scale="global"``: one divisor for all 30 PCA outputs of real Salinas-A, so the first
    component keeps far more variance than the 30th (per-component scaling makes them equal),
    the total variance stays that of 30 unit-variance inputs, and only the scale of each output
    changes."""
    path = embedded_path("SalinasA_corrected.mat")
    assert path is not None
    cube = scipy.io.loadmat(path)["salinasA_corrected"]
    train_idx = np.arange(0, cube.shape[0] * cube.shape[1], 10)
    per = fit_preprocessor(cube, train_idx, n_components=30, seed=0)
    glob = fit_preprocessor(cube, train_idx, n_components=30, seed=0, scale="global")
    mean, std = _train_stats(glob.transform(cube), train_idx)
    np.testing.assert_allclose(mean, 0, atol=1e-4)
    assert std[0] > 10 * std[-1]  # ordering kept (per-component: all 1)
    assert std[:3].min() > std[-10:].max()  # PCA's order (fitted on the scene, measured here)
    np.testing.assert_allclose(np.mean(std**2), 1, rtol=1e-4)
    ratio = glob.transform(cube) / np.where(per.transform(cube) == 0, 1, per.transform(cube))
    np.testing.assert_allclose(np.median(ratio.reshape(-1, 30), axis=0), std, rtol=1e-3)
    with pytest.raises(ConfigError, match="scale"):
        fit_preprocessor(cube, train_idx, n_components=30, scale="band")  # type: ignore[arg-type]
