"""Fitting and evaluation of the estimator models (``Fit.ESTIMATOR``), e.g. the RBF SVM.

The run directory (:class:`~mssfe.training.rundir.RunDir`) has the network trainer's layout
minus the checkpoints and the epoch log. The fitted hyper-parameters (best C and gamma, the CV
score, how the search ran) go into its metrics record rather than a pickle, so nothing in a run
directory executes code when read.

The split and the preprocessing are exactly the torch trainer's (:func:`trainer.prepare_data`:
the split is made with the model's ``patch_size`` and the band standardisation is fitted on the
training pixels). The classifier sees the pixel spectra of ``data.features`` only at the
training and validation indices: cross-validation on those pixels replaces early stopping, so
the validation pixels join the training set. The test pixels are predicted once, at the end
(a spatial estimator classifies the whole image and keeps the test pixels' labels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from mssfe.data.scenes import Scene
from mssfe.errors import ConfigError
from mssfe.evaluation.metrics import compute_metrics
from mssfe.models import Fit, create_model, get_model_spec
from mssfe.training.config import ResolvedRunConfig, RunConfig
from mssfe.training.prepare import PreparedData, load_scene_for, prepare_data, resolve
from mssfe.training.rundir import RunDir, RunResult, write_metrics
from mssfe.training.runtime import seed_everything


def fit_pixels(data: PreparedData) -> tuple[np.ndarray, np.ndarray]:
    """Spectra ``(N, C)`` and 0-based labels of the training + validation pixels."""
    idx = np.concatenate((data.split.train, data.split.val))
    features = data.features.reshape(-1, data.features.shape[2])
    return features[idx], data.scene.labels.ravel()[idx] - 1


def train_classic(
    config: RunConfig | ResolvedRunConfig, run_dir: str | Path, *, scene: Scene | None = None
) -> RunResult:
    """Fit an estimator model on one (scene, split, seed) and evaluate it on the test pixels,
    writing the run directory. A finished run (``metrics.json`` present) is kept and its
    metrics re-read, as :func:`mssfe.workflows.train.train_seeds` expects."""
    run = RunDir(Path(run_dir))
    config = resolve(config)
    if get_model_spec(config.model).fit is not Fit.ESTIMATOR:
        raise ConfigError(
            "train_classic fits estimators",
            field="model",
            expected="an estimator model",
            got=f"'{config.model}', trained by gradient",
        )
    if run.is_finished():
        return run.load_result()
    seed_everything(config.seed, deterministic=config.runtime.deterministic)
    scene = scene if scene is not None else load_scene_for(config)
    data = prepare_data(config, scene)
    run.start(config, data)

    n_bands = data.features.shape[2]
    estimator: Any = create_model(
        config.model, n_bands=n_bands, n_classes=scene.n_classes, **config.model_args
    )
    if hasattr(estimator, "random_state"):
        estimator.random_state = config.seed
    x_fit, y_fit = fit_pixels(data)
    t0 = time.perf_counter()
    estimator.fit(x_fit, y_fit)
    train_seconds = time.perf_counter() - t0

    test_idx = data.split.test
    t0 = time.perf_counter()
    pred, n_classified = _predict_test(estimator, data.features, test_idx)
    pixels_per_s = n_classified / max(time.perf_counter() - t0, 1e-9)
    metrics = compute_metrics(scene.labels.ravel()[test_idx] - 1, pred, scene.n_classes)
    write_metrics(
        run,
        config,
        data,
        metrics,
        best_epoch=0,
        epochs=0,
        train_seconds=train_seconds,
        test_pixels_per_s=pixels_per_s,
        n_fit=len(y_fit),
        fitted=fitted_parameters(estimator),
    )
    return RunResult(run.path, metrics, 0, 0, train_seconds, pixels_per_s)


def _predict_test(
    estimator: Any, features: np.ndarray, test_idx: np.ndarray
) -> tuple[np.ndarray, int]:
    """Labels of the test pixels and how many pixels were classified to get them: a spatial
    estimator (one with ``predict_image``, e.g. ``svm_epf``) classifies the whole image, since
    a pixel's label depends on its neighbours; a pixel-wise one only the test spectra."""
    if not len(test_idx):
        return np.zeros(0, dtype=np.int64), 0
    if hasattr(estimator, "predict_image"):
        return estimator.predict_image(features).ravel()[test_idx], features.shape[
            0
        ] * features.shape[1]
    return estimator.predict(features.reshape(-1, features.shape[2])[test_idx]), len(test_idx)


def fitted_parameters(estimator: Any) -> dict[str, Any]:
    """The estimator's chosen hyper-parameters and search record, JSON-ready."""
    out: dict[str, Any] = {}
    for attr in ("best_params_", "cv_score_", "n_splits_", "search_"):
        if hasattr(estimator, attr):
            out[attr.rstrip("_")] = getattr(estimator, attr)
    return out
