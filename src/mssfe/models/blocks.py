"""Building blocks shared by the 3-D CNNs of this package, and the shape arithmetic they need.

Layers whose weights depend on the spectral depth (the MFC's fusion) must know it when they are
built, so models propagate shapes through these helpers instead of hard-coding them.
"""

from __future__ import annotations

import torch
from torch import nn

from mssfe.errors import ConfigError, DataError

Triple = tuple[int, int, int]


def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_bn_relu3d(
    in_channels: int,
    out_channels: int,
    kernel: Triple,
    *,
    stride: int | Triple = 1,
    padding: int | Triple = 0,
    eps: float = 1e-5,
) -> nn.Sequential:
    """Conv3d (with bias; no padding unless given) + BatchNorm3d + ReLU: ``(N, C, D, H, W)``."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding),
        nn.BatchNorm3d(out_channels, eps=eps),
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


# ---------------------------------------------------------------------------------------------
# Shared by the baselines (cnn3d, ssrn, hybridsn, a2s2k, ssftt): input checks and layers.


def input_depth_for(model: str, n_components: int | None, n_bands: int) -> int:
    """Spectral depth B of a model's input: ``n_components`` when set, else the scene's bands."""
    if n_components is None:
        return n_bands
    if n_components > n_bands:
        raise ConfigError(
            f"{model}: field 'n_components' ({n_components}) exceeds the scene's {n_bands} bands"
        )
    return n_components


def check_min_input(
    model: str,
    *,
    patch_size: int,
    min_patch: int,
    depth: int,
    min_depth: int,
    n_components: int | None,
) -> None:
    """Raise ConfigError naming the field when a ``(1, depth, p, p)`` patch is too small."""
    if patch_size < min_patch:
        raise ConfigError(
            f"{model}: field 'patch_size' is too small for its layers: the minimum is "
            f"{min_patch} with this config, got {patch_size}"
        )
    if depth < min_depth:
        field = "n_components" if n_components is not None else "n_bands (raw scene bands)"
        raise ConfigError(
            f"{model}: field '{field}' is too small for its spectral layers: the minimum is "
            f"{min_depth} spectral bands with this config, got {depth}"
        )


def check_patches(model: str, x: torch.Tensor, input_shape: tuple[int, ...]) -> None:
    """Raise DataError unless ``x`` is ``(N, *input_shape)``."""
    if x.dim() != len(input_shape) + 1 or tuple(x.shape[1:]) != input_shape:
        raise DataError(
            f"{model} input has the wrong shape",
            field="patches",
            expected=f"(N, {', '.join(map(str, input_shape))})",
            got=tuple(x.shape),
        )


def conv_bn_relu2d(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Conv2d (no padding, with bias) + BatchNorm2d + ReLU: ``(N, C, H, W)`` in and out."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ECA3d(nn.Module):
    """Efficient channel attention (Wang et al., ECA-Net, CVPR 2020) for ``(N, C, D, H, W)``.

    Global average pooling gives one value per channel; a 1-D convolution of size ``k`` across
    neighbouring channels (no bias, k weights in all) and a sigmoid give the channel weights.
    """

    def __init__(self, k_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k_size, padding=k_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        weights = self.conv(x.mean(dim=(2, 3, 4)).view(n, 1, c)).sigmoid()
        return x * weights.view(n, c, 1, 1, 1)


class ResidualBlock3d(nn.Module):
    """Two 'same'-padded Conv3d + BN with an identity shortcut: ``(N, C, D, H, W)`` in and out.

    ``conv-BN-ReLU-conv-BN [-ECA] + x -> ReLU``. SSRN uses it with spectral kernels ``(7, 1, 1)``
    and spatial kernels ``(1, 3, 3)``; A2S2K-ResNet adds the ECA attention before the sum.
    """

    def __init__(self, channels: int, kernel: Triple, *, attention: bool = False) -> None:
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
        self.conv1 = nn.Conv3d(channels, channels, kernel, padding=padding)
        self.bn1 = nn.BatchNorm3d(channels)
        self.conv2 = nn.Conv3d(channels, channels, kernel, padding=padding)
        self.bn2 = nn.BatchNorm3d(channels)
        self.attention: nn.Module = ECA3d() if attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.attention(self.bn2(self.conv2(y)))
        return torch.relu(y + x)


class SpectralSpatialResNet(nn.Module):
    """The body of SSRN (Zhong et al., 2018), shared with A2S2K-ResNet (Roy et al., 2021).

    ``(N, C, D, p, p)`` features from a model's spectral stem -> logits ``(N, n_classes)``:
    ``n_blocks`` spectral residual blocks ``(7, 1, 1)``; a ``Conv3d(C, reduced, (D, 1, 1))``
    that collapses the spectral axis to ``(N, reduced, 1, p, p)``; the ``reduced`` maps are then
    treated as a spectral axis, ``(N, 1, reduced, p, p)``, and a ``Conv3d(1, C, (reduced, 3, 3))``
    gives ``(N, C, 1, p-2, p-2)``; ``n_blocks`` spatial residual blocks ``(1, 3, 3)``; global
    average pooling; dropout; a linear head. BatchNorm eps 1e-3 as in the authors' code.
    """

    def __init__(
        self,
        channels: int,
        depth: int,
        n_classes: int,
        *,
        reduced: int = 128,
        n_blocks: int = 2,
        attention: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            *(ResidualBlock3d(channels, (7, 1, 1), attention=attention) for _ in range(n_blocks))
        )
        self.reduce = conv_bn_relu3d(channels, reduced, (depth, 1, 1), eps=1e-3)
        self.spatial_stem = conv_bn_relu3d(1, channels, (reduced, 3, 3), eps=1e-3)
        self.spatial = nn.Sequential(
            *(ResidualBlock3d(channels, (1, 3, 3), attention=attention) for _ in range(n_blocks))
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(self.spectral(x))  # (N, reduced, 1, p, p)
        x = self.spatial_stem(x.transpose(1, 2))  # (N, C, 1, p-2, p-2)
        return self.head(self.pool(self.spatial(x)))


class PreNormEncoderLayer(nn.Module):
    """A pre-norm transformer encoder layer on tokens ``(N, T, dim)``.

    ``x + Attn(LN(x))`` then ``x + MLP(LN(x))`` with ``MLP = Linear(dim, mlp_dim)-GELU-Dropout-
    Linear(mlp_dim, dim)-Dropout``. Multi-head self-attention with one ``Linear(dim, 3*dim)``
    for q, k, v and an output ``Linear(dim, dim)``; ``scale`` multiplies ``q k^T`` (default
    ``head_dim ** -0.5``; SSFTT's code uses ``dim ** -0.5``).
    """

    def __init__(
        self, dim: int, heads: int, mlp_dim: int, dropout: float, scale: float | None = None
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"transformer: dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.scale = scale if scale is not None else (dim // heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(n, t, d)
        return self.drop(self.proj(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def check_positive_ints(config: object, *names: str) -> None:
    """Raise ConfigError unless each named field of ``config`` is an int >= 1 or a non-empty
    (nested) tuple of them; ``n_components`` may also be ``None`` (raw bands)."""
    where = type(config).__name__
    for name in names:
        value = getattr(config, name)
        if name == "n_components" and value is None:
            continue
        values = _flatten(value)
        if not values or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
        ):
            raise ConfigError(f"{where}: field '{name}' must be int(s) >= 1, got {value!r}")


def _flatten(value: object) -> tuple[object, ...]:
    if isinstance(value, tuple):
        return tuple(v for item in value for v in _flatten(item)) if value else ()
    return (value,)


def check_probability(config: object, *names: str) -> None:
    """Raise ConfigError unless each named field of ``config`` is a float in [0, 1)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(
                f"{type(config).__name__}: field '{name}' must be in [0, 1), got {value!r}"
            )
