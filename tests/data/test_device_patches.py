"""Patches gathered on a device equal the host's, and so do the device-drawn augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mssfe.data.augment import mix_same_class, spectral_augment
from mssfe.data.device_patches import DevicePatches
from mssfe.data.patches import (
    N_DIHEDRAL,
    PatchDataset,
    augment_batch,
    dihedral,
    dihedral_batch,
)
from mssfe.errors import DataError


@pytest.mark.parametrize(
    ("shape", "p"),
    [((12, 17, 5), 1), ((12, 17, 5), 5), ((16, 15, 3), 15), ((9, 23, 7), 5), ((8, 8, 2), 15)],
)
def test_device_gather_equals_host_batch(shape: tuple[int, int, int], p: int) -> None:
    """For random index sets (repeats included) the device gather is get_batch, bit for bit."""
    rng = np.random.default_rng(p)
    cube = rng.normal(size=shape).astype(np.float32)
    n_pixels = shape[0] * shape[1]
    flat_idx = rng.choice(n_pixels, size=min(40, n_pixels), replace=False)
    ds = PatchDataset(cube, flat_idx, rng.integers(0, 4, flat_idx.size), p)
    device = DevicePatches(ds, "cpu")
    for size in (1, 7, len(ds)):
        positions = rng.integers(0, len(ds), size)
        want_x, want_y = ds.get_batch(positions)
        got_x, got_y = device.get_batch(torch.from_numpy(positions))
        assert got_x.shape == (size, 1, shape[2], p, p) and got_x.is_contiguous()
        assert torch.equal(got_x, want_x) and torch.equal(got_y, want_y)


def test_device_selection_shares_the_cube_and_keeps_no_targets() -> None:
    cube = np.random.default_rng(0).normal(size=(10, 11, 4)).astype(np.float32)
    ds = PatchDataset(cube, np.arange(5), np.zeros(5, dtype=np.int64), 3)
    device = DevicePatches(ds, "cpu")
    pool = ds.with_pixels(np.array([100, 3, 57]), None)
    other = device.with_pixels(pool)
    assert other.plane is device.plane and len(other) == 3
    x, y = other.get_batch([2, 0])
    want_x, want_y = pool.get_batch([2, 0])
    assert torch.equal(x, want_x) and torch.equal(y, want_y) and y.tolist() == [-1, -1]


def test_device_selection_of_another_cube_is_refused() -> None:
    cube = np.zeros((10, 11, 4), dtype=np.float32)
    device = DevicePatches(PatchDataset(cube, np.arange(5), None, 3), "cpu")
    other = PatchDataset(np.zeros((12, 11, 4), dtype=np.float32), np.arange(5), None, 3)
    with pytest.raises(DataError, match="another cube"):
        device.with_pixels(other)


@pytest.mark.parametrize("p", [1, 5, 15])
def test_dihedral_batch_applies_each_samples_transform(p: int) -> None:
    """The one-gather batch transform is the per-sample dihedral() of the chosen transform."""
    x = torch.randn(24, 1, 3, p, p, generator=torch.Generator().manual_seed(p))
    choice = torch.arange(24) % N_DIHEDRAL
    out = dihedral_batch(x, choice)
    for i in range(24):
        assert torch.equal(out[i], dihedral(x[i], int(choice[i])))


def test_augment_batch_draws_its_transforms_from_the_generator() -> None:
    x = torch.randn(16, 1, 2, 5, 5)
    out = augment_batch(x, torch.Generator().manual_seed(3))
    choice = torch.randint(0, N_DIHEDRAL, (16,), generator=torch.Generator().manual_seed(3))
    for i in range(16):
        assert torch.equal(out[i], dihedral(x[i], int(choice[i])))


def test_spectral_draws_follow_the_generator_device() -> None:
    """Draws are made where the generator lives (CPU here): the same generator state gives
    the same augmentation, and band_scale may live on another device than x."""
    x = torch.randn(6, 1, 4, 3, 3)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    a = spectral_augment(x, torch.ones(4), 1.0, torch.Generator().manual_seed(1))
    b = spectral_augment(x, torch.ones(4), 1.0, torch.Generator("cpu").manual_seed(1))
    assert torch.equal(a, b)
    m1 = mix_same_class(x, y, 1.0, torch.Generator().manual_seed(2))
    m2 = mix_same_class(x, y, 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(m1, m2)
