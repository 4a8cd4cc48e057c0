"""RBF-kernel SVM on pixel spectra, the classic HSI baseline (Melgani & Bruzzone, TGRS 2004).

Melgani, Bruzzone, 'Classification of Hyperspectral Remote Sensing Images With Support Vector
Machines', IEEE TGRS 42(8):1778-1790, 2004, doi:10.1109/TGRS.2004.831865.

:class:`RBFSVM` is a scikit-learn style estimator: ``fit(X (N, B), y)`` standardises the bands
and picks ``C`` and ``gamma`` by stratified k-fold cross-validation *on the pixels it is given*
(the caller passes training pixels only), ``predict`` returns labels. With few pixels per class
the folds shrink: ``cv = min(cv, smallest class count)``; when a class has a single pixel no
cross-validation is possible and the defaults ``C = 100``, ``gamma = "scale"`` are used. Which
of the two happened is recorded in :attr:`RBFSVM.search_`.

Registered as ``svm`` with ``fit = Fit.ESTIMATOR`` (no optimiser, no epochs):
:func:`mssfe.training.classic.train_classic` fits it into the same run-directory layout as the
networks. It is not an ``nn.Module``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mssfe.errors import ConfigError, DataError
from mssfe.models.registry import Fit, register_model

if TYPE_CHECKING:  # scikit-learn is imported when an SVM is fitted, not with mssfe.models
    from sklearn.pipeline import Pipeline

PAPER = (
    "Melgani, Bruzzone, 'Classification of Hyperspectral Remote Sensing Images With Support "
    "Vector Machines', IEEE TGRS 42(8):1778-1790, 2004, doi:10.1109/TGRS.2004.831865"
)

DEFAULT_C = 100.0
DEFAULT_GAMMA = "scale"


@dataclass(frozen=True)
class SVMConfig:
    """The SVM's grid: ``C`` values, ``gamma`` values (floats, relative to ``1 / n_bands``:
    ``gamma = g / (n_bands * var(X))`` as sklearn's "scale"), and the number of CV folds."""

    n_components: int | None = None
    patch_size: int = 1
    C_grid: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0)
    gamma_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    cv: int = 3

    def __post_init__(self) -> None:
        if self.patch_size != 1:
            raise ConfigError(
                f"SVMConfig: field 'patch_size' must be 1 (pixel spectra), got {self.patch_size!r}"
            )
        if self.n_components is not None and (
            isinstance(self.n_components, bool)
            or not isinstance(self.n_components, int)
            or self.n_components < 1
        ):
            raise ConfigError(
                f"SVMConfig: field 'n_components' must be None or an int >= 1, got {self.n_components!r}"
            )
        for name in ("C_grid", "gamma_grid"):
            values = getattr(self, name)
            if not values or any(isinstance(v, bool) or not v > 0 for v in values):
                raise ConfigError(
                    f"SVMConfig: field '{name}' must be positive numbers, got {values!r}"
                )
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise ConfigError(f"SVMConfig: field 'cv' must be an int >= 2, got {self.cv!r}")


class RBFSVM:
    """StandardScaler + ``SVC(kernel="rbf")`` with C and gamma chosen by cross-validation.

    ``gamma_grid`` holds multipliers of sklearn's "scale" gamma, ``1 / (n_bands * X.var())``
    after standardisation, i.e. ``1 / n_bands``; so the grid is the same for any band count.
    After :meth:`fit`: ``best_params_`` (``C``, ``gamma`` as the float used), ``cv_score_``
    (mean CV accuracy, ``None`` without CV), ``n_splits_`` (0 without CV) and ``search_``
    ("grid" or "default: ..." with the reason).
    """

    def __init__(
        self,
        C_grid: tuple[float, ...] = SVMConfig.C_grid,
        gamma_grid: tuple[float, ...] = SVMConfig.gamma_grid,
        cv: int = 3,
        random_state: int | None = 0,
    ) -> None:
        self.C_grid = tuple(C_grid)
        self.gamma_grid = tuple(gamma_grid)
        self.cv = cv
        self.random_state = random_state

    def _pipeline(self, C: float, gamma: float | str) -> Pipeline:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return make_pipeline(
            StandardScaler(),
            SVC(kernel="rbf", C=C, gamma=gamma, random_state=self.random_state),
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> RBFSVM:
        X, y = _check_xy(X, y)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise DataError(
                "the SVM needs at least two classes",
                field="y",
                expected=">= 2 classes",
                got=len(classes),
            )
        n_splits = min(self.cv, int(counts.min()))
        scale = 1.0 / X.shape[1]  # sklearn's "scale" gamma on standardised bands
        if n_splits < 2:
            self.model_ = self._pipeline(DEFAULT_C, DEFAULT_GAMMA).fit(X, y)
            svc = self.model_[-1]
            self.best_params_: dict[str, Any] = {"C": DEFAULT_C, "gamma": float(svc._gamma)}
            self.cv_score_: float | None = None
            self.n_splits_ = 0
            self.search_ = (
                f"default: a class has {int(counts.min())} training pixel, no cross-validation "
                f"(C={DEFAULT_C:g}, gamma='{DEFAULT_GAMMA}')"
            )
        else:
            from sklearn.model_selection import GridSearchCV, StratifiedKFold

            grid = {
                "svc__C": list(self.C_grid),
                "svc__gamma": [g * scale for g in self.gamma_grid],
            }
            folds = StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
            search = GridSearchCV(self._pipeline(1.0, "scale"), grid, cv=folds, n_jobs=1)
            search.fit(X, y)
            self.model_ = search.best_estimator_
            self.best_params_ = {
                "C": float(search.best_params_["svc__C"]),
                "gamma": float(search.best_params_["svc__gamma"]),
            }
            self.cv_score_ = float(search.best_score_)
            self.n_splits_ = n_splits
            self.search_ = f"grid: {n_splits}-fold stratified CV over {len(self.C_grid)} C x {len(self.gamma_grid)} gamma"
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return self

    def _fitted(self) -> Pipeline:
        model = getattr(self, "model_", None)
        if model is None:
            raise ConfigError("RBFSVM: call fit() before predict()")
        return model

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels ``(N,)`` of pixel spectra ``(N, B)``."""
        model = self._fitted()
        return np.asarray(model.predict(_check_x(X, self.n_features_in_)))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """One-vs-rest scores ``(N, K)`` (no probability calibration needed)."""
        model = self._fitted()
        return np.asarray(model.decision_function(_check_x(X, self.n_features_in_)))


def _check_x(X: np.ndarray, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or (n_features is not None and X.shape[1] != n_features):
        raise DataError(
            "pixel spectra have the wrong shape",
            field="X",
            expected=f"(N, {n_features if n_features is not None else 'B'})",
            got=X.shape,
        )
    if not np.isfinite(X).all():
        raise DataError("pixel spectra hold NaN or inf", field="X")
    return X


def _check_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = _check_x(X)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise DataError(
            "labels do not match the spectra", field="y", expected=(X.shape[0],), got=y.shape
        )
    return X, y


@register_model(  # type: ignore[type-var]  # the one non-nn.Module: an estimator
    "svm", SVMConfig, paper=PAPER, fit=Fit.ESTIMATOR
)
def build_svm(config: SVMConfig, n_bands: int, n_classes: int) -> RBFSVM:
    """Registry entry: an unfitted :class:`RBFSVM` with the config's grid (seed 0)."""
    return RBFSVM(config.C_grid, config.gamma_grid, cv=config.cv, random_state=0)
