"""Patches cut where the network runs: the padded cube as one tensor on a device.

A :class:`~mssfe.data.patches.PatchDataset` cuts patches on the host and every batch is copied
to the device (``N * C * p * p`` floats per batch, ~p² times the pixels' own spectra). A
:class:`DevicePatches` copies the reflection-padded cube ``(C, H + 2r, W + 2r)`` to the device
once and gathers a batch there by one advanced-indexing gather (row/column of each index plus a
precomputed ``(p, p)`` offset grid): no Python loop over pixels, no host round trip, and no
host synchronisation (indices are checked once, when the pixel selection is made). The values
are those :meth:`PatchDataset.get_batch` returns, bit for bit (it is pure indexing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mssfe.data.patches import PatchDataset
from mssfe.errors import DataError


def offset_grid(patch_size: int, padded_width: int, device: torch.device) -> torch.Tensor:
    """``(p, p)`` int64 flat offsets of a patch's pixels from its top-left corner in a padded
    plane ``padded_width`` wide: ``row * padded_width + col``."""
    steps = torch.arange(patch_size, device=device)
    return steps.view(-1, 1) * padded_width + steps.view(1, -1)


def gather_patches(
    plane: torch.Tensor, corners: torch.Tensor, offsets: torch.Tensor
) -> torch.Tensor:
    """Patches ``(N, 1, C, p, p)`` from a pixel-major padded plane ``plane`` ``(Hp * Wp, C)``:
    ``corners`` ``(N,)`` are the flat padded positions of the patches' top-left pixels (= the
    centre pixel's ``row * Wp + col`` in the unpadded frame), ``offsets`` from
    :func:`offset_grid`.

    The gather reads whole spectra (contiguous ``C`` floats: coalesced on a GPU) into
    ``(N, p, p, C)``; one transpose copy makes the band-major layout the networks take.
    """
    taken = plane[corners.view(-1, 1, 1) + offsets]  # (N, p, p, C)
    return taken.permute(0, 3, 1, 2).unsqueeze(1).contiguous()


def pixel_major(padded: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A padded cube ``(C, Hp, Wp)`` (from :func:`~mssfe.data.patches.pad_cube`) as the
    ``(Hp * Wp, C)`` float32 plane :func:`gather_patches` reads, on ``device``."""
    cube = torch.as_tensor(padded)
    if cube.ndim != 3:
        raise DataError(
            "padded cube must be 3-D, band-first",
            field="padded",
            expected="(C, Hp, Wp)",
            got=tuple(cube.shape),
        )
    channels = cube.shape[0]
    return cube.to(device).permute(1, 2, 0).reshape(-1, channels).contiguous()


class DevicePatches:
    """The pixels of a :class:`PatchDataset` with its padded cube, on ``device``.

    ``flat_idx`` ``(N,)`` and ``targets`` ``(N,)`` (or None) are int64 tensors on the device;
    :meth:`get_batch` takes positions into them (a device tensor, or a list) and returns
    patches ``(B, 1, C, p, p)`` float32 and targets ``(B,)`` int64 on the device, equal to
    ``dataset.get_batch(positions)``. Positions are not range-checked (that would synchronise
    with the host each batch): they come from the trainer's own orders.
    """

    def __init__(self, dataset: PatchDataset, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.patch_size = dataset.patch_size
        self.height, self.width = dataset.height, dataset.width
        channels, _, padded_width = dataset.padded.shape
        self.n_bands = int(channels)
        self.plane = pixel_major(dataset.padded, self.device)
        self.offsets = offset_grid(self.patch_size, int(padded_width), self.device)
        self._padded_width = int(padded_width)
        self._set_pixels(dataset.flat_idx, dataset.targets)

    def _set_pixels(self, flat_idx: np.ndarray, targets: np.ndarray | None) -> None:
        idx = torch.from_numpy(np.asarray(flat_idx, dtype=np.int64)).to(self.device)
        rows, cols = idx // self.width, idx % self.width
        self.flat_idx = idx
        self.corners = rows * self._padded_width + cols  # top-left of each patch, padded frame
        self.targets = (
            None
            if targets is None
            else torch.from_numpy(np.asarray(targets, dtype=np.int64)).to(self.device)
        )

    def with_pixels(self, dataset: PatchDataset) -> DevicePatches:
        """The pixels (and targets) of ``dataset``, another selection over the same cube: the
        device cube is shared, not copied. ``dataset`` must be cut from the same padded cube."""
        if dataset.padded.shape[1:] != (
            self.height + 2 * (self.patch_size // 2),
            self._padded_width,
        ):
            raise DataError(
                "pixel selection of another cube",
                field="dataset",
                expected=f"a {self.height} x {self.width} scene, patch {self.patch_size}",
                got=f"padded {dataset.padded.shape}",
            )
        other = object.__new__(DevicePatches)
        other.__dict__.update(self.__dict__)
        other._set_pixels(dataset.flat_idx, dataset.targets)
        return other

    def __len__(self) -> int:
        return int(self.flat_idx.numel())

    def get_batch(
        self, positions: Sequence[int] | np.ndarray | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``(B, 1, C, p, p)`` and targets ``(B,)`` (-1 without targets) of the
        samples at ``positions``, gathered on the device."""
        pos = torch.as_tensor(positions, dtype=torch.int64).to(self.device, non_blocking=True)
        patches = gather_patches(self.plane, self.corners[pos], self.offsets)
        if self.targets is None:
            targets = torch.full((pos.numel(),), -1, dtype=torch.int64, device=self.device)
        else:
            targets = self.targets[pos]
        return patches, targets


class PinnedUpload:
    """Host arrays to a device through reusable pinned buffers, on a copy stream of its own.

    On CUDA, :meth:`send` writes the array into one of ``buffers`` page-locked host buffers
    and starts an asynchronous (``non_blocking``) copy on a side stream, so the host can go
    on (preprocess the next tile) while the copy and the device's work run; :meth:`receive`
    makes the current stream wait for that copy only. The buffers alternate (double
    buffering): a buffer is written again ``buffers`` sends later, once its copy is done. On
    any other device the same calls copy synchronously.
    """

    def __init__(self, device: torch.device | str, buffers: int = 2) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._buffers: list[torch.Tensor | None] = [None] * buffers
        self._done: list[torch.cuda.Event | None] = [None] * buffers
        self._next = 0

    def _buffer(self, slot: int, numel: int) -> torch.Tensor:
        done = self._done[slot]
        if done is not None:
            done.synchronize()  # the copy that last read this buffer has finished
        buf = self._buffers[slot]
        if buf is None or buf.numel() < numel:
            buf = torch.empty(numel, dtype=torch.float32, pin_memory=True)
            self._buffers[slot] = buf
        return buf[:numel]

    def send(self, array: np.ndarray) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        """Start copying ``array`` (float32) to the device; returns the device tensor and the
        event :meth:`receive` waits on (None off CUDA: the copy is done)."""
        if not self.cuda or self.stream is None:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device), None
        slot = self._next
        self._next = (slot + 1) % len(self._buffers)
        host = self._buffer(slot, array.size).view(array.shape)
        host.numpy()[...] = array
        with torch.cuda.stream(self.stream):
            on_device = host.to(self.device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.stream)
        self._done[slot] = done
        return on_device, done

    def receive(self, sent: tuple[torch.Tensor, torch.cuda.Event | None]) -> torch.Tensor:
        """The device tensor of :meth:`send`, ready for work on the current stream."""
        tensor, done = sent
        if done is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(done)
            tensor.record_stream(current)  # made on the copy stream, used on this one
        return tensor
