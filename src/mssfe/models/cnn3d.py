"""3-D CNN of Ben Hamida et al. (IEEE TGRS 2018): stacked 3-D convolutions on raw-band patches.

Ben Hamida, Benoit, Lambert, Ben Amar, '3-D Deep Learning Approach for Remote Sensing Image
Classification', IEEE TGRS 56(8):4420-4434, 2018, doi:10.1109/TGRS.2018.2818945. The layer
layout follows the widely used re-implementation in DeepHyperX (Audebert et al., IEEE GRSM
2019, github.com/nshaud/DeepHyperX, ``HamidaEtAl``), 5 x 5 patches of the raw bands:

- Conv3d 20 x (3, 3, 3) + ReLU                          (20, B-2, 3, 3)
- Conv3d 20 x (3, 1, 1), stride 2 spectrally, pad 1      spectral 'pooling' by a strided conv
- Conv3d 35 x (3, 3, 3), spectral pad 1 + ReLU           (35, ., 1, 1)
- Conv3d 35 x (3, 1, 1), stride 2 spectrally, pad 1
- Conv3d 35 x (3, 1, 1), spectral pad 1 + ReLU
- Conv3d 35 x (2, 1, 1), stride 2 spectrally, pad 1 + ReLU
- Linear(35 * D', n_classes).

For Indian Pines (200 bands) the spectral lengths are 198, 99, 99, 50, 50, 26 and the network
has 45,196 trainable parameters for 16 classes (our count of this layout; no published count
for Indian Pines). No published Indian Pines figure is reproduced for this baseline.

Training defaults after DeepHyperX: SGD, lr 0.01, weight decay 5e-4, batch 100, 100 epochs.
The trainer's SGD uses momentum 0.9 (DeepHyperX: none), a deviation; early stopping after 20
epochs without validation improvement (ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mssfe.models.blocks import (
    check_min_input,
    check_patches,
    check_positive_ints,
    conv_out_size,
    input_depth_for,
)
from mssfe.models.registry import register_model

PAPER = (
    "Ben Hamida, Benoit, Lambert, Ben Amar, '3-D Deep Learning Approach for Remote Sensing "
    "Image Classification', IEEE TGRS 56(8):4420-4434, 2018, doi:10.1109/TGRS.2018.2818945 "
    "(layout as DeepHyperX's HamidaEtAl)"
)

TRAINING_DEFAULTS = {
    "optimizer": "sgd",
    "lr": 0.01,
    "weight_decay": 5e-4,
    "batch_size": 100,
    "max_epochs": 100,
    "patience": 20,
    "scheduler": "none",
    "augment": False,
}

#: (out channels, kernel, spectral stride, spectral padding, ReLU after) of each layer, with
#: ``channels`` substituted for 20 and 35.
_Layer = tuple[int, tuple[int, int, int], int, int, bool]


@dataclass(frozen=True)
class Hamida3DCNNConfig:
    """Hyper-parameters of the 3-D CNN; ``channels`` are the two widths (20, 35)."""

    n_components: int | None = None
    patch_size: int = 5
    channels: tuple[int, int] = (20, 35)

    def __post_init__(self) -> None:
        check_positive_ints(self, "n_components", "patch_size", "channels")


def layer_plan(config: Hamida3DCNNConfig) -> list[_Layer]:
    c1, c2 = config.channels
    return [
        (c1, (3, 3, 3), 1, 0, True),
        (c1, (3, 1, 1), 2, 1, False),
        (c2, (3, 3, 3), 1, 1, True),
        (c2, (3, 1, 1), 2, 1, False),
        (c2, (3, 1, 1), 1, 1, True),
        (c2, (2, 1, 1), 2, 1, True),
    ]


def output_size(config: Hamida3DCNNConfig, size: int, axis: int) -> int:
    """Length along ``axis`` (0 spectral, 1 spatial) after every layer; < 1: too small."""
    for _, kernel, stride, pad, _ in layer_plan(config):
        if size < 1:
            return size
        size = conv_out_size(
            size, kernel[axis], stride if axis == 0 else 1, pad if axis == 0 else 0
        )
    return size


def _minimum(config: Hamida3DCNNConfig, axis: int) -> int:
    size = 1
    while output_size(config, size, axis) < 1:
        size += 1
    return size


class Hamida3DCNN(nn.Module):
    """Patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``; B = n_components or n_bands."""

    def __init__(self, config: Hamida3DCNNConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth_for("Hamida3DCNNConfig", config.n_components, n_bands)
        min_depth = _minimum(config, 0)
        check_min_input(
            "Hamida3DCNNConfig",
            patch_size=config.patch_size,
            min_patch=_minimum(config, 1),
            depth=depth,
            min_depth=min_depth,
            n_components=config.n_components,
        )
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        layers: list[nn.Module] = []
        in_channels = 1
        for out_channels, kernel, stride, pad, relu in layer_plan(config):
            layers.append(
                nn.Conv3d(
                    in_channels, out_channels, kernel, stride=(stride, 1, 1), padding=(pad, 0, 0)
                )
            )
            if relu:
                layers.append(nn.ReLU(inplace=True))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        side = output_size(config, config.patch_size, 1)
        n_features = in_channels * output_size(config, depth, 0) * side * side
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(n_features, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches("Hamida3DCNN", x, self.input_shape)
        return self.head(self.features(x))


@register_model("cnn3d", Hamida3DCNNConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_cnn3d(config: Hamida3DCNNConfig, n_bands: int, n_classes: int) -> Hamida3DCNN:
    """Registry entry: the 3-D CNN for ``n_bands`` scene bands and ``n_classes`` classes."""
    return Hamida3DCNN(config, n_bands, n_classes)
