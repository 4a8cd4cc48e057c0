"""HybridSN: 3-D then 2-D convolutions on PCA-reduced patches (Roy et al., IEEE GRSL 2020).

Roy, Krishna, Dubey, Chaudhuri, 'HybridSN: Exploring 3-D-2-D CNN Feature Hierarchy for
Hyperspectral Image Classification', IEEE GRSL 17(2):277-281, 2020, doi:10.1109/LGRS.2019.2918719.
Published result: Indian Pines, 30 % of the labelled pixels drawn at random for training,
OA 99.75 % (Table II); ``benchmarks/reproduce_baselines.py --model hybridsn`` checks it.

Layers (paper Table I; the authors' Keras code, github.com/gokriznastic/HybridSN), for a
``(1, 30, 25, 25)`` patch (PCA 30, patch 25 on Indian Pines):

=====================  ==============================  ============
layer                  output (C, D, H, W)             parameters
=====================  ==============================  ============
Conv3d 8 x (7, 3, 3)   (8, 24, 23, 23)                 512
Conv3d 16 x (5, 3, 3)  (16, 20, 21, 21)                5,776
Conv3d 32 x (3, 3, 3)  (32, 18, 19, 19)                13,856
reshape                (576, 19, 19)
Conv2d 64 x 3 x 3      (64, 17, 17)                    331,840
Dense 256, drop 0.4    (256,)                          4,735,232
Dense 128, drop 0.4    (128,)                          32,896
Dense 16               (16,)                           2,064
=====================  ==============================  ============

5,122,176 trainable parameters in all for 16 classes, as the authors' ``model.summary()``
prints. ReLU after every layer but the last; no batch normalisation.

Training defaults from the paper / code: Adam, lr 1e-3 (Keras ``decay=1e-6`` is a learning
rate decay, not weight decay: weight_decay 0 here), batch 256, 100 epochs, no augmentation. The
authors train for all 100 epochs, so ``patience`` equals ``max_epochs`` (no early stopping).
PCA 30 is the paper's setting for Indian Pines (15 for the other scenes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mssfe.errors import ConfigError
from mssfe.models.blocks import (
    check_min_input,
    check_patches,
    check_positive_ints,
    check_probability,
    conv_out_size,
    input_depth_for,
)
from mssfe.models.registry import register_model

PAPER = (
    "Roy, Krishna, Dubey, Chaudhuri, 'HybridSN: Exploring 3-D-2-D CNN Feature Hierarchy for "
    "Hyperspectral Image Classification', IEEE GRSL 17(2):277-281, 2020, "
    "doi:10.1109/LGRS.2019.2918719"
)

#: Indian Pines, 30 % random training pixels (paper Table II).
PUBLISHED = {"scene": "IndianPines", "split": "random:0.3", "oa": 99.75}

TRAINING_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 256,
    "max_epochs": 100,
    "patience": 100,
    "scheduler": "none",
    "augment": False,
}


@dataclass(frozen=True)
class HybridSNConfig:
    """HybridSN hyper-parameters; the defaults are the paper's Indian Pines setting."""

    n_components: int | None = 30
    patch_size: int = 25
    channels3d: tuple[int, ...] = (8, 16, 32)
    kernels3d: tuple[tuple[int, int, int], ...] = ((7, 3, 3), (5, 3, 3), (3, 3, 3))
    channels2d: int = 64
    kernel2d: int = 3
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.4

    def __post_init__(self) -> None:
        check_positive_ints(self, "n_components", "patch_size", "channels3d", "kernels3d")
        check_positive_ints(self, "channels2d", "kernel2d", "hidden")
        check_probability(self, "dropout")
        if len(self.channels3d) != len(self.kernels3d) or any(len(k) != 3 for k in self.kernels3d):
            raise ConfigError(
                f"HybridSNConfig: fields 'channels3d' and 'kernels3d' need one channel count "
                f"per (D, H, W) kernel, got {self.channels3d} and {self.kernels3d}"
            )


def output_size(config: HybridSNConfig, size: int, axis: int) -> int:
    """Length along ``axis`` (0 spectral, 1 spatial) after the 3-D convs (and the 2-D one)."""
    for kernel in config.kernels3d:
        size = conv_out_size(size, kernel[axis])
    return conv_out_size(size, config.kernel2d) if axis else size


def _minimum(config: HybridSNConfig, axis: int) -> int:
    size = 1
    while output_size(config, size, axis) < 1:
        size += 1
    return size


class HybridSN(nn.Module):
    """Patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``; B = n_components or n_bands."""

    def __init__(self, config: HybridSNConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth_for("HybridSNConfig", config.n_components, n_bands)
        check_min_input(
            "HybridSNConfig",
            patch_size=config.patch_size,
            min_patch=_minimum(config, 1),
            depth=depth,
            min_depth=_minimum(config, 0),
            n_components=config.n_components,
        )
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        layers: list[nn.Module] = []
        in_channels = 1
        for channels, kernel in zip(config.channels3d, config.kernels3d, strict=True):
            layers.append(nn.Sequential(nn.Conv3d(in_channels, channels, kernel), nn.ReLU()))
            in_channels = channels
        self.features3d = nn.Sequential(*layers)
        maps = in_channels * output_size(config, depth, 0)
        self.features2d = nn.Sequential(
            nn.Conv2d(maps, config.channels2d, config.kernel2d), nn.ReLU()
        )
        side = output_size(config, config.patch_size, 1)
        width = config.channels2d * side * side
        dense: list[nn.Module] = [nn.Flatten()]
        for hidden in config.hidden:
            dense += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        dense.append(nn.Linear(width, n_classes))
        self.head = nn.Sequential(*dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches("HybridSN", x, self.input_shape)
        x = self.features3d(x)
        x = self.features2d(x.flatten(1, 2))  # (N, C * D, H, W): channels and bands as maps
        return self.head(x)


@register_model("hybridsn", HybridSNConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_hybridsn(config: HybridSNConfig, n_bands: int, n_classes: int) -> HybridSN:
    """Registry entry: HybridSN for ``n_bands`` scene bands and ``n_classes`` classes."""
    return HybridSN(config, n_bands, n_classes)
