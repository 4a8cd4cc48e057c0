"""Accuracy metrics of remote-sensing classification: OA, AA, Cohen's kappa, per-class accuracy.

Computed from the confusion matrix (rows = true class, columns = predicted class), the way
the field reports them; the tests check every number against scikit-learn.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """Test metrics of one run. ``per_class`` is the producer's accuracy (recall) per class."""

    oa: float
    aa: float
    kappa: float
    per_class: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]
    n_test: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "oa": self.oa,
            "aa": self.aa,
            "kappa": self.kappa,
            "per_class": list(self.per_class),
            "confusion": [list(r) for r in self.confusion],
            "n_test": self.n_test,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        return cls(
            oa=float(d["oa"]),
            aa=float(d["aa"]),
            kappa=float(d["kappa"]),
            per_class=tuple(float(x) for x in d["per_class"]),
            confusion=tuple(tuple(int(v) for v in r) for r in d["confusion"]),
            n_test=int(d["n_test"]),
        )


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) int64 counts; rows are true classes 0..K-1, columns predictions."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} holds values outside 0..{n_classes - 1}")
    flat = y_true * n_classes + y_pred
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def metrics_from_confusion(cm: np.ndarray) -> Metrics:
    """OA, AA (mean over classes present in the test set) and kappa from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    if total == 0:
        raise ValueError("no test samples: metrics are undefined")
    diag = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, diag / np.maximum(support, 1), np.nan)
    oa = float(diag.sum() / total)
    aa = float(np.nanmean(per_class)) if np.any(support > 0) else float("nan")
    expected = float((cm.sum(axis=0).astype(np.float64) * support).sum()) / (total * total)
    kappa = float((oa - expected) / (1.0 - expected)) if expected < 1.0 else 1.0
    return Metrics(
        oa=oa,
        aa=aa,
        kappa=kappa,
        per_class=tuple(float(x) for x in per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        n_test=total,
    )


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Metrics:
    """Metrics of predictions ``y_pred`` against ``y_true`` (both 0..K-1)."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, n_classes))


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of metrics over seeds (ddof=1; 0 for one seed)."""

    n_runs: int
    mean: dict[str, float]
    std: dict[str, float]
    per_class_mean: tuple[float, ...]
    per_class_std: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_runs": self.n_runs,
            "mean": self.mean,
            "std": self.std,
            "per_class_mean": list(self.per_class_mean),
            "per_class_std": list(self.per_class_std),
        }


def _std(values: np.ndarray, axis: int = 0) -> np.ndarray:
    if values.shape[axis] < 2:
        return np.zeros(values.shape[1:] if axis == 0 else values.shape[:-1])
    return np.nanstd(values, axis=axis, ddof=1)


def aggregate(runs: list[Metrics]) -> Summary:
    """Mean ± std of OA, AA, kappa and per-class accuracy over runs (e.g. seeds)."""
    if not runs:
        raise ValueError("aggregate needs at least one run")
    scalars = {
        k: np.array([getattr(m, k) for m in runs], dtype=np.float64) for k in ("oa", "aa", "kappa")
    }
    per_class = np.array([m.per_class for m in runs], dtype=np.float64)
    with warnings.catch_warnings():  # a class absent from every test set stays NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        per_class_mean = np.nanmean(per_class, axis=0)
        per_class_std = _std(per_class)
    return Summary(
        n_runs=len(runs),
        mean={k: float(v.mean()) for k, v in scalars.items()},
        std={k: float(_std(v[:, None])[0]) for k, v in scalars.items()},
        per_class_mean=tuple(float(x) for x in per_class_mean),
        per_class_std=tuple(float(x) for x in per_class_std),
    )


def format_pm(mean: float, std: float, scale: float = 100.0, digits: int = 2) -> str:
    """'97.31 ± 0.42' in percent by default."""
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def format_epochs(epochs: Sequence[int], best: Sequence[int] | None = None) -> str | None:
    """'30 (24)': mean epochs run and mean best epoch over seeds; None without epochs (SVM)."""
    if not any(epochs):
        return None
    return f"{np.mean(epochs):.0f}" + (f" ({np.mean(best):.0f})" if best else "")
