"""A registered network as a scikit-learn classifier on (cube, pixel indices)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_score

from mssfe.data.scenes import load_scene
from mssfe.errors import ConfigError, DataError
from mssfe.workflows.estimator import PatchClassifier

CODES = np.array([0, 1, 10, 11, 12, 13, 14])  # Salinas-A's label codes by class index


@pytest.fixture(scope="module")
def crop() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first 30 columns of Salinas-A (all six classes), 15 pixels per class."""
    scene = load_scene("SalinasA")
    cube, labels = scene.require_cube()[:, :30], scene.labels[:, :30]
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(labels.ravel() == k), 15, replace=False) for k in range(1, 7)]
    )
    return np.ascontiguousarray(cube), idx, CODES[labels.ravel()[idx]]


def _small(cube: np.ndarray) -> PatchClassifier:
    """SSFTT with 10 PCA components and 7 x 7 patches, 10 epochs: seconds per fit."""
    args = {"patch_size": 7, "n_components": 10}
    return PatchClassifier(
        cube, "ssftt", model_args=args, epochs=10, patience=10, lr=0.01, threads=1
    )


def test_cross_val_score_on_a_crop_of_salinas_a(crop: tuple[np.ndarray, ...]) -> None:
    cube, idx, codes = crop
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(_small(cube), idx, codes, cv=folds)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_fit_predict_proba_and_positions(crop: tuple[np.ndarray, ...]) -> None:
    cube, idx, codes = crop
    model = _small(cube).fit(idx, codes)
    assert list(model.classes_) == [1, 10, 11, 12, 13, 14]
    proba = model.predict_proba(idx)
    assert proba.shape == (90, 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.predict(idx)) <= set(model.classes_)
    rows, cols = np.divmod(idx, cube.shape[1])
    positions = np.stack([rows, cols], axis=1)
    np.testing.assert_array_equal(model.predict(positions), model.predict(idx[:, None]))
    assert model.score(idx, codes) > 0.8
    again = clone(model).fit(idx, codes)  # same seed, same weights (deterministic on CPU)
    np.testing.assert_allclose(again.predict_proba(idx), proba, rtol=1e-5, atol=1e-6)
    assert not hasattr(clone(model), "model_")


def test_bad_input_names_the_argument(crop: tuple[np.ndarray, ...]) -> None:
    cube, idx, codes = crop
    with pytest.raises(DataError, match=r"field .X.*outside the cube"):
        _small(cube).fit(np.array([0, cube.shape[0] * cube.shape[1]]), [1, 2])
    with pytest.raises(ValueError, match=r"field .y.*one label per pixel"):
        _small(cube).fit(idx, codes[:-1])
    with pytest.raises(DataError, match=r"field .X.*pixel indices"):
        _small(cube).fit(idx.astype(float), codes)
    with pytest.raises(DataError, match="field 'cube'"):
        PatchClassifier().fit(idx, codes)
    with pytest.raises(ConfigError, match="not a network"):
        PatchClassifier(cube, "svm").fit(idx, codes)
