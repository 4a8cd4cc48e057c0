"""SSRN: spectral-spatial residual network (Zhong et al., IEEE TGRS 2018).

Zhong, Li, Luo, Chapman, 'Spectral-Spatial Residual Network for Hyperspectral Image
Classification: A 3-D Deep Learning Framework', IEEE TGRS 56(2):847-858, 2018,
doi:10.1109/TGRS.2017.2755542. Published result: Indian Pines, 20 % of the labelled pixels for
training, OA 99.44 %; ``benchmarks/reproduce_baselines.py --model ssrn`` checks it.

Raw bands (no PCA), 7 x 7 patches. Layer outputs for Indian Pines (200 bands), as the paper's
Fig. 6 gives them (its (H, W, D, C) written here as (C, D, H, W)):

- Conv3d 24 x (7, 1, 1), stride 2 along the spectrum + BN + ReLU -> (24, 97, 7, 7)
- two spectral residual blocks, 24 x (7, 1, 1) 'same' -> (24, 97, 7, 7)
- Conv3d 128 x (97, 1, 1) + BN + ReLU -> (128, 1, 7, 7), read as (1, 128, 7, 7)
- Conv3d 24 x (128, 3, 3) + BN + ReLU -> (24, 1, 5, 5)
- two spatial residual blocks, 24 x (1, 3, 3) 'same' -> (24, 1, 5, 5)
- 5 x 5 average pooling -> (24,); dropout 0.5; Linear(24, n_classes).

The paper gives no parameter count; with these layers (our residual block: conv-BN-ReLU-conv-
BN + identity, ReLU, as the PyTorch port in github.com/suvojit-0x55aa/A2S2K-ResNet ``SSRN/``;
the authors' Keras blocks pre-activate, BN-ReLU-conv, which changes no shape) it has 364,168
trainable parameters for 16 classes. The body lives in
:class:`mssfe.models.blocks.SpectralSpatialResNet`, shared with A2S2K-ResNet.

Training defaults: the paper uses RMSprop with lr 3e-4, batch 16, 200 epochs. RMSprop is not
among the trainer's optimisers (adam, adamw, sgd), so the default here is **Adam** with the
paper's lr 3e-4 (a deviation); batch 16 and 200 epochs as the paper; early stopping after 20
epochs without validation improvement (as the A2S2K authors' SSRN port; the paper gives none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mssfe.models.blocks import (
    SpectralSpatialResNet,
    check_min_input,
    check_patches,
    check_positive_ints,
    check_probability,
    conv_bn_relu3d,
    conv_out_size,
    input_depth_for,
)
from mssfe.models.registry import register_model

PAPER = (
    "Zhong, Li, Luo, Chapman, 'Spectral-Spatial Residual Network for Hyperspectral Image "
    "Classification: A 3-D Deep Learning Framework', IEEE TGRS 56(2):847-858, 2018, "
    "doi:10.1109/TGRS.2017.2755542"
)

#: Indian Pines, 20 % training pixels.
PUBLISHED = {"scene": "IndianPines", "split": "random:0.2", "oa": 99.44}

TRAINING_DEFAULTS = {
    "optimizer": "adam",  # the paper: RMSprop (not available in the trainer)
    "lr": 3e-4,
    "weight_decay": 0.0,
    "batch_size": 16,
    "max_epochs": 200,
    "patience": 20,
    "scheduler": "none",
    "augment": False,
}

#: The spectral stem: kernel 7 along the bands, stride 2.
STEM_KERNEL = 7
STEM_STRIDE = 2


@dataclass(frozen=True)
class SSRNConfig:
    """SSRN hyper-parameters; the defaults are the paper's Indian Pines setting."""

    n_components: int | None = None
    patch_size: int = 7
    channels: int = 24
    reduced: int = 128
    n_blocks: int = 2
    dropout: float = 0.5

    def __post_init__(self) -> None:
        check_positive_ints(self, "n_components", "patch_size", "channels", "reduced", "n_blocks")
        check_probability(self, "dropout")


def stem_depth(depth: int) -> int:
    """Spectral length after the stride-2 stem (97 for Indian Pines' 200 bands)."""
    return conv_out_size(depth, STEM_KERNEL, STEM_STRIDE)


def check_ssrn_input(model: str, patch_size: int, depth: int, n_components: int | None) -> None:
    """The stem needs >= 7 bands, the unpadded 3 x 3 spatial conv a patch >= 3."""
    check_min_input(
        model,
        patch_size=patch_size,
        min_patch=3,
        depth=depth,
        min_depth=STEM_KERNEL,
        n_components=n_components,
    )


class SSRN(nn.Module):
    """Patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``; B = n_components or n_bands."""

    def __init__(self, config: SSRNConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth_for("SSRNConfig", config.n_components, n_bands)
        check_ssrn_input("SSRNConfig", config.patch_size, depth, config.n_components)
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        self.stem = conv_bn_relu3d(
            1, config.channels, (STEM_KERNEL, 1, 1), stride=(STEM_STRIDE, 1, 1), eps=1e-3
        )
        self.body = SpectralSpatialResNet(
            config.channels,
            stem_depth(depth),
            n_classes,
            reduced=config.reduced,
            n_blocks=config.n_blocks,
            dropout=config.dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches("SSRN", x, self.input_shape)
        return self.body(self.stem(x))


@register_model("ssrn", SSRNConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_ssrn(config: SSRNConfig, n_bands: int, n_classes: int) -> SSRN:
    """Registry entry: SSRN for ``n_bands`` scene bands and ``n_classes`` classes."""
    return SSRN(config, n_bands, n_classes)
