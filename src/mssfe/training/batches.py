"""The global batches of one training epoch: pixel order, augmentation, unlabelled pixels.

Every random draw comes from a generator seeded by (seed, epoch) for the order and by
(seed, epoch, batch) for each batch's augmentation and unlabelled pixels, so an epoch is the
same whether DataLoader workers or the main process build it, on every DDP rank, and after a
resume. A part the recipe switches off draws nothing, so the ``paper`` recipe's batches are
exactly those of the code before recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from mssfe.data.augment import mix_same_class, spectral_augment
from mssfe.data.device_patches import DevicePatches
from mssfe.data.patches import PatchDataset, augment_batch

#: Where a batch's pixels are cut: on the host, or on the device from its copy of the cube.
PatchSource = PatchDataset | DevicePatches

#: Strength of the spectral augmentation of the student's view of an unlabelled patch
#: (FixMatch's "strong" augmentation; the teacher sees flips/rotations only).
STRONG_SPECTRAL = 2.0


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _batch_generator(seed: int, epoch: int, batch: int, device: torch.device) -> torch.Generator:
    """On the device the batch is augmented on: the CPU's draws are the host path's; a GPU's
    generator, seeded alike, draws its own (equally distributed) numbers there."""
    seed_value = (seed * 1_000_003 + epoch) * 100_003 + batch
    return torch.Generator(device=device).manual_seed(seed_value)


def _unlabelled_generator(
    seed: int, epoch: int, batch: int, device: torch.device
) -> torch.Generator:
    """A stream of its own, so switching SSL on leaves the labelled draws as they were."""
    state = np.random.SeedSequence([seed, epoch, batch, 1]).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state))


def balanced_order(targets: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """An epoch of ``len(targets)`` positions in which every class has an equal share.

    Each of the K classes gets ``n // K`` places (the remainder to random classes), filled by
    cycling random permutations of that class's positions, so a small class repeats and a
    large one is subsampled, but no position repeats before its class is exhausted. With
    classes of equal size this is a random permutation. Returns ``(n,)`` int64.
    """
    n = len(targets)
    classes = np.unique(targets)
    quota = np.full(classes.size, n // classes.size)
    extra = torch.randperm(classes.size, generator=generator)[: n % classes.size].numpy()
    quota[extra] += 1
    parts = []
    for cls, count in zip(classes, quota, strict=True):
        members = torch.from_numpy(np.flatnonzero(targets == cls))
        cycles = -(-int(count) // members.numel())
        perms = [
            members[torch.randperm(members.numel(), generator=generator)] for _ in range(cycles)
        ]
        parts.append(torch.cat(perms)[:count])
    order = torch.cat(parts)
    return order[torch.randperm(n, generator=generator)]


def cut_batches(n: int, batch_size: int, order: torch.Tensor) -> list[list[int]]:
    """``order`` cut into batches of ``batch_size``; a last batch of one joins the one before."""
    chunks = [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:  # BatchNorm cannot train on one sample
        chunks[-2].extend(chunks.pop())
    return chunks


class TrainBatch(NamedTuple):
    """One global batch: labelled patches ``x`` ``(B, 1, C, p, p)`` and targets ``y`` ``(B,)``;
    with SSL the unlabelled patches ``(U, 1, C, p, p)`` as the teacher (``weak``) and the
    student (``strong``) see them, else None."""

    x: torch.Tensor
    y: torch.Tensor
    weak: torch.Tensor | None
    strong: torch.Tensor | None


@dataclass(frozen=True)
class BatchPlan:
    """What a batch gets besides its pixels.

    ``dihedral``: flips/rot90; ``spectral``: strength of :func:`spectral_augment` (0 off);
    ``mix``: share of same-class mixing; ``band_scale`` ``(C,)``: each feature's spread over the
    scene; ``unlabelled``: patches of the SSL pool (None: no SSL) and ``ssl_ratio`` of them per
    labelled patch.
    """

    dihedral: bool
    spectral: float = 0.0
    mix: float = 0.0
    band_scale: torch.Tensor | None = None
    unlabelled: PatchSource | None = None
    ssl_ratio: float = 0.0

    def unlabelled_count(self, labelled: int) -> int:
        return max(2, round(self.ssl_ratio * labelled))


class EpochBatches(Dataset[TrainBatch]):
    """The global batches of one epoch, cut and augmented; item ``i`` is batch ``i``.

    From a :class:`PatchDataset` the batches are cut and augmented on the host (for a
    DataLoader, whose workers may build them). From a :class:`DevicePatches` (and a plan whose
    pool is one too) they are cut and augmented on its device, the random draws made by
    generators on that device seeded as the host's: on CPU the batches are the host path's,
    value for value; on a GPU the same distribution, deterministic for a seed. Nothing is
    drawn from a global stream, so a resumed run replays its batches either way.
    """

    def __init__(
        self,
        dataset: PatchSource,
        batches: list[list[int]],
        seed: int,
        epoch: int,
        plan: BatchPlan,
    ) -> None:
        self.dataset, self.batches = dataset, batches
        self.seed, self.epoch, self.plan = seed, epoch, plan
        self.device = torch.device("cpu")
        self._positions: list[torch.Tensor] | None = None
        if isinstance(dataset, DevicePatches) and batches:
            self.device = dataset.device  # the epoch's positions copied once, sliced per batch
            flat = torch.tensor([i for b in batches for i in b], dtype=torch.int64)
            self._positions = list(torch.split(flat.to(self.device), [len(b) for b in batches]))

    def __len__(self) -> int:
        return len(self.batches)

    def _scale(self) -> torch.Tensor:
        if self.plan.band_scale is None:
            raise ValueError("spectral augmentation needs band_scale")
        return self.plan.band_scale

    def __getitem__(self, i: int) -> TrainBatch:
        plan = self.plan
        if self._positions is not None:
            x, y = self.dataset.get_batch(self._positions[i])
        else:
            x, y = self.dataset.get_batch(self.batches[i])
        if plan.dihedral or plan.spectral or plan.mix:
            gen = _batch_generator(self.seed, self.epoch, i, self.device)
            if plan.dihedral:
                x = augment_batch(x, gen)
            if plan.spectral:
                x = spectral_augment(x, self._scale(), plan.spectral, gen)
            if plan.mix:
                x = mix_same_class(x, y, plan.mix, gen)
        if plan.unlabelled is None:
            return TrainBatch(x, y, None, None)
        weak, strong = self._unlabelled(i, len(y))
        return TrainBatch(x, y, weak, strong)

    def _unlabelled(self, i: int, labelled: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random pool pixels (with replacement): the teacher's and the student's views."""
        plan, pool = self.plan, self.plan.unlabelled
        assert pool is not None
        gen = _unlabelled_generator(self.seed, self.epoch, i, self.device)
        count = plan.unlabelled_count(labelled)
        picks = torch.randint(len(pool), (count,), generator=gen, device=self.device)
        raw, _ = pool.get_batch(picks)
        weak = augment_batch(raw, gen) if plan.dihedral else raw
        strong = augment_batch(raw, gen) if plan.dihedral else raw
        return weak, spectral_augment(strong, self._scale(), STRONG_SPECTRAL, gen)
