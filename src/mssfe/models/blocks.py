"""Building blocks shared by the 3-D CNNs of this package, and the shape arithmetic they need.

Layers whose weights depend on the spectral depth (the MFC's fusion) must know it when they are
built, so models propagate shapes through these helpers instead of hard-coding them.
"""

from __future__ import annotations

import torch
from torch import nn

Triple = tuple[int, int, int]


def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_bn_relu3d(in_channels: int, out_channels: int, kernel: Triple) -> nn.Sequential:
    """Conv3d (no padding, with bias) + BatchNorm3d + ReLU: ``(N, C, D, H, W)`` in and out."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


def same_conv3d(channels: int, kernel: Triple, *, depthwise: bool = True) -> nn.Conv3d:
    """Conv3d ``channels -> channels`` with 'same' padding (odd kernel) and no bias.

    ``depthwise`` gives one filter per channel (groups = channels); otherwise a full conv.
    The bias is left out because a BatchNorm follows the layer that concatenates the outputs.
    """
    return nn.Conv3d(
        channels,
        channels,
        kernel,
        padding=(kernel[0] // 2, kernel[1] // 2, kernel[2] // 2),
        groups=channels if depthwise else 1,
        bias=False,
    )


class SpectralFuse(nn.Module):
    """Mixes channels and spectral positions at each pixel: a 1x1 Conv2d over ``c * D`` maps.

    ``(N, c, D, H, W)`` is viewed as ``(N, c * D, H, W)``, passed through
    ``Conv2d(c * D, c * D, 1)`` with bias and viewed back, so its weights depend on the
    spectral depth ``D``, fixed at construction.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.channels = channels
        self.depth = depth
        self.conv = nn.Conv2d(channels * depth, channels * depth, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = x.shape
        return self.conv(x.reshape(n, c * d, h, w)).reshape(n, c, d, h, w)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, depth={self.depth}"
