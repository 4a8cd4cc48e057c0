"""Spectral augmentation of training patches, beside the dihedral flips of :mod:`.patches`.

What changes between two acquisitions of one material is mostly spectral: illumination,
per-band gain and offset of the sensor, noise (DeepHyperX's "radiation" augmentation), and
the mixing of a pixel with others of the same class ("mixture" augmentation). They apply to
the features the network sees (after standardisation and PCA), with offsets and noise scaled
by each feature's spread over the scene, so one ``strength`` means the same for raw bands and
for 30 PCA components. Every draw comes from the caller's generator: deterministic.

Patches are ``(N, 1, C, p, p)``: (samples, 1, spectral, height, width).
"""

from __future__ import annotations

import torch

from mssfe.errors import DataError

#: At strength 1: relative spread of each band's gain, of the whole spectrum's illumination,
#: and offset and per-element noise as fractions of each band's spread over the scene.
GAIN = 0.05
ILLUMINATION = 0.10
OFFSET = 0.05
NOISE = 0.02


def _check_patches(x: torch.Tensor, band_scale: torch.Tensor | None = None) -> None:
    if x.ndim != 5:
        raise DataError(
            "augmentation needs a batch of patches",
            field="x",
            expected="(N, 1, C, p, p)",
            got=tuple(x.shape),
        )
    if band_scale is not None and band_scale.shape != (x.shape[2],):
        raise DataError(
            "one scale per band",
            field="band_scale",
            expected=(x.shape[2],),
            got=tuple(band_scale.shape),
        )


def _normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device)


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device)


def spectral_augment(
    x: torch.Tensor, band_scale: torch.Tensor, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """Random per-sample band gains and offsets, illumination and noise: a new ``x``.

    ``band_scale`` ``(C,)`` is each feature's standard deviation over the scene; ``strength``
    scales every spread (0 returns ``x`` unchanged, without drawing).
    """
    _check_patches(x, band_scale)
    if strength == 0:
        return x
    n, _, c, p, _ = x.shape
    scale = band_scale.to(x.device, x.dtype).view(1, 1, c, 1, 1)
    gain = 1 + strength * GAIN * _normal((n, 1, c, 1, 1), generator)
    light = 1 + strength * ILLUMINATION * (2 * _uniform((n, 1, 1, 1, 1), generator) - 1)
    offset = strength * OFFSET * _normal((n, 1, c, 1, 1), generator) * scale
    noise = strength * NOISE * _normal((n, 1, c, p, p), generator) * scale
    return (x * gain * light + offset + noise).to(x.dtype)


def mix_same_class(
    x: torch.Tensor, y: torch.Tensor, share: float, generator: torch.Generator
) -> torch.Tensor:
    """Blend a ``share`` of the patches with another patch of their class from the batch.

    Patch ``i`` becomes ``w * x[i] + (1 - w) * x[j]`` with ``y[j] == y[i]`` drawn at random and
    ``w`` uniform in [0.5, 1], so its own spectrum stays the larger part and the label holds.
    A patch whose class has no other member in the batch is left as it is.
    """
    _check_patches(x)
    if share == 0 or x.shape[0] < 2:
        return x
    n = x.shape[0]
    same = y.view(-1, 1) == y.view(1, -1)
    same.fill_diagonal_(False)
    keys = _uniform((n, n), generator).masked_fill(~same, -1.0)
    partner = keys.argmax(dim=1)
    chosen = (_uniform((n,), generator) < share) & same.any(dim=1)
    weight = 0.5 + 0.5 * _uniform((n,), generator)
    weight = torch.where(chosen, weight, torch.ones_like(weight)).view(n, 1, 1, 1, 1)
    return (weight * x + (1 - weight) * x[partner]).to(x.dtype)
