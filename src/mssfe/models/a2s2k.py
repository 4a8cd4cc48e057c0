"""A2S2K-ResNet: attention-based adaptive spectral-spatial kernel ResNet (Roy et al., TGRS 2021).

Roy, Manna, Song, Bruzzone, 'Attention-Based Adaptive Spectral-Spatial Kernel ResNet for
Hyperspectral Image Classification', IEEE TGRS 59(9):7831-7843, 2021,
doi:10.1109/TGRS.2020.3043267. Published result: Indian Pines, 10 % of the labelled pixels for
training, OA 98.66 %; ``benchmarks/reproduce_baselines.py --model a2s2k`` checks it.

It is SSRN's body (:class:`mssfe.models.blocks.SpectralSpatialResNet`) with two changes, after
the paper and the authors' code (github.com/suvojit-0x55aa/A2S2K-ResNet, ``S3KAIResNet``):

- the stem is an *adaptive spectral-spatial kernel*: two Conv3d branches, 24 x (7, 1, 1) and
  24 x (7, 3, 3) ('same' spatially), stride 2 along the spectrum, each + BN + ReLU; their sum is
  pooled and squeezed (1 x 1 conv to ``B // reduction`` channels + ReLU), and a softmax across the
  two branches of their excitations weights the branches per channel (selective kernels);
- every residual block ends with efficient channel attention (ECA, kernel 3).

Layer outputs for Indian Pines (200 raw bands, 9 x 9 patches), paper Fig. 2, as (C, D, H, W):
stem (24, 97, 9, 9); spectral blocks (24, 97, 9, 9); Conv3d 128 x (97, 1, 1) -> (128, 1, 9, 9);
Conv3d 24 x (128, 3, 3) -> (24, 1, 7, 7); spatial blocks (24, 1, 7, 7); average pooling (24,);
Linear(24, n_classes). With these layers: 373,112 trainable parameters for 16 classes (our count;
the paper gives none).

Deviations from the authors' code, on purpose: (1) it applies the *same* excitation conv to
both branches, so the softmax always gives 0.5 / 0.5 and the kernel selection is inert; here
each branch has its own excitation (one conv with 2 x 24 outputs), as in the paper's selective
kernel; (2) its final ``AvgPool3d(5, 5, 1)`` on a 7 x 7 map averages only the top-left 5 x 5;
here the pooling is global; (3) its residual blocks pre-activate (BN-ReLU-conv) and carry an
extra BN; ours are SSRN's post-activation blocks. (4) The code runs a full-rank PCA (a rotation
of all 200 bands); we feed the standardised raw bands (``n_components = None``).

Training defaults from the authors' code: Adam, lr 1e-3, no weight decay, batch 16, 200 epochs,
early stopping after 20 epochs without validation improvement.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mssfe.models.blocks import (
    SpectralSpatialResNet,
    check_patches,
    check_positive_ints,
    conv_bn_relu3d,
    input_depth_for,
)
from mssfe.models.registry import register_model
from mssfe.models.ssrn import STEM_KERNEL, STEM_STRIDE, check_ssrn_input, stem_depth

PAPER = (
    "Roy, Manna, Song, Bruzzone, 'Attention-Based Adaptive Spectral-Spatial Kernel ResNet for "
    "Hyperspectral Image Classification', IEEE TGRS 59(9):7831-7843, 2021, "
    "doi:10.1109/TGRS.2020.3043267"
)

#: Indian Pines, 10 % training pixels.
PUBLISHED = {"scene": "IndianPines", "split": "random:0.1", "oa": 98.66}

TRAINING_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 16,
    "max_epochs": 200,
    "patience": 20,
    "scheduler": "none",
    "augment": False,
}


@dataclass(frozen=True)
class A2S2KConfig:
    """A2S2K-ResNet hyper-parameters; the defaults are the authors' Indian Pines setting."""

    n_components: int | None = None
    patch_size: int = 9
    channels: int = 24
    reduction: int = 2
    reduced: int = 128
    n_blocks: int = 2

    def __post_init__(self) -> None:
        check_positive_ints(
            self, "n_components", "patch_size", "channels", "reduction", "reduced", "n_blocks"
        )


class AdaptiveKernelStem(nn.Module):
    """Selective spectral / spectral-spatial kernels: ``(N, 1, B, p, p)`` -> ``(N, C, D, p, p)``.

    ``D`` is :func:`mssfe.models.ssrn.stem_depth` of ``B``; ``hidden`` the squeeze width.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        stride = (STEM_STRIDE, 1, 1)
        self.spectral = conv_bn_relu3d(1, channels, (STEM_KERNEL, 1, 1), stride=stride, eps=1e-3)
        self.spatial = conv_bn_relu3d(
            1, channels, (STEM_KERNEL, 3, 3), stride=stride, padding=(0, 1, 1), eps=1e-3
        )
        self.squeeze = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.ReLU(inplace=True))
        self.excite = nn.Conv3d(hidden, 2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = torch.stack((self.spectral(x), self.spatial(x)), dim=1)  # (N, 2, C, D, H, W)
        pooled = branches.sum(dim=1).mean(dim=(2, 3, 4), keepdim=True)  # (N, C, 1, 1, 1)
        logits = self.excite(self.squeeze(pooled))  # (N, 2C, 1, 1, 1)
        weights = logits.view(x.shape[0], 2, -1, 1, 1, 1).softmax(dim=1)
        return (branches * weights).sum(dim=1)


class A2S2KResNet(nn.Module):
    """Patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``; B = n_components or n_bands."""

    def __init__(self, config: A2S2KConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth_for("A2S2KConfig", config.n_components, n_bands)
        check_ssrn_input("A2S2KConfig", config.patch_size, depth, config.n_components)
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        self.stem = AdaptiveKernelStem(config.channels, max(1, depth // config.reduction))
        self.body = SpectralSpatialResNet(
            config.channels,
            stem_depth(depth),
            n_classes,
            reduced=config.reduced,
            n_blocks=config.n_blocks,
            attention=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patches("A2S2K-ResNet", x, self.input_shape)
        return self.body(self.stem(x))


@register_model("a2s2k", A2S2KConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_a2s2k(config: A2S2KConfig, n_bands: int, n_classes: int) -> A2S2KResNet:
    """Registry entry: A2S2K-ResNet for ``n_bands`` scene bands and ``n_classes`` classes."""
    return A2S2KResNet(config, n_bands, n_classes)
