"""Patches cut on demand: values, borders, batching through DataLoader, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mssfe.data.patches import PatchDataset, augment_batch, extract_patches, pad_cube
from mssfe.errors import DataError

H, W, C = 12, 17, 5


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(H, W, C)).astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "p"),
    [((5, 7, 3), 3), ((9, 9, 2), 9), ((4, 11, 1), 7), ((2, 2, 3), 3), ((3, 4, 2), 1)],
)
def test_pad_cube_equals_numpy_reflect(shape: tuple[int, int, int], p: int) -> None:
    cube = np.random.default_rng(1).normal(size=shape)
    r = p // 2
    expected = np.pad(cube.transpose(2, 0, 1), ((0, 0), (r, r), (r, r)), mode="reflect")
    padded = pad_cube(cube, p)
    assert padded.dtype == np.float32 and padded.flags.c_contiguous
    np.testing.assert_array_equal(padded, expected.astype(np.float32))


@pytest.mark.parametrize("p", [0, 4, -3])
def test_pad_cube_rejects_even_or_non_positive_patch(cube: np.ndarray, p: int) -> None:
    with pytest.raises(DataError, match="odd"):
        pad_cube(cube, p)


def test_pad_cube_rejects_radius_too_large_for_reflection(cube: np.ndarray) -> None:
    with pytest.raises(DataError, match="too small") as info:
        pad_cube(cube, 2 * H + 1)
    assert info.value.expected is not None and info.value.got is not None


def test_interior_patch_equals_cube_slice(cube: np.ndarray) -> None:
    p, row, col = 5, 6, 9
    patch = extract_patches(pad_cube(cube, p), np.array([row * W + col]), W, p)
    assert patch.shape == (1, 1, C, p, p)
    expected = cube[row - 2 : row + 3, col - 2 : col + 3].transpose(2, 0, 1)
    np.testing.assert_array_equal(patch[0, 0], expected)


def test_corner_patch_equals_numpy_reflect(cube: np.ndarray) -> None:
    p = 7
    reflected = np.pad(cube, ((3, 3), (3, 3), (0, 0)), mode="reflect")
    patch = extract_patches(pad_cube(cube, p), np.array([H * W - 1]), W, p)
    expected = reflected[H - 1 : H - 1 + p, W - 1 : W - 1 + p].transpose(2, 0, 1)
    np.testing.assert_array_equal(patch[0, 0], expected)


def test_getitems_equals_stacked_getitem(cube: np.ndarray) -> None:
    idx = np.arange(0, H * W, 3)
    targets = np.arange(idx.size) % 4
    ds = PatchDataset(cube, idx, targets, 7)
    which = [5, 0, len(ds) - 1, 17]
    patches, labels = ds.get_batch(which)
    assert patches.shape == (4, 1, C, 7, 7) and patches.dtype == torch.float32
    torch.testing.assert_close(patches, torch.stack([ds[i][0] for i in which]), rtol=0, atol=0)
    assert labels.tolist() == [ds[i][1] for i in which]
    batch = ds.__getitems__(which)
    assert len(batch) == 4
    torch.testing.assert_close(batch[2][0], ds[which[2]][0], rtol=0, atol=0)


@pytest.mark.parametrize("collate", [None, PatchDataset.collate])
def test_dataloader_batches(cube: np.ndarray, collate: object) -> None:
    idx = np.arange(H * W)
    ds = PatchDataset(cube, idx, idx % 3, 5)
    kwargs = {} if collate is None else {"collate_fn": collate}
    loader = DataLoader(ds, batch_size=64, **kwargs)  # type: ignore[arg-type]
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [64, 64, 64, H * W - 192]
    x, y = batches[1]
    assert x.shape == (64, 1, C, 5, 5) and y.dtype == torch.int64
    torch.testing.assert_close(x, ds.get_batch(list(range(64, 128)))[0], rtol=0, atol=0)
    np.testing.assert_array_equal(y.numpy(), np.arange(64, 128) % 3)


def test_prediction_dataset_has_no_targets(cube: np.ndarray) -> None:
    ds = PatchDataset(cube, np.array([0, 5]), None, 3)
    assert ds[1][1] == -1
    assert ds.get_batch([0, 1])[1].tolist() == [-1, -1]


def test_dataset_rejects_bad_inputs(cube: np.ndarray) -> None:
    with pytest.raises(DataError, match="outside"):
        PatchDataset(cube, np.array([H * W]), None, 3)
    with pytest.raises(DataError, match="one integer per pixel"):
        PatchDataset(cube, np.array([0, 1]), np.array([0]), 3)


def _batch(n: int, p: int = 5) -> torch.Tensor:
    return torch.arange(n * 2 * p * p, dtype=torch.float32).reshape(n, 1, 2, p, p)


def test_augment_is_deterministic_and_preserves_values() -> None:
    x = _batch(40)
    a = augment_batch(x, torch.Generator().manual_seed(7))
    b = augment_batch(x, torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, augment_batch(x, torch.Generator().manual_seed(8)))
    for original, moved in zip(x, a, strict=True):
        torch.testing.assert_close(original.flatten().sort().values, moved.flatten().sort().values)


def test_augment_uses_all_eight_transforms_and_keeps_the_centre() -> None:
    p = 5
    one = _batch(1, p)
    x = one.expand(400, -1, -1, -1, -1).clone()
    out = augment_batch(x, torch.Generator().manual_seed(0))
    distinct = {tuple(sample.flatten().tolist()) for sample in out}
    assert len(distinct) == 8
    torch.testing.assert_close(out[..., p // 2, p // 2], x[..., p // 2, p // 2], rtol=0, atol=0)


def test_augment_rejects_non_square() -> None:
    with pytest.raises(DataError):
        augment_batch(torch.zeros(2, 1, 3, 5, 4), torch.Generator())
