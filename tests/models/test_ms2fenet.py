"""MS²FENet: the layer structure of NETWORK.md, its ablation switches and its input checks."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mssfe.errors import ConfigError, DataError
from mssfe.models import count_parameters, create_model, flops_per_pixel
from mssfe.models.blocks import SpectralFuse
from mssfe.models.ms2fenet import MFC, MS2FENet, MS2FENetConfig

DEFAULT_INPUT = (1, 1, 30, 15, 15)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def reference_count(n_classes: int, *, depthwise: bool) -> int:
    """Parameters predicted by hand from NETWORK.md for the default config.

    Per module: the partition widths c_i (|x_i| + c_(i-1)), the spectral depth D reaching the
    module and the MFC kernel volume; Fuse = Conv2d(c*D, c*D, 1) with bias for i >= 2;
    DW = c*kvol (depthwise) or c*c*kvol (full), no bias; BN = 2 per output channel.
    """
    stem = 8 * 1 * 7 * 3 * 3 + 8 + 2 * 8  # conv with bias + BN
    modules = [  # (partition widths, spectral depth, kernel volume)
        ((2, 4, 6, 8), 24, 5 * 3 * 3),
        ((5, 10, 15, 20), 12, 5 * 3 * 3),
        ((14, 26, 38, 50), 6, 3 * 3 * 3),
    ]
    total = stem
    for widths, depth, kvol in modules:
        total += sum(c * kvol * (1 if depthwise else c) for c in widths)
        total += sum((c * depth) ** 2 + c * depth for c in widths[1:])
        total += 2 * sum(widths)
    return total + 128 * 3 * 2 * 2 * n_classes + n_classes


@pytest.mark.parametrize(("n_classes", "expected"), [(16, 371_314), (9, 360_555)])
def test_parameter_count_matches_the_authors(n_classes: int, expected: int) -> None:
    model = create_model("ms2fenet", n_bands=200, n_classes=n_classes)
    assert count_parameters(model) == expected
    assert reference_count(n_classes, depthwise=True) == expected


def test_flops_per_pixel_about_45_million() -> None:
    model = create_model("ms2fenet", n_bands=200, n_classes=16)
    assert flops_per_pixel(model, DEFAULT_INPUT) == pytest.approx(45.0e6, rel=0.01)


def test_full_convolutions_have_the_predicted_parameter_count() -> None:
    model = create_model("ms2fenet", n_bands=200, n_classes=16, depthwise=False)
    assert count_parameters(model) == reference_count(16, depthwise=False)


def test_channel_widths_grow_8_20_50_128() -> None:
    model = MS2FENet(MS2FENetConfig(), n_bands=30, n_classes=16)
    assert [m.out_channels for m in model.features] == [20, 50, 128]
    flat = MS2FENet(MS2FENetConfig(hierarchical=False), n_bands=30, n_classes=16)
    assert [m.out_channels for m in flat.features] == [8, 8, 8]


def test_fuse_depths_follow_the_input() -> None:
    model = MS2FENet(MS2FENetConfig(n_components=40), n_bands=100, n_classes=3)
    depths = [m.depth for m in model.modules() if isinstance(m, SpectralFuse)]
    assert depths == [34] * 3 + [17] * 3 + [8] * 3  # 40 - 6, then halved by each pooling


SWITCHES = list(itertools.product((1, 2, 4, 8), (True, False), (True, False), (True, False)))


@pytest.mark.parametrize(("partitions", "hierarchical", "fusion", "depthwise"), SWITCHES)
def test_every_ablation_gives_logits(
    partitions: int, hierarchical: bool, fusion: bool, depthwise: bool
) -> None:
    model = create_model(
        "ms2fenet",
        n_bands=30,
        n_classes=5,
        partitions=partitions,
        hierarchical=hierarchical,
        fusion=fusion,
        depthwise=depthwise,
    ).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *DEFAULT_INPUT[1:]))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("hierarchical", [True, False])
def test_hierarchical_connection_carries_partition_1_to_partition_4(
    hierarchical: bool, fusion: bool
) -> None:
    mfc = MFC(8, (3, 3, 3), depth=6, partitions=4, hierarchical=hierarchical, fusion=fusion)
    mfc.eval()
    x = torch.randn(2, 8, 6, 5, 5)
    changed = x.clone()
    changed[:, :2] += torch.randn(2, 2, 6, 5, 5)  # partition 1 = channels 0..1
    with torch.no_grad():
        out, out_changed = mfc(x), mfc(changed)
    last = mfc.widths[-1]
    differs = not torch.allclose(out[:, -last:], out_changed[:, -last:])
    assert differs == hierarchical


def test_one_partition_is_a_single_depthwise_conv() -> None:
    mfc = MFC(8, (5, 3, 3), depth=6, partitions=1)
    convs = [m for m in mfc.modules() if isinstance(m, nn.Conv3d | nn.Conv2d)]
    assert len(convs) == 1
    conv = convs[0]
    assert isinstance(conv, nn.Conv3d)
    assert conv.groups == conv.in_channels == conv.out_channels == 8
    x = torch.randn(2, 8, 6, 5, 5)
    expected = F.conv3d(x, conv.weight, padding=(2, 1, 1), groups=8)
    torch.testing.assert_close(mfc(x), expected)


def test_gradients_reach_every_partition() -> None:
    model = create_model("ms2fenet", n_bands=30, n_classes=4)
    logits = model(torch.randn(4, *DEFAULT_INPUT[1:]))
    F.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    for name, param in model.named_parameters():
        if ".convs." in name or ".fuses." in name:
            assert param.grad is not None, name
            assert param.grad.abs().sum() > 0, name


def test_small_model_overfits_64_patches() -> None:
    model = create_model("ms2fenet", n_bands=12, n_classes=4, patch_size=9, n_components=12)
    x = torch.randn(64, 1, 12, 9, 9)
    y = torch.randint(0, 4, (64,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    accuracy = 0.0
    for step in range(150):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if step % 5 == 4:
            model.eval()
            with torch.no_grad():
                accuracy = (model(x).argmax(1) == y).float().mean().item()
            if accuracy == 1.0:
                break
    assert accuracy == 1.0


def test_too_small_patch_names_the_minimum() -> None:
    create_model("ms2fenet", n_bands=30, n_classes=2, patch_size=9)
    with pytest.raises(ConfigError, match=r"patch_size.*minimum is 9.*got 8"):
        create_model("ms2fenet", n_bands=30, n_classes=2, patch_size=8)
    with pytest.raises(ConfigError, match=r"minimum is 11.*got 9"):
        create_model("ms2fenet", n_bands=30, n_classes=2, patch_size=9, stem_kernel=(7, 5, 5))


def test_too_few_bands_names_the_minimum() -> None:
    create_model("ms2fenet", n_bands=10, n_classes=2, n_components=10)
    with pytest.raises(ConfigError, match=r"n_components.*minimum is 10.*got 9"):
        create_model("ms2fenet", n_bands=30, n_classes=2, n_components=9)
    with pytest.raises(DataError, match=r"n_bands.*>= 10.*got 9"):
        create_model("ms2fenet", n_bands=9, n_classes=2, n_components=None)


def test_more_components_than_bands_is_rejected() -> None:
    with pytest.raises(ConfigError, match="n_components"):
        create_model("ms2fenet", n_bands=20, n_classes=2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"partitions": 0},
        {"partitions": 9},  # more partitions than the stem's 8 channels
        {"kernels": ((4, 3, 3),)},
        {"kernels": ()},
        {"patch_size": 0},
    ],
)
def test_invalid_config_raises_config_error(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        create_model("ms2fenet", n_bands=30, n_classes=2, **overrides)


def test_wrong_input_shape_raises_data_error() -> None:
    model = create_model("ms2fenet", n_bands=30, n_classes=2)
    with pytest.raises(DataError, match=r"\(N, 1, 30, 15, 15\)"):
        model(torch.randn(2, 1, 30, 13, 13))
