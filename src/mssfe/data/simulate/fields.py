"""Spatially correlated random fields: the source of smooth within-class variability.

White Gaussian noise smoothed by a Gaussian kernel (``scipy.ndimage``, no FFT, so the result
does not depend on array sizes or thread counts) and divided by the kernel's own norm, so that
every field has unit variance whatever its correlation length and the scene's size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_TRUNCATE = 4.0


def _kernel_norm(sigma: float) -> float:
    """Standard deviation of unit white noise after the 2-D Gaussian filter of ``sigma``."""
    radius = int(_TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    return float(np.sum(k**2))  # separable: (sum k^2)^2 is the variance, its root this


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], corr_px: float) -> np.ndarray:
    """(H, W) float32 field, zero mean and unit variance, correlation length ``corr_px``.

    ``corr_px`` <= 0 gives white noise.
    """
    white = rng.standard_normal(shape)
    if corr_px <= 0:
        return white.astype(np.float32)
    smooth = ndimage.gaussian_filter(white, sigma=corr_px, mode="reflect", truncate=_TRUNCATE)
    return (smooth / _kernel_norm(corr_px)).astype(np.float32)


def soft_partition(
    rng: np.random.Generator, shape: tuple[int, int], n: int, corr_px: float, sharpness: float = 2.0
) -> np.ndarray:
    """(H, W, n) float32 weights summing to one: a smooth regional mixture of ``n`` members."""
    logits = np.stack([smooth_field(rng, shape, corr_px) for _ in range(n)], axis=-1)
    logits *= sharpness
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def neighbour_correlation(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Correlation of horizontally adjacent values inside ``mask``: a smoothness check."""
    left, right = image[:, :-1], image[:, 1:]
    keep = np.ones(left.shape, dtype=bool) if mask is None else (mask[:, :-1] & mask[:, 1:])
    a, b = left[keep].astype(float), right[keep].astype(float)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
