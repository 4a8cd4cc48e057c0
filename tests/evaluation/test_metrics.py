"""Metrics agree with scikit-learn on random and edge-case predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion

from mssfe.evaluation.metrics import aggregate, compute_metrics, confusion_matrix


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 7
    y_true = rng.integers(0, k, 500)
    # predictions right ~70% of the time, so kappa is far from 0 and 1
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, k, 500))
    m = compute_metrics(y_true, y_pred, k)
    assert m.oa == pytest.approx(accuracy_score(y_true, y_pred))
    assert m.kappa == pytest.approx(cohen_kappa_score(y_true, y_pred))
    per_class = recall_score(y_true, y_pred, average=None, labels=range(k))
    assert m.per_class == pytest.approx(tuple(per_class))
    assert m.aa == pytest.approx(per_class.mean())
    np.testing.assert_array_equal(
        np.array(m.confusion), sk_confusion(y_true, y_pred, labels=range(k))
    )


def test_class_absent_from_test_set_is_nan_and_left_out_of_aa() -> None:
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    m = compute_metrics(y_true, y_pred, 3)
    assert np.isnan(m.per_class[2])
    assert m.aa == pytest.approx((0.5 + 1.0) / 2)


def test_confusion_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_aggregate_mean_and_sample_std() -> None:
    runs = [
        compute_metrics(np.array([0, 1, 1, 0]), np.array(p), 2)
        for p in ([0, 1, 1, 0], [0, 1, 0, 0])
    ]
    s = aggregate(runs)
    assert s.mean["oa"] == pytest.approx(0.875)
    assert s.std["oa"] == pytest.approx(np.std([1.0, 0.75], ddof=1))
    assert s.n_runs == 2
    single = aggregate(runs[:1])
    assert single.std["oa"] == 0.0
