"""The RBF-SVM baseline is a scikit-learn classifier: scikit-learn's own estimator checks,
clone/get_params/score, probabilities, and use inside scikit-learn's model selection."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from mssfe.models.svm import RBFSVM

# A small grid keeps the ~50 checks per estimator quick; the code paths are the default's.
SMALL = {"C_grid": (1.0, 100.0), "gamma_grid": (0.1, 1.0)}


@parametrize_with_checks([RBFSVM(**SMALL), RBFSVM(**SMALL, probability=False)])
def test_scikit_learn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(3 * k, 1.0, size=(12, 5)) for k in range(3)])
    return X, np.repeat(np.array(["water", "grass", "roof"]), 12)


def test_clone_get_params_and_score() -> None:
    model = RBFSVM(C_grid=[1.0, 10.0], cv=2, random_state=3)
    params = model.get_params()
    assert params == {
        "C_grid": [1.0, 10.0],
        "gamma_grid": RBFSVM().gamma_grid,
        "cv": 2,
        "random_state": 3,
        "probability": True,
    }
    copy = clone(model)
    assert copy is not model and copy.get_params() == params
    X, y = _blobs()
    assert copy.fit(X, y).score(X, y) > 0.95
    assert not hasattr(model, "classes_")  # clone left the original unfitted
    assert list(copy.classes_) == ["grass", "roof", "water"]


def test_probabilities_follow_classes_and_leave_predictions_unchanged() -> None:
    X, y = _blobs()
    with_proba = RBFSVM().fit(X, y)
    proba = with_proba.predict_proba(X)
    assert proba.shape == (36, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (with_proba.classes_[proba.argmax(axis=1)] == y).mean() > 0.95
    without = RBFSVM(probability=False).fit(X, y)
    assert not hasattr(without, "predict_proba")
    np.testing.assert_array_equal(with_proba.predict(X), without.predict(X))
    np.testing.assert_array_equal(with_proba.decision_function(X), without.decision_function(X))
    assert with_proba.best_params_ == without.best_params_


def test_cross_val_score_in_a_pipeline() -> None:
    X, y = _blobs()
    pipe = make_pipeline(FunctionTransformer(np.log1p, validate=False), RBFSVM(**SMALL))
    scores = cross_val_score(pipe, np.abs(X), y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8


def test_a_bad_grid_option_names_itself() -> None:
    X, y = _blobs()
    with pytest.raises(Exception, match="parameter 'cv' must be an int >= 2"):
        RBFSVM(cv=1).fit(X, y)
