"""MS²FENet: multiscale spatial-spectral feature extraction network (Ye et al., JSTARS 2022).

The layers follow the authors' public ``network.py`` (see ``shared/design/NETWORK.md``):
a 3-D conv stem, three modules of MFC (multiscale feature extraction with hierarchical
connections) + BN + ReLU + pooling, and a linear head on the flattened features. With the
default config and a ``(N, 1, 30, 15, 15)`` input it has 371,314 trainable parameters for 16
classes and about 45.0 MFLOPs per pixel.

The MFC's fusion layers mix spectral positions, so their width depends on the spectral depth
reaching each module: the depths (24, 12, 6 by default) are computed from the input size, and
an input too small for the pooling is rejected at construction with the minimum it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from mssfe.errors import ConfigError, DataError
from mssfe.models.blocks import SpectralFuse, Triple, conv_bn_relu3d, conv_out_size, same_conv3d
from mssfe.models.fast_ops import DepthwiseConv3d
from mssfe.models.pixel_major import (
    batch_norm_affine,
    batch_norm_mode,
    flatten_samples,
    pixel_adaptive_avg_pool3d,
    pixel_avg_pool3d,
    pixel_batch_norm,
    pixel_depthwise_conv3d,
    pixel_fuse,
    pixel_stem_conv3d,
    to_pixel_major,
)
from mssfe.models.registry import register_model

PAPER = (
    "Ye, Li, Liu, Bai, Fowler, 'Multiscale Spatial-Spectral Feature Extraction Network for "
    "Hyperspectral Image Classification', IEEE JSTARS 15:4640-4652, 2022, "
    "doi:10.1109/JSTARS.2022.3179446"
)

#: Our training defaults (the paper's are not public): NETWORK.md "Training defaults".
TRAINING_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "max_epochs": 200,
    "patience": 20,  # epochs without validation improvement before early stopping (our choice)
    "augment": True,  # random flips / rot90 of training patches
}


@dataclass(frozen=True)
class MS2FENetConfig:
    """Hyper-parameters of MS²FENet; the defaults are the authors' configuration.

    ``partitions``, ``hierarchical``, ``fusion`` and ``depthwise`` are the ablation switches.
    ``n_components`` is the PCA depth of the input (``None``: the scene's raw bands) and
    ``patch_size`` its side. ``kernels`` has one MFC kernel per module (odd sizes); every module
    but the last ends with ``AvgPool3d(pool_kernel, pool_stride)``, the last with
    ``AdaptiveAvgPool3d(final_pool)``. ``fast_depthwise`` runs the MFC's depthwise convs
    through :func:`mssfe.models.fast_ops.depthwise_conv3d` (same weights, same math, faster
    on CPU); it changes neither the parameters nor the state_dict.
    """

    partitions: int = 4
    hierarchical: bool = True
    fusion: bool = True
    depthwise: bool = True
    n_components: int | None = 30
    patch_size: int = 15
    stem_channels: int = 8
    stem_kernel: tuple[int, int, int] = (7, 3, 3)
    kernels: tuple[tuple[int, int, int], ...] = ((5, 3, 3), (5, 3, 3), (3, 3, 3))
    pool_kernel: tuple[int, int, int] = (2, 3, 3)
    pool_stride: tuple[int, int, int] = (2, 2, 2)
    final_pool: tuple[int, int, int] = (3, 2, 2)
    fast_depthwise: bool = True

    def __post_init__(self) -> None:
        _check_positive("partitions", self.partitions)
        _check_positive("patch_size", self.patch_size)
        _check_positive("stem_channels", self.stem_channels)
        if self.n_components is not None:
            _check_positive("n_components", self.n_components)
        for name in ("stem_kernel", "pool_kernel", "pool_stride", "final_pool"):
            _check_triple(name, getattr(self, name))
        if not self.kernels:
            raise ConfigError("MS2FENetConfig: field 'kernels' needs at least one kernel")
        for kernel in self.kernels:
            _check_triple("kernels", kernel)
            if any(k % 2 == 0 for k in kernel):
                raise ConfigError(
                    f"MS2FENetConfig: field 'kernels' needs odd sizes ('same' padding), "
                    f"got {kernel}"
                )
        if self.partitions > self.stem_channels:
            raise ConfigError(
                f"MS2FENetConfig: field 'partitions' must be <= stem_channels "
                f"({self.stem_channels}), got {self.partitions}"
            )


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"MS2FENetConfig: field '{name}' must be an int >= 1, got {value!r}")


def _check_triple(name: str, value: tuple[int, ...]) -> None:
    ok = isinstance(value, tuple) and len(value) == 3
    if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
        raise ConfigError(f"MS2FENetConfig: field '{name}' must be three ints >= 1, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Shape arithmetic


def partition_sizes(channels: int, partitions: int) -> list[int]:
    """Channel counts of the partitions: ``channels // s`` each, the remainder to the first."""
    base, rest = divmod(channels, partitions)
    if base == 0:
        raise ConfigError(
            f"MFC: cannot split {channels} channels into {partitions} partitions "
            f"(field 'partitions' must be <= {channels})"
        )
    return [base + rest] + [base] * (partitions - 1)


def partition_widths(sizes: list[int], hierarchical: bool) -> list[int]:
    """Channels ``c_i`` each partition's conv sees: ``|x_i| + c_(i-1)`` if hierarchical."""
    widths: list[int] = []
    for i, size in enumerate(sizes):
        widths.append(size + widths[-1] if hierarchical and i > 0 else size)
    return widths


def module_input_sizes(config: MS2FENetConfig, size: int, axis: int) -> list[int]:
    """Length along ``axis`` (0 spectral, 1-2 spatial) of the input of each MFC module.

    Also appends the length after the last fixed pooling, i.e. the last module's input, so the
    list has one entry per module; an entry < 1 means the input is too small.
    """
    sizes = [conv_out_size(size, config.stem_kernel[axis])]
    for _ in config.kernels[:-1]:  # MFC keeps the size ('same' padding); the pool shrinks it
        sizes.append(conv_out_size(sizes[-1], config.pool_kernel[axis], config.pool_stride[axis]))
    return sizes


def minimum_input_size(config: MS2FENetConfig, axis: int) -> int:
    """Smallest input length along ``axis`` that survives the stem and every pooling."""
    size = 1
    while min(module_input_sizes(config, size, axis)) < 1:
        size += 1
    return size


def input_depth(config: MS2FENetConfig, n_bands: int) -> int:
    """Spectral depth B of the model's input: ``n_components`` if set, else ``n_bands``."""
    if config.n_components is None:
        return n_bands
    if config.n_components > n_bands:
        raise ConfigError(
            f"MS2FENetConfig: field 'n_components' ({config.n_components}) exceeds the "
            f"scene's {n_bands} bands"
        )
    return config.n_components


def check_input_size(config: MS2FENetConfig, depth: int) -> None:
    """Raise if a ``(1, depth, p, p)`` patch is too small for the stem and the pooling."""
    patch = config.patch_size
    if min(module_input_sizes(config, patch, 1) + module_input_sizes(config, patch, 2)) < 1:
        least = max(minimum_input_size(config, 1), minimum_input_size(config, 2))
        raise ConfigError(
            f"MS2FENetConfig: field 'patch_size' is too small for the stem and pooling: "
            f"the minimum is {least} with this config, got {patch}"
        )
    if min(module_input_sizes(config, depth, 0)) < 1:
        least = minimum_input_size(config, 0)
        if config.n_components is not None:
            raise ConfigError(
                f"MS2FENetConfig: field 'n_components' is too small for the stem and pooling: "
                f"the minimum is {least} spectral bands with this config, got {depth}"
            )
        raise DataError(
            "too few spectral bands for MS2FENet's stem and pooling",
            field="n_bands",
            expected=f">= {least}",
            got=depth,
        )


# ---------------------------------------------------------------------------------------------
# Layers


class MFC(nn.Module):
    """Multiscale feature extraction with hierarchical connections: ``(N, C, D, H, W)`` in,
    ``(N, C_out, D, H, W)`` out.

    The C channels are split into ``partitions`` groups ``x_1..x_s``. ``y_1 = DW(x_1)``; for
    ``i >= 2``, ``u = concat(x_i, y_(i-1))`` (only ``x_i`` if not ``hierarchical``),
    ``u = Fuse(u)`` if ``fusion``, ``y_i = DW(u)``; the output is ``concat(y_1..y_s)``.
    Partition i has passed through i convs, so one layer sees several receptive fields.
    ``depth`` is the spectral depth D the Fuse layers are built for. ``fast_depthwise`` builds the
    depthwise convs as :class:`~mssfe.models.fast_ops.DepthwiseConv3d` (an ``nn.Conv3d`` with
    a faster CPU forward/backward; same parameters, initialisation and state_dict).
    """

    def __init__(
        self,
        in_channels: int,
        kernel: Triple,
        depth: int,
        *,
        partitions: int = 4,
        hierarchical: bool = True,
        fusion: bool = True,
        depthwise: bool = True,
        fast_depthwise: bool = False,
    ) -> None:
        super().__init__()
        self.fast_depthwise = fast_depthwise and depthwise
        self.split_sizes = partition_sizes(in_channels, partitions)
        self.widths = partition_widths(self.split_sizes, hierarchical)
        self.hierarchical = hierarchical
        self.fusion = fusion
        self.out_channels = sum(self.widths)
        self.convs = nn.ModuleList(
            DepthwiseConv3d(c, kernel)
            if self.fast_depthwise
            else same_conv3d(c, kernel, depthwise=depthwise)
            for c in self.widths
        )
        # Partition 1 has no Fuse (the authors build one and never use it).
        fuses = (SpectralFuse(c, depth) for c in self.widths[1:]) if fusion else ()
        self.fuses = nn.ModuleList(fuses)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.split_sizes, dim=1)
        y = self.convs[0](parts[0])
        outputs = [y]
        for i in range(1, len(parts)):
            u = torch.cat((parts[i], y), dim=1) if self.hierarchical else parts[i]
            if self.fusion:
                u = self.fuses[i - 1](u)
            y = self.convs[i](u)
            outputs.append(y)
        return torch.cat(outputs, dim=1) if len(outputs) > 1 else y

    def forward_pixel_major(
        self,
        parts: list[torch.Tensor],
        last_affine: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """The same layer on pixel-major partitions ``(B, H, W, D, |x_i|, G)``: returns the
        partitions' outputs ``y_1..y_s`` ``(B, H, W, D, c_i, G)``, not concatenated.

        ``last_affine`` (per-channel scale and shift of ``y_s``) is folded into the last
        partition's conv: the BatchNorm after the layer, in eval mode. Only ``y_s``: the others
        also feed the next partition, which needs them as they are.
        """
        outputs: list[torch.Tensor] = []
        y: torch.Tensor | None = None
        for i, part in enumerate(parts):
            u = part
            if i > 0:
                if self.hierarchical and y is not None:
                    u = torch.cat((part, y), dim=4)
                if self.fusion:
                    u = pixel_fuse(cast(SpectralFuse, self.fuses[i - 1]), u.contiguous())
            weight = cast(nn.Conv3d, self.convs[i]).weight
            padding = _triple(cast(nn.Conv3d, self.convs[i]).padding)
            if last_affine is not None and i == len(parts) - 1:
                scale, shift = last_affine
                y = pixel_depthwise_conv3d(u, weight * scale.view(-1, 1, 1, 1, 1), shift, padding)
            else:
                y = pixel_depthwise_conv3d(u, weight, None, padding)
            outputs.append(y)
        return outputs


class MS2FEModule(nn.Module):
    """MFC + BatchNorm3d + ReLU + pooling: ``(N, C, D, H, W)`` -> ``(N, C_out, D', H', W')``."""

    def __init__(self, mfc: MFC, pool: nn.Module) -> None:
        super().__init__()
        self.mfc = mfc
        self.bn = nn.BatchNorm3d(mfc.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = pool
        self.out_channels = mfc.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.mfc(x))))

    def forward_pixel_major(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """The module on pixel-major partitions: the pooled outputs of each MFC partition,
        ``(H', W', D', c_i, N)``. BatchNorm, ReLU and pooling act per channel, so each
        partition goes through them on its own and the outputs are never concatenated."""
        mode = batch_norm_mode(self.bn)
        affine = batch_norm_affine(self.bn)
        last = slice(self.out_channels - self.mfc.widths[-1], self.out_channels)
        folded = None if affine is None else (affine[0][last], affine[1][last])
        outputs = self.mfc.forward_pixel_major(parts, folded)
        pooled: list[torch.Tensor] = []
        start = 0
        for i, y in enumerate(outputs):
            if folded is None or i < len(outputs) - 1:
                y = pixel_batch_norm(y, self.bn, start, mode)
            start += y.shape[4]
            pooled.append(self._pool_pixel_major(torch.relu_(y)))
        return pooled

    def _pool_pixel_major(self, z: torch.Tensor) -> torch.Tensor:
        if isinstance(self.pool, nn.AdaptiveAvgPool3d):
            return pixel_adaptive_avg_pool3d(z, cast(Triple, self.pool.output_size))
        pool = cast(nn.AvgPool3d, self.pool)
        return pixel_avg_pool3d(z, cast(Triple, pool.kernel_size), cast(Triple, pool.stride))


class MS2FENet(nn.Module):
    """The full network: patches ``(N, 1, B, p, p)`` -> logits ``(N, n_classes)``.

    ``n_bands`` is the scene's band count; the input depth B is ``config.n_components`` when
    set (the data pipeline applies PCA), else ``n_bands``. ``input_shape`` is the shape of one
    sample, ``(1, B, p, p)``.
    """

    def __init__(self, config: MS2FENetConfig, n_bands: int, n_classes: int) -> None:
        super().__init__()
        depth = input_depth(config, n_bands)
        check_input_size(config, depth)
        self.config = config
        self.input_shape = (1, depth, config.patch_size, config.patch_size)
        self.stem = conv_bn_relu3d(1, config.stem_channels, config.stem_kernel)
        modules = _build_modules(config, depth)
        self.features = nn.Sequential(*modules)
        pooled = config.final_pool[0] * config.final_pool[1] * config.final_pool[2]
        n_features = modules[-1].out_channels * pooled
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(n_features, n_classes))
        # predict_dataset's CPU sub-batch for the pixel-major path: 128 patches (8 blocks of
        # 16) keep a module's activations in cache; the authors' layers run the whole batch
        fast = config.fast_depthwise and config.depthwise
        self.cpu_forward_chunk: int | None = 128 if fast else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or tuple(x.shape[1:]) != self.input_shape:
            raise DataError(
                "MS2FENet input has the wrong shape",
                field="patches",
                expected=f"(N, {', '.join(map(str, self.input_shape))})",
                got=tuple(x.shape),
            )
        if self._runs_pixel_major(x):
            return self._forward_pixel_major(x)
        return self.forward_layers(x)

    def forward_layers(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' layer-by-layer forward, each module on ``(N, C, D, H, W)`` (no input
        check): what :meth:`forward` runs off CPU, and the reference the fast path is tested
        and benchmarked against."""
        return self.head(self.features(self.stem(x)))

    def _runs_pixel_major(self, x: torch.Tensor) -> bool:
        """The pixel-major path computes the same function on CPU with fewer copies. The
        layer-by-layer modules run instead on other devices, under autocast, with full
        (non-depthwise) convs, when hooks are registered (they must see each layer), and when
        a BatchNorm has been replaced by a subclass (e.g. the distributed trainer's
        synchronised one): the pixel-major path calls the BatchNorm function itself and would
        bypass the subclass's forward."""
        if not (
            self.config.fast_depthwise
            and self.config.depthwise
            and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled("cpu")
        ):
            return False
        for m in self.modules():
            if m._forward_hooks or m._forward_pre_hooks:
                return False
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and type(m) is not nn.BatchNorm3d:
                return False
        return True

    def _forward_pixel_major(self, x: torch.Tensor) -> torch.Tensor:
        modules = cast(list[MS2FEModule], list(self.features))
        stem = self._stem_pixel_major(x)
        parts = list(torch.split(stem, modules[0].mfc.split_sizes, dim=4))
        for i, module in enumerate(modules):
            pooled = module.forward_pixel_major(parts)
            if i + 1 < len(modules):
                sizes = modules[i + 1].mfc.split_sizes
                parts = list(torch.split(torch.cat(pooled, dim=4), sizes, dim=4))
        return self._head_pixel_major(pooled)

    def _stem_pixel_major(self, x: torch.Tensor) -> torch.Tensor:
        """Stem + BatchNorm + ReLU on ``(N, 1, B, p, p)`` -> ``(B, H, W, D, C, G)``. In eval
        mode the BatchNorm is folded into the conv's weight and bias."""
        conv = cast(nn.Conv3d, self.stem[0])
        bn = cast(nn.BatchNorm3d, self.stem[1])
        pixels = to_pixel_major(x)  # (B, p, p, bands, 1, G)
        affine = batch_norm_affine(bn)
        padding = _triple(conv.padding)
        if affine is None:
            s = pixel_stem_conv3d(pixels, conv.weight, conv.bias, padding)
            s = pixel_batch_norm(s, bn, 0, batch_norm_mode(bn))
        else:
            scale, shift = affine
            bias = shift if conv.bias is None else conv.bias * scale + shift
            s = pixel_stem_conv3d(pixels, conv.weight * scale.view(-1, 1, 1, 1, 1), bias, padding)
        return torch.relu_(s)

    def _head_pixel_major(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """Linear head on the pooled partitions ``(B, h, w, d, c_i, G)`` -> ``(N, n_classes)``.

        The authors flatten ``(C, D, H, W)``; the head's weight columns are permuted to the
        pixel-major order ``(partition, h, w, d, c)`` instead of moving the features."""
        linear = cast(nn.Linear, self.head[1])
        h, w, d = pooled[0].shape[1:4]
        weight = linear.weight.view(linear.out_features, -1, d, h, w)
        columns, start = [], 0
        for z in pooled:
            c = z.shape[4]
            columns.append(weight[:, start : start + c].permute(0, 3, 4, 2, 1).flatten(1))
            start += c
        features = torch.cat([flatten_samples(z) for z in pooled])  # (F, N)
        return torch.addmm(linear.bias, features.t(), torch.cat(columns, dim=1).t())


def _triple(padding: tuple[int, ...] | str) -> Triple:
    """A conv module's padding as the three ints the pixel-major kernels take."""
    if isinstance(padding, str) or len(padding) != 3:
        raise ValueError(f"expected a conv with three int paddings, got {padding!r}")
    return (padding[0], padding[1], padding[2])


def _build_modules(config: MS2FENetConfig, depth: int) -> list[MS2FEModule]:
    """One MS2FEModule per kernel, each Fuse built for the spectral depth reaching it."""
    depths = module_input_sizes(config, depth, 0)
    channels = config.stem_channels
    modules: list[MS2FEModule] = []
    for i, kernel in enumerate(config.kernels):
        mfc = MFC(
            channels,
            kernel,
            depths[i],
            partitions=config.partitions,
            hierarchical=config.hierarchical,
            fusion=config.fusion,
            depthwise=config.depthwise,
            fast_depthwise=config.fast_depthwise,
        )
        last = i == len(config.kernels) - 1
        pool: nn.Module = (
            nn.AdaptiveAvgPool3d(config.final_pool)
            if last
            else nn.AvgPool3d(config.pool_kernel, stride=config.pool_stride)
        )
        modules.append(MS2FEModule(mfc, pool))
        channels = mfc.out_channels
    return modules


@register_model("ms2fenet", MS2FENetConfig, training=TRAINING_DEFAULTS, paper=PAPER)
def build_ms2fenet(config: MS2FENetConfig, n_bands: int, n_classes: int) -> MS2FENet:
    """Registry entry: MS²FENet for ``n_bands`` scene bands and ``n_classes`` classes."""
    return MS2FENet(config, n_bands, n_classes)
