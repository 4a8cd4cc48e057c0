"""Patches around labelled pixels, cut on demand from one padded copy of the scene.

Materialising every patch would need ``N * C * p * p`` floats (Pavia University, all pixels,
103 bands, p=15: ~19 GB); a :class:`PatchDataset` keeps only the reflection-padded cube
``(C, H + 2r, W + 2r)`` and the pixel indices, and cuts a batch of patches when asked.
Patch layout ``(1, C, p, p)`` = (1, spectral, height, width), as the 3-D networks expect.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data import default_collate as _default_collate

from mssfe.errors import DataError


def _check_patch_size(patch_size: int, height: int, width: int) -> int:
    """Validate an odd patch size whose radius reflection padding can serve; return r."""
    if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer):
        raise DataError(
            "patch size must be an integer",
            field="patch_size",
            expected="odd int >= 1",
            got=repr(patch_size),
        )
    if patch_size < 1 or patch_size % 2 == 0:
        raise DataError(
            "patch size must be odd and positive",
            field="patch_size",
            expected="odd int >= 1",
            got=patch_size,
        )
    radius = int(patch_size) // 2
    if radius >= height or radius >= width:
        raise DataError(
            "scene too small for reflection padding of this patch size",
            field="patch_size",
            expected=f"patch_size // 2 < min(H, W) = {min(height, width)}",
            got=f"patch_size {patch_size} (radius {radius}) on a {height} x {width} scene",
        )
    return radius


def pad_cube(cube: np.ndarray, patch_size: int) -> np.ndarray:
    """``(H, W, C)`` -> ``(C, H + 2r, W + 2r)`` float32 C-contiguous, reflection-padded.

    Same values as ``np.pad(cube.transpose(2, 0, 1), ..., mode="reflect")`` but written into
    one preallocated float32 array, so a float64 cube never needs a padded float64 copy.
    """
    arr = np.asarray(cube)
    if arr.ndim != 3:
        raise DataError(
            "cube must be 3-D, band-last", field="cube", expected="(H, W, C)", got=arr.shape
        )
    height, width, channels = arr.shape
    r = _check_patch_size(patch_size, height, width)
    out = np.empty((channels, height + 2 * r, width + 2 * r), dtype=np.float32)
    out[:, r : r + height, r : r + width] = arr.transpose(2, 0, 1)
    if r:
        rows = slice(r, r + width)
        out[:, :r, rows] = out[:, 2 * r : r : -1, rows]  # row -k <- row k
        out[:, r + height :, rows] = out[:, r + height - 2 : height - 2 : -1, rows]
        out[:, :, :r] = out[:, :, 2 * r : r : -1]
        out[:, :, r + width :] = out[:, :, r + width - 2 : width - 2 : -1]
    return out


def _check_in_scene(idx: np.ndarray, n_pixels: int) -> np.ndarray:
    """Flat pixel indices ``(N,)`` must lie in ``[0, n_pixels)``."""
    if idx.size and (idx.min() < 0 or idx.max() >= n_pixels):
        raise DataError(
            "pixel index outside the scene",
            field="flat_idx",
            expected=f"[0, {n_pixels})",
            got=f"[{idx.min()}, {idx.max()}]",
        )
    return idx


def extract_patches(
    padded: np.ndarray, flat_idx: np.ndarray, width: int, patch_size: int
) -> np.ndarray:
    """Patches centred on ``flat_idx`` (row * width + col): ``(N, 1, C, p, p)`` float32.

    One fancy-indexing gather over a sliding-window view of ``padded`` (from
    :func:`pad_cube`): a single copy of exactly the requested patches.
    """
    r = patch_size // 2
    channels, padded_h, padded_w = padded.shape
    if padded_w != width + 2 * r:
        raise DataError(
            "padded cube does not match width and patch size",
            field="padded",
            expected=f"width {width + 2 * r}",
            got=f"width {padded_w}",
        )
    idx = _check_in_scene(np.asarray(flat_idx, dtype=np.int64), (padded_h - 2 * r) * width)
    rows, cols = np.divmod(idx, width)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch_size, patch_size), (1, 2))
    patches = windows.transpose(1, 2, 0, 3, 4)[rows, cols]  # (N, C, p, p), a fresh copy
    return patches.reshape(idx.size, 1, channels, patch_size, patch_size)


class PatchBatch(list[tuple[torch.Tensor, int]]):
    """What :meth:`PatchDataset.__getitems__` returns: a list of ``(patch, target)`` samples
    that also carries the already stacked ``patches`` ``(N, 1, C, p, p)`` and ``targets``
    ``(N,)`` tensors, so :meth:`PatchDataset.collate` can skip re-stacking.
    """

    patches: torch.Tensor
    targets: torch.Tensor


class PatchDataset(Dataset[tuple[torch.Tensor, int]]):
    """Patches ``(1, C, p, p)`` around ``flat_idx`` of a preprocessed ``(H, W, C)`` cube.

    ``targets`` ``(N,)`` int64 in 0..K-1, or None for prediction (the target is then -1).
    Memory: the padded cube (~ the cube's own size) and the indices, never all patches.

    Batched fetching: torch's DataLoader calls :meth:`__getitems__` with a batch's indices;
    it cuts all patches in one vectorised gather. ``DataLoader(ds, batch_size=64)`` works with
    the default collate (which re-stacks the per-sample views, one extra copy);
    ``DataLoader(ds, batch_size=64, collate_fn=PatchDataset.collate)`` returns the stacked
    tensors as cut, without that copy. Use :meth:`get_batch` to fetch a batch directly.
    """

    def __init__(
        self,
        cube: np.ndarray,
        flat_idx: np.ndarray,
        targets: np.ndarray | None,
        patch_size: int,
    ) -> None:
        self.padded = pad_cube(cube, patch_size)
        self.height, self.width = int(cube.shape[0]), int(cube.shape[1])
        self.patch_size = int(patch_size)
        self.flat_idx = self._check_index(flat_idx)
        self.targets = None if targets is None else self._check_targets(targets)

    def _check_index(self, flat_idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(flat_idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise DataError(
                "pixel indices must be 1-D integers",
                field="flat_idx",
                expected="(N,) int64",
                got=f"{idx.shape} {idx.dtype}",
            )
        return _check_in_scene(idx.astype(np.int64), self.height * self.width)

    def _check_targets(self, targets: np.ndarray) -> np.ndarray:
        arr = np.asarray(targets)
        if arr.shape != self.flat_idx.shape or (
            arr.size and not np.issubdtype(arr.dtype, np.integer)
        ):
            raise DataError(
                "targets must be one integer per pixel",
                field="targets",
                expected=f"{self.flat_idx.shape} int64",
                got=f"{arr.shape} {arr.dtype}",
            )
        if arr.size and arr.min() < 0:
            raise DataError(
                "targets are class numbers from 0",
                field="targets",
                expected=">= 0 (0..K-1)",
                got=int(arr.min()),
            )
        return arr.astype(np.int64)

    def with_pixels(self, flat_idx: np.ndarray, targets: np.ndarray | None) -> PatchDataset:
        """Another pixel selection over the same padded cube (shared, not copied)."""
        other = copy.copy(self)
        other.flat_idx = self._check_index(flat_idx)
        other.targets = None if targets is None else other._check_targets(targets)
        return other

    def __len__(self) -> int:
        return int(self.flat_idx.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """One sample: patch ``(1, C, p, p)`` float32 and its target (-1 without targets)."""
        pixel = int(self.flat_idx[i])
        row, col = divmod(pixel, self.width)
        p = self.patch_size
        patch = np.array(self.padded[:, row : row + p, col : col + p])[None]
        target = -1 if self.targets is None else int(self.targets[i])
        return torch.from_numpy(patch), target

    def get_batch(
        self, idxs: Sequence[int] | np.ndarray | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``idxs`` (a CPU tensor too) at once: patches ``(N, 1, C, p, p)`` and targets
        ``(N,)`` int64."""
        positions = np.asarray(idxs, dtype=np.int64)
        patches = extract_patches(
            self.padded, self.flat_idx[positions], self.width, self.patch_size
        )
        if self.targets is None:
            targets = np.full(positions.size, -1, dtype=np.int64)
        else:
            targets = self.targets[positions]
        return torch.from_numpy(patches), torch.from_numpy(targets)

    def __getitems__(self, idxs: list[int]) -> PatchBatch:
        """Batched fetch used by DataLoader; a list of samples plus the stacked tensors."""
        patches, targets = self.get_batch(idxs)
        batch = PatchBatch(zip(patches, targets.tolist(), strict=True))
        batch.patches, batch.targets = patches, targets
        return batch

    @staticmethod
    def collate(batch: Any) -> Any:
        """DataLoader ``collate_fn`` that passes :meth:`__getitems__`' stacked tensors through."""
        if isinstance(batch, PatchBatch):
            return batch.patches, batch.targets
        return _default_collate(batch)


# The 8 dihedral transforms of the square: rotate by k * 90 degrees, then flip or not.
_DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))
N_DIHEDRAL = len(_DIHEDRAL)


def dihedral(x: torch.Tensor, which: int) -> torch.Tensor:
    """Transform ``which`` (0..7; 0 = identity) of the 8 flips/rotations of the last two
    (spatial) dims of ``x`` ``(..., p, p)``: test-time augmentation averages all eight."""
    k, flip = _DIHEDRAL[which]
    out = torch.rot90(x, k, dims=(-2, -1)) if k else x
    return torch.flip(out, dims=(-1,)) if flip else out


@functools.lru_cache(maxsize=32)
def _dihedral_index(patch_size: int, device: torch.device) -> torch.Tensor:
    return dihedral_index(patch_size, device)


def dihedral_index(patch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(8, p * p)`` int64: row ``which`` lists, for each output position of a flattened
    ``(p, p)`` plane, the input position :func:`dihedral` ``which`` takes it from. Built by
    applying :func:`dihedral` itself to ``arange(p * p)``: one definition of the 8 transforms."""
    plane = torch.arange(patch_size * patch_size, device=device).view(patch_size, patch_size)
    return torch.stack([dihedral(plane, which).reshape(-1) for which in range(N_DIHEDRAL)])


def dihedral_batch(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Transform ``choice[i]`` (0..7) of :func:`dihedral` applied to sample ``i`` of ``x``
    ``(N, ..., p, p)``: one gather, no synchronisation with the host (a device batch stays on
    its device's queue). Exactly ``dihedral(x[i], choice[i])`` for every ``i`` (a permutation
    of positions moves values, it computes none)."""
    n, p = x.shape[0], x.shape[-1]
    flat = x.reshape(n, -1, p * p)
    where = _dihedral_index(p, x.device)[choice.to(x.device)]  # (N, p*p)
    out = torch.gather(flat, 2, where.unsqueeze(1).expand(-1, flat.shape[1], -1))
    return out.view(x.shape)


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one of the 8 flips/rotations of the spatial plane to each sample of ``x``.

    ``x`` is ``(N, ..., p, p)`` (square last two dims); returns a new tensor of the same
    shape. Transforms are drawn from ``generator`` (deterministic for a given state; on the
    generator's device) and applied by :func:`dihedral_batch`. With ``p`` odd the centre
    pixel, and so its spectrum, is unchanged.
    """
    if x.ndim < 3 or x.shape[-1] != x.shape[-2]:
        raise DataError(
            "augmentation needs a batch of square patches",
            field="x",
            expected="(N, ..., p, p)",
            got=tuple(x.shape),
        )
    choice = torch.randint(
        0, len(_DIHEDRAL), (x.shape[0],), generator=generator, device=generator.device
    )
    return dihedral_batch(x, choice)
