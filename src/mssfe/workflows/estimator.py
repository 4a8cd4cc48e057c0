"""Any registered network as a scikit-learn classifier of the pixels of one cube.

For users who live in scikit-learn pipelines: ``cross_val_score``, ``GridSearchCV``,
``clone`` work on :class:`PatchClassifier`. The samples are pixels of one cube, given by
their position; the network sees the patch around each (its registry patch size), so the
estimator holds the cube and ``X`` holds pixel indices.

``fit`` trains exactly as ``mssfe train`` does (mssfe's trainer, preprocessing, seeding and
early stopping) in a temporary run directory that is deleted afterwards; the best epoch's
weights stay in memory. The split it trains on is a ``file:TRAIN,TEST`` split of the given
pixels: validation pixels (``validation_fraction`` of each class's, at least one when a class
has three or more, as the trainer always carves them) guide early stopping; the trainer also
wants a test set, so one pixel of the largest class is held out and its score discarded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from mssfe.data.patches import PatchDataset
from mssfe.data.registry import PALETTE
from mssfe.data.scenes import Scene
from mssfe.errors import ConfigError, EstimatorInputError
from mssfe.models import Fit, get_model_spec, input_needs
from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.inference import predict_dataset
from mssfe.training.rundir import RunDir
from mssfe.training.runtime import resolve_device
from mssfe.training.trainer import train
from mssfe.workflows.predict import load_best_model


class PatchClassifier(ClassifierMixin, BaseEstimator):
    """A registered network (``ms2fenet``, ``ssftt`` ...) as a scikit-learn classifier.

    ``cube`` ``(H, W, B)`` is the scene, raw as stored; ``X`` is the pixels to classify:
    flat indices ``(N,)`` or ``(N, 1)`` (``row * W + col``) or positions ``(N, 2)``
    (``row, col``); ``y`` ``(N,)`` their labels (any values; ``classes_`` holds them sorted).
    ``model_args`` are the model's registry options (``patch_size``, ``n_components`` ...);
    ``epochs``, ``patience``, ``lr``, ``batch_size``, ``augment`` default to the model's
    registry training settings. ``clone`` deep-copies every parameter, the cube included.

    After :meth:`fit`: ``model_`` (the network, eval mode), ``preprocessor_``, ``config_``
    (the resolved :class:`RunConfig`), ``best_epoch_`` and ``n_epochs_``.
    """

    def __init__(
        self,
        cube: np.ndarray | None = None,
        model: str = "ms2fenet",
        *,
        model_args: dict[str, Any] | None = None,
        epochs: int | None = None,
        patience: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        augment: bool | None = None,
        validation_fraction: float = 0.1,
        pca_fit: str = "scene",
        device: str = "cpu",
        threads: int | None = None,
        random_state: int = 0,
        progress: bool = False,
    ) -> None:
        self.cube = cube
        self.model = model
        self.model_args = model_args
        self.epochs = epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.pca_fit = pca_fit
        self.device = device
        self.threads = threads
        self.random_state = random_state
        self.progress = progress

    # -- scikit-learn interface ---------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> PatchClassifier:
        """Train the network on the patches around pixels ``X`` with labels ``y``."""
        if get_model_spec(self.model).fit is not Fit.GRADIENT:
            raise ConfigError(
                f"PatchClassifier: model '{self.model}' is not a network; use "
                "mssfe.models.svm.RBFSVM on pixel spectra directly"
            )
        cube = self._cube()
        idx = self._pixels(X, cube)
        y = np.asarray(y)
        if y.shape != (idx.size,):
            raise EstimatorInputError(
                "one label per pixel", field="y", expected=(idx.size,), got=y.shape
            )
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise EstimatorInputError(
                f"a classifier needs at least two classes; y holds {len(self.classes_)} class",
                field="y",
            )
        labels = np.zeros(cube.shape[0] * cube.shape[1], dtype=np.int64)
        labels[idx] = y_index + 1
        scene = self._scene(cube, labels.reshape(cube.shape[:2]))
        with tempfile.TemporaryDirectory(prefix="mssfe-fit-") as tmp:
            run_dir = Path(tmp) / "run"
            split = _write_split_rasters(Path(tmp), labels, idx, y_index, cube.shape[:2])
            result = train(self._config(split), run_dir, scene=scene)
            run = RunDir(run_dir)
            self.config_ = run.read_config()
            self.preprocessor_ = run.read_preprocessor()
            self.model_ = load_best_model(
                run_dir,
                self.config_,
                self.preprocessor_.n_outputs,
                len(self.classes_),
                resolve_device(self.device),
            )
        self.best_epoch_, self.n_epochs_ = result.best_epoch, result.epochs
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax probabilities ``(N, K)`` of pixels ``X``, columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        cube = self._cube()
        idx = self._pixels(X, cube)
        features = self.preprocessor_.transform(cube)
        patch = input_needs(self.config_.model, self.config_.model_args).patch_size
        dataset = PatchDataset(features, idx, None, patch)
        _, probs = predict_dataset(
            self.model_, dataset, resolve_device(self.device), precision="32"
        )
        return probs.reshape(idx.size, len(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(N,)`` (values of ``classes_``) of pixels ``X``."""
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])

    # -- helpers ------------------------------------------------------------------------------

    def _cube(self) -> np.ndarray:
        cube = np.asarray(self.cube) if self.cube is not None else None
        if cube is None or cube.ndim != 3:
            raise EstimatorInputError(
                "the estimator needs its scene",
                field="cube",
                expected="(H, W, B) array",
                got=None if cube is None else cube.shape,
            )
        return cube

    def _pixels(self, X: Any, cube: np.ndarray) -> np.ndarray:
        """Flat pixel indices ``(N,)`` from ``X`` (see the class docstring), checked."""
        height, width = cube.shape[:2]
        arr = np.asarray(X)
        if arr.ndim == 2 and arr.shape[1] == 2:
            rows, cols = arr[:, 0], arr[:, 1]
            if np.issubdtype(arr.dtype, np.integer) and (
                (rows < 0).any()
                or (rows >= height).any()
                or (cols < 0).any()
                or (cols >= width).any()
            ):
                raise EstimatorInputError(
                    "pixel positions outside the cube",
                    field="X",
                    expected=f"rows 0..{height - 1}, columns 0..{width - 1}",
                    got=f"rows {rows.min()}..{rows.max()}, columns {cols.min()}..{cols.max()}",
                )
            arr = rows * width + cols
        elif arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise EstimatorInputError(
                "X must hold pixel indices",
                field="X",
                expected="integers (N,) or (N, 1) flat, or (N, 2) row, column",
                got=f"{arr.dtype} {arr.shape}",
            )
        if arr.size and (arr.min() < 0 or arr.max() >= height * width):
            raise EstimatorInputError(
                "pixel indices outside the cube",
                field="X",
                expected=f"0..{height * width - 1}",
                got=f"{arr.min()}..{arr.max()}",
            )
        return arr.astype(np.int64)

    def _scene(self, cube: np.ndarray, labels: np.ndarray) -> Scene:
        names = tuple(str(c) for c in self.classes_)
        return Scene(
            name="cube",
            cube=cube,
            labels=labels,
            class_names=names,
            label_values=tuple(range(1, len(names) + 1)),
            colours=tuple(PALETTE[i % len(PALETTE)] for i in range(len(names))),
        )

    def _config(self, split: str) -> RunConfig:
        return RunConfig(
            model=self.model,
            model_args=dict(self.model_args or {}),
            data=DataConfig(
                scene="cube",
                split=split,
                val_fraction=float(self.validation_fraction),
                pca_fit=self.pca_fit,
            ),
            optim=OptimConfig(
                lr=self.lr,
                batch_size=self.batch_size,
                max_epochs=self.epochs,
                patience=self.patience,
                augment=self.augment,
            ),
            runtime=RuntimeConfig(
                device=self.device, threads=self.threads, progress=bool(self.progress)
            ),
            seed=int(self.random_state),
        )


def _write_split_rasters(
    directory: Path, labels: np.ndarray, idx: np.ndarray, y_index: np.ndarray, shape: Any
) -> str:
    """``file:TRAIN,TEST`` rasters: every given pixel trains (the trainer carves validation
    from them) but one of the largest class, which is the trainer's required test set."""
    largest = np.bincount(y_index).argmax()
    held_out = idx[np.flatnonzero(y_index == largest)[-1]]
    train_map = labels.copy()
    train_map[held_out] = 0
    test_map = np.zeros_like(labels)
    test_map[held_out] = labels[held_out]
    np.save(directory / "train.npy", train_map.reshape(shape))
    np.save(directory / "test.npy", test_map.reshape(shape))
    return f"file:{directory / 'train.npy'},{directory / 'test.npy'}"
