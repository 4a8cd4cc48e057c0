"""What a run trains on: the resolved configuration, the scene, its split and preprocessing."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from mssfe.data.patches import PatchDataset
from mssfe.data.preprocess import Preprocessor, fit_preprocessor
from mssfe.data.scenes import Scene, load_scene, load_user_scene, select_scene_bands
from mssfe.data.splits import (
    Split,
    UnlabelledPool,
    make_split,
    subsample_test,
    unlabelled_pool,
)
from mssfe.errors import ConfigError
from mssfe.models import Fit, get_model_spec, input_needs, make_config
from mssfe.training.config import (
    DataConfig,
    OptimConfig,
    ResolvedOptimConfig,
    ResolvedRunConfig,
    RunConfig,
)
from mssfe.training.recipes import recipe_optim_defaults, resolve_recipe
from mssfe.utils.validation import build_dataclass

FALLBACK_TRAINING: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "max_epochs": 200,
    "patience": 20,
    "scheduler": "none",
    "augment": True,
}


def resolve(config: RunConfig | ResolvedRunConfig) -> ResolvedRunConfig:
    """The configuration as it will run: the model's whole configuration, every part of the
    training recipe (from the named recipe where none was given) and, for a gradient-trained
    model, every optimiser value (the user's, else the recipe's optimiser default, else the
    model's registry default).

    An estimator has no optimiser: whatever ``optim`` asked (a benchmark's shared epoch budget)
    is not recorded, since it is not used. Resolving a resolved config changes nothing, so a
    stored config.toml resolves to itself (one written before recipes existed gains
    ``recipe = paper``, which changes nothing it did).
    """
    spec = get_model_spec(config.model)
    model_args = asdict(make_config(config.model, **config.model_args))
    recipe = resolve_recipe(config.recipe)
    optim: ResolvedOptimConfig | None = None
    if spec.fit is Fit.GRADIENT:
        asked = asdict(config.optim if config.optim is not None else OptimConfig())
        defaults = {**FALLBACK_TRAINING, **spec.training, **recipe_optim_defaults(recipe)}
        filled = {k: (v if v is not None else defaults[k]) for k, v in asked.items()}
        # through the checking constructor, so a registry default of the wrong type fails here
        optim = build_dataclass(ResolvedOptimConfig, filled, where="optim")
    return ResolvedRunConfig(
        model=config.model,
        model_args=model_args,
        data=_absolute_paths(config.data),
        optim=optim,
        recipe=recipe,
        runtime=config.runtime,
        seed=config.seed,
    )


def _absolute_paths(data: DataConfig) -> DataConfig:
    """``data`` with its cube, labels and data directory absolute: a run directory is resumed
    and evaluated from any working directory."""
    paths = {
        key: os.path.abspath(os.path.expanduser(value))
        for key in ("cube", "labels", "data_dir")
        if (value := getattr(data, key))
    }
    return replace(data, **paths)


@dataclass(frozen=True)
class PreparedData:
    """A scene split and preprocessed for one model: what training and evaluation consume."""

    scene: Scene
    split: Split
    preprocessor: Preprocessor
    features: np.ndarray  # (H, W, C) float32 after preprocessing
    patch_size: int

    @cached_property
    def _padded(self) -> PatchDataset:
        """The padded feature cube, made once and shared by every pixel selection."""
        empty = np.zeros(0, dtype=np.int64)
        return PatchDataset(self.features, empty, empty, self.patch_size)

    def dataset(self, which: str, part: slice | None = None) -> PatchDataset:
        """Patches of the split's ``train``/``val``/``test`` pixels (optionally a slice of them)."""
        idx = getattr(self.split, which)
        if part is not None:
            idx = idx[part]
        return self._padded.with_pixels(idx, self.scene.labels.ravel()[idx] - 1)

    def unlabelled(self, pool: UnlabelledPool) -> PatchDataset:
        """Patches (no targets) of the pixels semi-supervised training may use: see
        :func:`mssfe.data.splits.unlabelled_pool`; an empty pool is a ConfigError."""
        idx = unlabelled_pool(self.split, self.scene.labels, pool, self.patch_size)
        if idx.size == 0:
            raise ConfigError(
                "use ssl = 'transductive' or 'none'",
                field="recipe.ssl",
                expected=f"a non-empty {pool} pool of unlabelled pixels",
                got=f"none in {self.scene.name} (every pixel is labelled or next to a test pixel)",
            )
        return self._padded.with_pixels(idx, None)

    @cached_property
    def band_scale(self) -> np.ndarray:
        """``(C,)`` float32 standard deviation of each feature over the scene (not just the
        labelled pixels: no label is read), the unit of the spectral augmentation."""
        flat = self.features.reshape(-1, self.features.shape[2])
        return flat.std(axis=0, dtype=np.float64).astype(np.float32)


def load_scene_for(
    config: RunConfig | ResolvedRunConfig,
    *,
    download: bool | None = None,
    labels_only: bool = False,
) -> Scene:
    """The scene a config names: the user's cube and labels, or a registered scene, with the
    bands the config selects (``data.bands``, less the file's bad bands unless
    ``data.keep_bad_bands``).

    Every caller that builds a scene from a config comes here, so training, resuming,
    evaluating and predicting take the same bands. ``download`` overrides the config's (a
    report never downloads); ``labels_only`` skips the cube of a registered scene.
    """
    d = config.data
    if d.cube is not None and d.labels is not None:
        scene = load_user_scene(
            d.cube, d.labels, var=d.var, labels_var=d.labels_var, nan_policy=d.nan_policy
        )
    else:
        scene = load_scene(
            d.scene,
            data_dir=d.data_dir,
            download=d.download if download is None else download,
            labels_only=labels_only,
            nan_policy=d.nan_policy,
        )
    return select_scene_bands(scene, d.bands, keep_bad=d.keep_bad_bands, name="data.bands")


def input_scale(config: ResolvedRunConfig) -> str:
    """How the network's input components are scaled: the recipe's ``input_scale`` for a
    network; a classic model takes only the recipe's selection part, so always per component."""
    if get_model_spec(config.model).fit is Fit.GRADIENT:
        return config.recipe.input_scale
    return "component"


def prepare_data(
    config: ResolvedRunConfig,
    scene: Scene,
    split: Split | None = None,
    preprocessor: Preprocessor | None = None,
) -> PreparedData:
    """Split (unless given) and fit preprocessing on the training pixels (unless given).

    A new split keeps a stratified ``data.max_test`` of its test pixels when one is set.
    With recipe selection ``last`` the split's validation pixels join its training pixels
    (before the preprocessing is fitted, exactly as if ``val_fraction`` were 0).
    """
    needs = input_needs(config.model, config.model_args)
    if split is None:
        split = make_split(
            scene.labels,
            config.data.split,
            seed=config.seed,
            patch_size=needs.patch_size,
            val_fraction=config.data.val_fraction,
        )
        if config.data.max_test is not None:  # a stratified subset, noted in the split
            split = subsample_test(split, scene.labels, config.data.max_test, seed=config.seed)
    if config.recipe.selection == "last":  # a fixed schedule: every labelled pixel trains
        split = split.with_val_in_train()
    cube = scene.require_cube()
    if preprocessor is None:
        preprocessor = fit_preprocessor(
            cube,
            split.train,
            n_components=needs.n_components,
            pca_fit=config.data.pca_fit,  # type: ignore[arg-type]
            seed=config.seed,
            scale=input_scale(config),  # type: ignore[arg-type]
        )
    return PreparedData(scene, split, preprocessor, preprocessor.transform(cube), needs.patch_size)
