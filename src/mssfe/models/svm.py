"""RBF-kernel SVM on pixel spectra, the classic HSI baseline (Melgani & Bruzzone, TGRS 2004).

Melgani, Bruzzone, 'Classification of Hyperspectral Remote Sensing Images With Support Vector
Machines', IEEE TGRS 42(8):1778-1790, 2004, doi:10.1109/TGRS.2004.831865.

:class:`RBFSVM` is a scikit-learn classifier: ``fit(X (N, B), y)`` standardises the bands
and picks ``C`` and ``gamma`` by stratified k-fold cross-validation *on the pixels it is given*
(the caller passes training pixels only), ``predict`` returns labels. With few pixels per class
the folds shrink: ``cv = min(cv, smallest class count)``; when a class has a single pixel no
cross-validation is possible and the defaults ``C = 100``, ``gamma = "scale"`` are used. Which
of the two happened is recorded in :attr:`RBFSVM.search_`. scikit-learn itself is imported
with this module (the training path imports it anyway, for PCA).

Registered as ``svm`` with ``fit = Fit.ESTIMATOR`` (no optimiser, no epochs):
:func:`mssfe.training.classic.train_classic` fits it into the same run-directory layout as the
networks. It is not an ``nn.Module``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mssfe.errors import ConfigError, EstimatorInputError
from mssfe.models.registry import Fit, register_model

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
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


class RBFSVM(ClassifierMixin, BaseEstimator):
    """StandardScaler + ``SVC(kernel="rbf")`` with C and gamma chosen by cross-validation.

    A scikit-learn classifier: ``clone``, ``get_params``/``set_params``, ``score``,
    pipelines and ``cross_val_score`` work, and it passes ``check_estimator``
    (tests/models/test_svm_sklearn.py). ``X`` is ``(N, B)`` pixel spectra, ``y`` ``(N,)``
    labels of any kind (ints, strings); ``classes_`` holds them sorted.

    ``gamma_grid`` holds multipliers of sklearn's "scale" gamma, ``1 / (n_bands * X.var())``
    after standardisation, i.e. ``1 / n_bands``; so the grid is the same for any band count.
    ``probability=True`` (the default) also fits :meth:`predict_proba`: Platt's sigmoid per
    class on cross-validated decision values (``CalibratedClassifierCV(ensemble=False)``, the
    same stratified folds as the search; on the training pixels themselves when a class has a
    single pixel). It does not change :meth:`predict` or :meth:`decision_function`, which
    come from the same fitted SVC either way. After :meth:`fit`: ``best_params_`` (``C``,
    ``gamma`` as the float used), ``cv_score_`` (mean CV accuracy, ``None`` without CV),
    ``n_splits_`` (0 without CV) and ``search_`` ("grid" or "default: ..." with the reason).
    """

    def __init__(
        self,
        C_grid: tuple[float, ...] = SVMConfig.C_grid,
        gamma_grid: tuple[float, ...] = SVMConfig.gamma_grid,
        cv: int = 3,
        random_state: int | None = 0,
        probability: bool = True,
    ) -> None:
        # stored as given (scikit-learn's contract: clone and set_params rely on it)
        self.C_grid = C_grid
        self.gamma_grid = gamma_grid
        self.cv = cv
        self.random_state = random_state
        self.probability = probability

    def _pipeline(self, C: float, gamma: float | str) -> Pipeline:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=C, gamma=gamma))

    def _folds(self, n_splits: int) -> StratifiedKFold:
        from sklearn.model_selection import StratifiedKFold

        return StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)

    def _calibrated(
        self, X: np.ndarray, y: np.ndarray, C: float, gamma: float | str, n_splits: int
    ) -> CalibratedClassifierCV:
        """Platt-scaled probabilities of the fitted pipeline (see the class docstring)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        if n_splits < 2:  # no folds: the sigmoids are fitted on the training pixels themselves
            every = np.arange(len(y))
            frozen = FrozenEstimator(self.model_)
            return CalibratedClassifierCV(frozen, method="sigmoid", cv=[(every, every)]).fit(X, y)
        calibrated = CalibratedClassifierCV(
            self._pipeline(C, gamma), method="sigmoid", cv=self._folds(n_splits), ensemble=False
        )
        return calibrated.fit(X, y)

    def _search(self, X: np.ndarray, y: np.ndarray, n_splits: int) -> tuple[float, float, float]:
        """Best ``C``, ``gamma`` and mean CV accuracy of the grid, by stratified k-fold CV."""
        from sklearn.model_selection import GridSearchCV

        scale = 1.0 / X.shape[1]  # sklearn's "scale" gamma on standardised bands
        grid = {
            "svc__C": [float(c) for c in self.C_grid],
            "svc__gamma": [float(g) * scale for g in self.gamma_grid],
        }
        search = GridSearchCV(
            self._pipeline(1.0, "scale"), grid, cv=self._folds(n_splits), refit=False, n_jobs=1
        )
        search.fit(X, y)
        best = search.best_params_
        return float(best["svc__C"]), float(best["svc__gamma"]), float(search.best_score_)

    def fit(self, X: np.ndarray, y: np.ndarray) -> RBFSVM:
        """Pick C and gamma on ``X`` ``(N, B)``, ``y`` ``(N,)``, then fit on all of them."""
        X, y = _validated_xy(self, X, y)
        classes, counts = np.unique(y, return_counts=True)
        n_splits = min(_check_cv(self.cv), int(counts.min()))
        gamma: float | str
        if n_splits < 2:
            C, gamma = DEFAULT_C, DEFAULT_GAMMA
            self.cv_score_: float | None = None
            self.search_ = (
                f"default: a class has {int(counts.min())} training pixel, no cross-validation "
                f"(C={DEFAULT_C:g}, gamma='{DEFAULT_GAMMA}')"
            )
        else:
            C, gamma, self.cv_score_ = self._search(X, y, n_splits)
            self.search_ = (
                f"grid: {n_splits}-fold stratified CV over "
                f"{len(self.C_grid)} C x {len(self.gamma_grid)} gamma"
            )
        self.model_ = self._pipeline(C, gamma).fit(X, y)
        self.best_params_: dict[str, Any] = {"C": C, "gamma": float(self.model_[-1]._gamma)}
        self.n_splits_ = n_splits if n_splits >= 2 else 0
        if self.probability:
            self.calibrated_ = self._calibrated(X, y, C, gamma, n_splits)
        self.classes_ = classes
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels ``(N,)`` (values of ``classes_``) of pixel spectra ``(N, B)``."""
        check_is_fitted(self)
        return np.asarray(self.model_.predict(_validated_x(self, X)))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """One-vs-rest scores ``(N, K)`` (``(N,)`` for two classes), no calibration needed."""
        check_is_fitted(self)
        return np.asarray(self.model_.decision_function(_validated_x(self, X)))

    @available_if(lambda self: bool(self.probability))
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Platt-scaled class probabilities ``(N, K)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        return np.asarray(self.calibrated_.predict_proba(_validated_x(self, X)))


def _check_cv(cv: Any) -> int:
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ConfigError(f"RBFSVM: parameter 'cv' must be an int >= 2, got {cv!r}")
    return int(cv)


def _validated_x(estimator: RBFSVM, X: Any) -> np.ndarray:
    """scikit-learn's checks of ``X`` against the fitted band count; failures name ``X``."""
    try:
        return np.asarray(validate_data(estimator, X, reset=False, dtype=np.float64))
    except ValueError as exc:
        raise EstimatorInputError(str(exc), field="X") from None


def _validated_xy(estimator: RBFSVM, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's checks (shapes, finite values, classification targets) and at least two
    classes; failures are :class:`EstimatorInputError` naming ``X`` and ``y``."""
    try:
        X, y = validate_data(estimator, X, y, dtype=np.float64)
        check_classification_targets(y)
    except ValueError as exc:
        raise EstimatorInputError(str(exc), field="X, y") from None
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise EstimatorInputError(
            f"the SVM needs at least two classes; y holds {n_classes} class",
            field="y",
            expected=">= 2 classes",
            got=n_classes,
        )
    return X, y


@register_model("svm", SVMConfig, paper=PAPER, fit=Fit.ESTIMATOR)  # the one non-nn.Module
def build_svm(config: SVMConfig, n_bands: int, n_classes: int) -> RBFSVM:
    """Registry entry: an unfitted :class:`RBFSVM` with the config's grid (seed 0).

    The training runner predicts labels only, so the probability calibration is off: it would
    cost more fits and change no prediction."""
    return RBFSVM(config.C_grid, config.gamma_grid, cv=config.cv, random_state=0, probability=False)
