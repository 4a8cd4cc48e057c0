"""The torch baselines: default shapes, the layer shapes and parameter counts of their papers
and reference code, gradient flow, and clear errors for inputs too small for their layers.

Sources of the pinned figures:
- HybridSN: 5,122,176 parameters and every layer shape, from the authors' Keras
  ``model.summary()`` (github.com/gokriznastic/HybridSN; Roy et al., GRSL 2020, Table I).
- SSFTT: the layer structure of the authors' ``SSFTTnet.py`` (github.com/zgr6010/HSI_SSFTT),
  counted by hand below: 153,224 in all; 148,488 (the figure torchsummary prints) excludes the
  4,736 parameters held directly by the network (tokeniser W_a, W_v, position embeddings,
  class token).
- SSRN, A2S2K-ResNet, 3-D CNN: the papers give no count; the layer output shapes are those of
  SSRN's Fig. 6 / A2S2K's Fig. 2 / DeepHyperX's HamidaEtAl, the counts are ours, derived by hand
  below from those layers so that a change of architecture shows.
"""

from __future__ import annotations

import pytest
import torch

from mssfe.errors import ConfigError, DataError
from mssfe.models import (
    Fit,
    count_parameters,
    create_model,
    get_model_spec,
    layer_table,
    make_config,
)

TORCH_BASELINES = ["cnn3d", "ssrn", "hybridsn", "a2s2k", "ssftt"]
IP_BANDS = 200  # Indian Pines after removing the water-absorption bands
IP_CLASSES = 16


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def default_input(name: str, n_bands: int = IP_BANDS) -> tuple[int, int, int, int, int]:
    cfg = make_config(name)
    depth = cfg.n_components or n_bands
    return (2, 1, depth, cfg.patch_size, cfg.patch_size)


def conv_shapes(name: str) -> list[tuple[int, ...]]:
    """Output shapes (batch dropped) of the conv / linear layers, in execution order."""
    model = create_model(name, n_bands=IP_BANDS, n_classes=IP_CLASSES)
    shape = default_input(name)[1:]
    rows = layer_table(model, (1, *shape))
    kinds = ("Conv3d", "Conv2d", "Linear")
    return [r.output_shape[1:] for r in rows if r.type in kinds and "attention" not in r.name]


# ------------------------------------------------------------------ defaults, registry


@pytest.mark.parametrize(
    ("name", "patch", "components", "optimizer", "lr", "batch"),
    [
        ("hybridsn", 25, 30, "adam", 1e-3, 256),
        ("ssftt", 13, 30, "adam", 1e-3, 64),
        ("ssrn", 7, None, "adam", 3e-4, 16),  # paper: RMSprop 3e-4 (not in the trainer)
        ("a2s2k", 9, None, "adam", 1e-3, 16),
        ("cnn3d", 5, None, "sgd", 1e-2, 100),
    ],
)
def test_registry_defaults_are_the_papers(
    name: str, patch: int, components: int | None, optimizer: str, lr: float, batch: int
) -> None:
    cfg = make_config(name)
    assert (cfg.patch_size, cfg.n_components) == (patch, components)
    spec = get_model_spec(name)
    assert spec.fit is Fit.GRADIENT
    assert (spec.training["optimizer"], spec.training["lr"], spec.training["batch_size"]) == (
        optimizer,
        lr,
        batch,
    )
    types = {
        "optimizer": str,
        "lr": float,
        "weight_decay": float,
        "batch_size": int,
        "max_epochs": int,
        "patience": int,
        "scheduler": str,
        "augment": bool,
    }
    assert {k: type(spec.training[k]) for k in types} == types
    assert spec.paper and "doi:" in spec.paper


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_default_output_shape_and_gradients(name: str) -> None:
    model = create_model(name, n_bands=IP_BANDS, n_classes=IP_CLASSES)
    x = torch.randn(default_input(name), requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, IP_CLASSES)
    logits.logsumexp(1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_wrong_input_shape_is_a_data_error(name: str) -> None:
    model = create_model(name, n_bands=IP_BANDS, n_classes=IP_CLASSES)
    n, c, b, p, _ = default_input(name)
    with pytest.raises(DataError, match="wrong shape"):
        model(torch.randn(n, c, b, p + 2, p + 2))


# ------------------------------------------------------------------ pinned figures


def test_hybridsn_matches_the_authors_keras_summary() -> None:
    # gokriznastic/HybridSN model.summary(), Indian Pines: PCA 30, 25 x 25, 16 classes.
    model = create_model("hybridsn", n_bands=IP_BANDS, n_classes=IP_CLASSES)
    assert count_parameters(model) == 5_122_176
    assert conv_shapes("hybridsn") == [
        (8, 24, 23, 23),  # Keras (23, 23, 24, 8)
        (16, 20, 21, 21),
        (32, 18, 19, 19),
        (64, 17, 17),  # after the reshape to (19, 19, 576)
        (256,),
        (128,),
        (16,),
    ]
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.4, 0.4]


def ssftt_reference_count(n_classes: int) -> int:
    """zgr6010/HSI_SSFTT SSFTTnet(): PCA 30, 13 x 13 patch, dim 64, 4 tokens, 1 layer."""
    conv3d = 8 * 27 + 8 + 2 * 8  # Conv3d(1, 8, 3) + BN3d(8)
    conv2d = 8 * 28 * 64 * 9 + 64 + 2 * 64  # Conv2d(224, 64, 3) + BN2d(64)
    free = 4 * 64 + 64 * 64 + 5 * 64 + 64  # token_wA, token_wV, pos_embedding, cls_token
    layer = 2 * 2 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 8 + 8) + (8 * 64 + 64)
    return conv3d + conv2d + free + layer + 64 * n_classes + n_classes


def test_ssftt_matches_the_reference_structure() -> None:
    model = create_model("ssftt", n_bands=IP_BANDS, n_classes=IP_CLASSES)
    assert count_parameters(model) == ssftt_reference_count(IP_CLASSES) == 153_224
    free = 4 * 64 + 64 * 64 + 5 * 64 + 64
    assert 153_224 - free == 148_488  # what torchsummary reports for the reference code
    assert conv_shapes("ssftt") == [
        (8, 28, 11, 11),
        (64, 9, 9),
        (5, 192),
        (5, 64),
        (5, 8),
        (5, 64),
        (16,),
    ]
    tokens = layer_table(model, (1, 1, 30, 13, 13))
    assert next(r.output_shape for r in tokens if r.name == "tokenizer") == (1, 4, 64)


def ssrn_body_count(n_classes: int, *, spectral_depth: int, eca: bool) -> int:
    """The shared SSRN body for 24 channels, 128 reduced maps, 2 + 2 residual blocks."""
    bn24, bn128 = 2 * 24, 2 * 128
    spectral_block = 2 * (24 * 24 * 7 + 24 + bn24) + (3 if eca else 0)
    spatial_block = 2 * (24 * 24 * 9 + 24 + bn24) + (3 if eca else 0)
    reduce = 24 * 128 * spectral_depth + 128 + bn128
    spatial_stem = 128 * 9 * 24 + 24 + bn24
    return (
        2 * spectral_block + reduce + spatial_stem + 2 * spatial_block + 24 * n_classes + n_classes
    )


def test_ssrn_layer_shapes_of_the_paper() -> None:
    # SSRN Fig. 6 (Indian Pines, 7 x 7 x 200): 7x7x97 x24, 7x7x1 x128, 5x5 x24, pooled 24.
    stem = 24 * 7 + 24 + 2 * 24
    model = create_model("ssrn", n_bands=IP_BANDS, n_classes=IP_CLASSES)
    expected = stem + ssrn_body_count(IP_CLASSES, spectral_depth=97, eca=False)
    assert count_parameters(model) == expected == 364_168
    assert conv_shapes("ssrn") == [
        (24, 97, 7, 7),
        *[(24, 97, 7, 7)] * 4,
        (128, 1, 7, 7),
        (24, 1, 5, 5),
        *[(24, 1, 5, 5)] * 4,
        (16,),
    ]


def test_a2s2k_layer_shapes_of_the_paper() -> None:
    # A2S2K Fig. 2 (Indian Pines, 9 x 9 x 200): two stem branches -> 97 x 24, then SSRN's body.
    stem = (24 * 7 + 24 + 48) + (24 * 63 + 24 + 48) + (24 * 100 + 100) + (100 * 48 + 48)
    model = create_model("a2s2k", n_bands=IP_BANDS, n_classes=IP_CLASSES)
    expected = stem + ssrn_body_count(IP_CLASSES, spectral_depth=97, eca=True)
    assert count_parameters(model) == expected == 373_112
    shapes = conv_shapes("a2s2k")
    assert shapes[:4] == [(24, 97, 9, 9), (24, 97, 9, 9), (100, 1, 1, 1), (48, 1, 1, 1)]
    assert shapes[4:] == [
        *[(24, 97, 9, 9)] * 4,
        (128, 1, 9, 9),
        (24, 1, 7, 7),
        *[(24, 1, 7, 7)] * 4,
        (16,),
    ]
    ecas = [m for m in model.modules() if type(m).__name__ == "ECA3d"]
    assert len(ecas) == 4


def test_cnn3d_layer_shapes_of_deephyperx_hamida() -> None:
    model = create_model("cnn3d", n_bands=IP_BANDS, n_classes=IP_CLASSES)
    convs = [
        20 * 27 + 20,  # 20 x (3, 3, 3)
        20 * 20 * 3 + 20,  # 20 x (3, 1, 1) stride 2
        35 * 20 * 27 + 35,  # 35 x (3, 3, 3)
        35 * 35 * 3 + 35,  # 35 x (3, 1, 1) stride 2
        35 * 35 * 3 + 35,  # 35 x (3, 1, 1)
        35 * 35 * 2 + 35,  # 35 x (2, 1, 1) stride 2
    ]
    assert count_parameters(model) == sum(convs) + 35 * 26 * 16 + 16 == 45_196
    assert conv_shapes("cnn3d") == [
        (20, 198, 3, 3),
        (20, 99, 3, 3),
        (35, 99, 1, 1),
        (35, 50, 1, 1),
        (35, 50, 1, 1),
        (35, 26, 1, 1),
        (16,),
    ]


# ------------------------------------------------------------------ minimum inputs


@pytest.mark.parametrize(
    ("name", "min_patch", "min_depth"),
    [("hybridsn", 9, 13), ("ssftt", 5, 3), ("ssrn", 3, 7), ("a2s2k", 3, 7), ("cnn3d", 5, 3)],
)
def test_too_small_inputs_are_config_errors(name: str, min_patch: int, min_depth: int) -> None:
    components = make_config(name).n_components
    bands = 30 if components else IP_BANDS
    model = create_model(name, n_bands=bands, n_classes=3, patch_size=min_patch)
    depth = components or bands
    assert model(torch.randn(2, 1, depth, min_patch, min_patch)).shape == (2, 3)
    with pytest.raises(ConfigError, match=r"'patch_size' is too small.*minimum is"):
        create_model(name, n_bands=bands, n_classes=3, patch_size=min_patch - 1)
    # enough bands: builds; one band fewer: names the field and the minimum
    create_model(name, n_bands=min_depth, n_classes=3, n_components=None, patch_size=min_patch)
    with pytest.raises(ConfigError, match=f"minimum is {min_depth} spectral bands"):
        create_model(name, n_bands=min_depth - 1, n_classes=3, n_components=None)
    if min_depth > 1:
        with pytest.raises(ConfigError, match="'n_components' is too small"):
            create_model(name, n_bands=IP_BANDS, n_classes=3, n_components=min_depth - 1)


@pytest.mark.parametrize("name", TORCH_BASELINES)
def test_more_components_than_bands_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="exceeds the scene's 20 bands"):
        create_model(name, n_bands=20, n_classes=3, n_components=25)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("hybridsn", "dropout", 1.5),
        ("hybridsn", "kernels3d", ((7, 3, 3), (5, 3))),
        ("ssftt", "heads", 0),
        ("ssrn", "n_blocks", 0),
        ("a2s2k", "reduction", 0),
        ("cnn3d", "channels", (20, 0)),
    ],
)
def test_bad_config_values_name_the_field(name: str, field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        make_config(name, **{field: value})
