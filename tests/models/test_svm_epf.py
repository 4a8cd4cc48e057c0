"""The SVM with spatially filtered probabilities (``svm_epf``): the guided filter's defining
properties, the derived footprint, the scikit-learn contract, and on the real Salinas-A scene
with 5 labelled pixels per class a clear gain over the pixel-wise SVM on the same split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from sklearn.base import clone

from mssfe.errors import ConfigError, EstimatorInputError
from mssfe.models import input_needs
from mssfe.models.svm_epf import SmoothedSVM, first_component, guided_filter
from mssfe.training.config import DataConfig, RunConfig
from mssfe.training.trainer import train


def test_a_flat_guide_makes_the_guided_filter_two_box_means() -> None:
    """With no edge in the guide (variance 0) a = 0 and b = the window mean: the output is the
    box mean of the box mean, for any eps."""
    rng = np.random.default_rng(0)
    maps = rng.random((20, 24, 3))
    out = guided_filter(np.full((20, 24), 0.5), maps, radius=2, eps=0.01)
    once = uniform_filter(maps, size=(5, 5, 1), mode="reflect")
    np.testing.assert_allclose(out, uniform_filter(once, size=(5, 5, 1), mode="reflect"))


def test_the_guided_filter_keeps_an_edge_of_the_guide_that_a_box_filter_blurs() -> None:
    guide = np.zeros((30, 30))
    guide[:, 15:] = 1.0
    rng = np.random.default_rng(1)
    noisy = (guide + rng.normal(0, 0.3, guide.shape))[..., None]
    guided = guided_filter(guide, noisy, radius=4, eps=0.01)[..., 0]
    boxed = uniform_filter(noisy[..., 0], size=9, mode="reflect")
    # next to the edge the box filter mixes both sides; the guided filter stays on its side
    assert abs(guided[:, 14].mean() - 0.0) < 0.1 and abs(guided[:, 15].mean() - 1.0) < 0.1
    assert abs(boxed[:, 14].mean() - 0.0) > 0.3 and abs(boxed[:, 15].mean() - 1.0) > 0.3
    assert np.abs(guided - guide).mean() < np.abs(noisy[..., 0] - guide).mean() / 3


def test_the_guide_is_the_first_principal_component_in_unit_range() -> None:
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(10, 12))
    image = np.stack([signal * w for w in (1.0, 2.0, -1.5)], axis=2) + 1e-6 * rng.normal(
        size=(10, 12, 3)
    )
    pc = first_component(image)
    assert pc.min() == 0.0 and pc.max() == 1.0
    assert abs(np.corrcoef(pc.ravel(), signal.ravel())[0, 1]) > 0.999


def test_the_footprint_is_the_patch_size_and_cannot_be_set_otherwise() -> None:
    assert input_needs("svm_epf", {}).patch_size == 17  # guided, radius 4: 2 * (2 * 4) + 1
    assert input_needs("svm_epf", {"radius": 2}).patch_size == 9
    assert input_needs("svm_epf", {"filter": "gaussian", "sigma": 3.0}).patch_size == 19
    with pytest.raises(ConfigError, match="'patch_size' is the filter's footprint, 17"):
        input_needs("svm_epf", {"patch_size": 5})
    with pytest.raises(ConfigError, match="'filter' must be one of"):
        input_needs("svm_epf", {"filter": "median"})
    with pytest.raises(ConfigError, match="'eps' must be a number > 0"):
        input_needs("svm_epf", {"eps": 0.0})


def test_scikit_learn_contract_and_image_prediction() -> None:
    model = SmoothedSVM(C_grid=(1.0, 100.0), gamma_grid=(0.1, 1.0), cv=2, radius=1)
    assert clone(model).get_params() == model.get_params()
    assert model.get_params()["radius"] == 1 and model.get_params()["filter"] == "guided"
    rng = np.random.default_rng(3)
    labels = np.zeros((12, 12), dtype=np.int64)
    labels[:, 6:] = 1
    image = rng.normal(size=(12, 12, 4)) + 2.0 * labels[..., None]
    train_idx = rng.choice(144, size=40, replace=False)
    model.fit(image.reshape(-1, 4)[train_idx], labels.ravel()[train_idx])
    smoothed = model.predict_image(image)
    plain = model.predict(image.reshape(-1, 4)).reshape(12, 12)
    assert smoothed.shape == (12, 12)
    assert (smoothed == labels).mean() >= (plain == labels).mean()
    proba = model.predict_proba_image(image)
    np.testing.assert_allclose(proba.sum(axis=2), 1.0, atol=1e-6)  # a linear filter keeps sums
    with pytest.raises(EstimatorInputError, match="an array \\(H, W, B\\)"):
        model.predict_image(image.reshape(-1, 4))


def test_on_real_salinas_a_with_5_pixels_per_class_smoothing_beats_the_plain_svm(
    tmp_path: Path,
) -> None:
    """Same scene, split protocol and seed; the split of each is drawn with the model's own
    patch side (the leakage differs and is recorded), the test pixels are all scored."""
    oa = {}
    for model in ("svm", "svm_epf"):
        config = RunConfig(model=model, data=DataConfig(scene="SalinasA", split="random:5"), seed=0)
        result = train(config, tmp_path / model)
        oa[model] = result.metrics.oa
    assert oa["svm_epf"] > oa["svm"] + 0.015, oa
    assert oa["svm_epf"] > 0.97, oa
