"""Train / validation / test splits of a labelled scene, and how much they leak.

Honest results start here. A *random* split draws training pixels anywhere in the scene, so a
test pixel's 15 x 15 patch usually contains training pixels and the network is partly tested on
what it was trained on. A *disjoint* split assigns whole spatial blocks to training and removes
every test pixel whose patch window could see a training or validation pixel, so its leakage
is exactly 0. Every split reports :meth:`Split.leakage`, the share of test patches that contain
a training or validation pixel, so a reader can tell which kind of number they are looking at.

Conventions: a label map is ``(H, W)`` int with 0 = unlabelled and classes 1..K; pixel
positions are flat indices ``row * W + col`` (int64, sorted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from scipy import ndimage

from mssfe.errors import ConfigError, DataError
from mssfe.utils.atomic import atomic_save
from mssfe.utils.jsonfile import record_from_json, record_to_json
from mssfe.utils.npz import load_npz_arrays, read_metadata
from mssfe.utils.validation import check_patch_size, check_scalar

SplitKind = Literal["random", "disjoint", "file"]

DEFAULT_DISJOINT_RATIO = 0.1
MIN_BLOCKS_PER_CLASS = 8  # a disjoint class's block is halved until it spans this many
SPLIT_FORMAT = "mssfe-split"
SPLIT_VERSION = 1

ACCEPTED_FORMS = (
    "random:RATIO (0 < RATIO < 1, e.g. random:0.1), "
    "random:COUNT (pixels per class, e.g. random:20), "
    "disjoint, disjoint:RATIO, disjoint:RATIO:block=PIXELS, disjoint:block=PIXELS, "
    "file:SPLIT.npz, file:TRAIN_LABELS,TEST_LABELS"
)


# --------------------------------------------------------------------------- protocol text


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split protocol; ``str(spec)`` is canonical and round-trips through parse_split."""

    kind: SplitKind
    ratio: float | None = None
    count: int | None = None
    path: str | None = None
    block: int | None = None

    def __str__(self) -> str:
        if self.kind == "file":
            return f"file:{self.path}"
        if self.kind == "random":
            return f"random:{self.count}" if self.count is not None else f"random:{self.ratio!r}"
        text = "disjoint"
        if self.ratio is not None:
            text += f":{self.ratio!r}"
        if self.block is not None:
            text += f":block={self.block}"
        return text


def _bad_split(text: str, why: str) -> ConfigError:
    return ConfigError(f"split {text!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


def _parse_ratio(text: str, value: str) -> float:
    try:
        ratio = float(value)
    except ValueError:
        raise _bad_split(text, f"{value!r} is not a number") from None
    if not 0.0 < ratio < 1.0:
        raise _bad_split(text, f"ratio must be strictly between 0 and 1, got {value}")
    return ratio


def _parse_random(text: str, rest: list[str]) -> SplitSpec:
    if len(rest) != 1:
        raise _bad_split(text, "random needs exactly one value")
    value = rest[0]
    if re.fullmatch(r"\d+", value):
        count = int(value)
        if count < 1:
            raise _bad_split(text, "the count per class must be at least 1")
        return SplitSpec("random", count=count)
    return SplitSpec("random", ratio=_parse_ratio(text, value))


def _parse_disjoint(text: str, rest: list[str]) -> SplitSpec:
    ratio: float | None = None
    block: int | None = None
    for part in rest:
        if part.startswith("block="):
            if block is not None:
                raise _bad_split(text, "block given twice")
            value = part[len("block=") :]
            if not re.fullmatch(r"\d+", value) or int(value) < 1:
                raise _bad_split(text, f"block must be a positive integer, got {value!r}")
            block = int(value)
        elif ratio is None and block is None:
            ratio = _parse_ratio(text, part)
        else:
            raise _bad_split(text, f"unexpected part {part!r}")
    return SplitSpec("disjoint", ratio=ratio, block=block)


def parse_split(text: str) -> SplitSpec:
    """Parse a protocol such as ``random:0.1``, ``random:20``, ``disjoint:0.1:block=12``.

    ``random:N`` with a plain integer is a count per class; a value with a decimal point is a
    ratio. ``file:`` takes the rest of the text verbatim as the path (it may hold ``:``).
    """
    stripped = text.strip()
    kind, _, tail = stripped.partition(":")
    kind = kind.lower()
    if kind == "file":
        if not tail.strip():
            raise _bad_split(text, "file needs a path")
        return SplitSpec("file", path=tail.strip())
    rest = [part.strip() for part in tail.split(":")] if tail else []
    if kind == "random":
        return _parse_random(text, rest)
    if kind == "disjoint":
        return _parse_disjoint(text, rest)
    raise _bad_split(text, f"unknown kind {kind!r}")


# --------------------------------------------------------------------------- the split


def _within(shape: tuple[int, int], idx: np.ndarray, patch_size: int) -> np.ndarray:
    """``(H * W,)`` bool: pixels within Chebyshev ``patch_size // 2`` of any pixel of ``idx``."""
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    mask[idx] = True
    return ndimage.maximum_filter(mask.reshape(shape), size=patch_size, mode="constant").ravel()


def compute_leakage(
    shape: tuple[int, int], train_idx: np.ndarray, test_idx: np.ndarray, patch_size: int
) -> float:
    """Share of test pixels whose ``patch_size`` x ``patch_size`` window holds a train pixel.

    Dilates the train mask with a square box (Chebyshev radius ``patch_size // 2``) and counts
    the test pixels it covers: O(H * W), whatever the number of pixels. Reflection padding at
    the border only repeats pixels already inside the window, so it adds no leakage.
    Returns 0.0 when there are no test pixels.
    """
    test = np.asarray(test_idx, dtype=np.int64)
    if test.size == 0:
        return 0.0
    return float(_within(shape, np.asarray(train_idx, dtype=np.int64), patch_size)[test].mean())


def _as_index(values: Any, name: str, n_pixels: int, file: str | None = None) -> np.ndarray:
    """Validate a flat index array: 1-D integers in [0, n_pixels), sorted, unique."""
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise DataError(
            "indices must be a 1-D integer array",
            file=file,
            field=name,
            expected="(N,) int64",
            got=f"{arr.shape} {arr.dtype}",
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr[0] < 0 or arr[-1] >= n_pixels or np.any(np.diff(arr) <= 0)):
        raise DataError(
            "indices must be sorted, unique and inside the scene",
            file=file,
            field=name,
            expected=f"strictly increasing values in [0, {n_pixels})",
            got=f"min {arr.min()}, max {arr.max()}, n {arr.size}",
        )
    return arr


@dataclass(frozen=True, eq=False)
class Split:
    """Which labelled pixels train, validate and test a model, for one scene.

    ``train``, ``val`` and ``test`` are sorted int64 flat indices into a ``shape`` scene,
    pairwise disjoint. ``val`` is carved out of the protocol's training pixels, so the
    protocol's labelled budget includes them. ``patch_size`` is the window used by
    :meth:`leakage`.
    """

    shape: tuple[int, int]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    protocol: str
    seed: int
    patch_size: int
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        shape = (int(self.shape[0]), int(self.shape[1]))
        object.__setattr__(self, "shape", shape)
        n_pixels = shape[0] * shape[1]
        for name in ("train", "val", "test"):
            object.__setattr__(self, name, _as_index(getattr(self, name), name, n_pixels))
        object.__setattr__(self, "notes", tuple(self.notes))
        if (
            np.intersect1d(self.train, self.val).size
            or np.intersect1d(np.union1d(self.train, self.val), self.test).size
        ):
            raise DataError("train, val and test must not share pixels", field="split")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Split):
            return NotImplemented
        return (
            self.same_pixels(other)
            and self.protocol == other.protocol
            and self.seed == other.seed
            and self.patch_size == other.patch_size
            and self.notes == other.notes
        )

    __hash__ = None  # type: ignore[assignment]

    def same_pixels(self, other: Split) -> bool:
        """Same scene shape and the same train / val / test pixels: what decides a result
        (notes, protocol text and guard patch size do not)."""
        return self.shape == other.shape and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ("train", "val", "test")
        )

    def with_val_in_train(self) -> Split:
        """The same split with its validation pixels moved to train (val empty), noted.

        Why: a fixed training schedule selects no epoch, so validation pixels would be
        wasted labels. Carving happens inside each class's training pixels, so the result has
        exactly the train pixels of the same protocol made with ``val_fraction=0``.
        """
        if self.val.size == 0:
            return self
        note = f"{self.val.size} validation pixels moved to train (no validation used)"
        return Split(
            self.shape,
            np.union1d(self.train, self.val),
            self.val[:0],
            self.test,
            self.protocol,
            self.seed,
            self.patch_size,
            (*self.notes, note),
        )

    def leakage(self) -> float:
        """Share of test patches that contain a train or val pixel (0.0 = no overlap)."""
        seen = np.union1d(self.train, self.val)
        return compute_leakage(self.shape, seen, self.test, self.patch_size)

    def _flat_labels(self, labels: np.ndarray) -> np.ndarray:
        """The label map, checked and flattened so the split's flat indices address it."""
        flat = _check_labels(labels).ravel()
        if np.shape(labels) != self.shape:
            raise DataError(
                "label map does not match the split",
                field="labels",
                expected=self.shape,
                got=np.shape(labels),
            )
        return flat

    def counts(self, labels: np.ndarray) -> np.ndarray:
        """``(K, 3)`` int64 train / val / test pixel counts per class 1..K (K = labels.max())."""
        flat = self._flat_labels(labels)
        n_classes = int(flat.max(initial=0))
        columns = [
            np.bincount(flat[idx], minlength=n_classes + 1)[1:]
            for idx in (self.train, self.val, self.test)
        ]
        return np.stack(columns, axis=1).astype(np.int64)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (arrays + a JSON metadata string, no pickle), atomically."""
        meta = SplitMetadata(
            shape=self.shape,
            protocol=self.protocol,
            seed=self.seed,
            patch_size=self.patch_size,
            notes=tuple(self.notes),
        ).to_json()

        def write(handle: IO[bytes]) -> None:
            np.savez(
                handle,
                train=self.train,
                val=self.val,
                test=self.test,
                metadata=np.array(json.dumps(meta)),
            )

        atomic_save(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by :meth:`save`; anything malformed raises DataError."""
        arrays = load_npz_arrays(path, "split")
        for key in ("train", "val", "test", "metadata"):
            if key not in arrays:
                raise DataError("missing array", file=path, field=key)
        meta = SplitMetadata.from_json(arrays["metadata"], path)
        n_pixels = meta.shape[0] * meta.shape[1]
        return cls(
            shape=meta.shape,
            train=_as_index(arrays["train"], "train", n_pixels, str(path)),
            val=_as_index(arrays["val"], "val", n_pixels, str(path)),
            test=_as_index(arrays["test"], "test", n_pixels, str(path)),
            protocol=meta.protocol,
            seed=meta.seed,
            patch_size=meta.patch_size,
            notes=meta.notes,
        )


@dataclass(frozen=True, kw_only=True)
class SplitMetadata:
    """The JSON string a split file carries beside its train / val / test index arrays."""

    format: str = SPLIT_FORMAT
    version: int = SPLIT_VERSION
    shape: tuple[int, int]
    protocol: str
    seed: int
    patch_size: int
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self)

    @classmethod
    def from_json(cls, raw: np.ndarray, path: str | Path) -> SplitMetadata:
        """The metadata of ``path``, checked: format, version, then every field's type."""
        meta = read_metadata(raw, path, fmt=SPLIT_FORMAT, version=SPLIT_VERSION, what="split")
        record = record_from_json(cls, meta, file=path, where="metadata")
        if min(record.shape) < 1:
            raise DataError(
                "bad scene shape",
                file=path,
                field="metadata.shape",
                expected="[H, W] positive ints",
                got=list(record.shape),
            )
        return record


# --------------------------------------------------------------------------- making splits


def _check_labels(labels: np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise DataError(
            "label map must be a 2-D integer array",
            field="labels",
            expected="(H, W) int",
            got=f"{arr.shape} {arr.dtype}",
        )
    if arr.size and arr.min() < 0:
        raise DataError(
            "label map has negative values",
            field="labels",
            expected=">= 0 (0 = unlabelled)",
            got=int(arr.min()),
        )
    return arr.astype(np.int64, copy=False)


def _class_pixels(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Sorted flat indices of each class present (ascending class order)."""
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")
    classes, starts = np.unique(flat[order], return_index=True)
    ends = np.append(starts[1:], flat.size)
    return {
        int(c): order[s:e].astype(np.int64)
        for c, s, e in zip(classes, starts, ends, strict=True)
        if c > 0
    }


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _random_train_size(n: int, spec: SplitSpec, cls: int, notes: list[str]) -> int:
    """Training pixels of a class of ``n`` pixels, keeping a test pixel whenever n >= 2."""
    if n == 1:
        notes.append(f"class {cls} has a single pixel: it goes to train, no test pixel")
        return 1
    if spec.count is not None:
        if n <= spec.count:
            notes.append(
                f"class {cls} has {n} pixels <= {spec.count} requested: {n - 1} train, 1 test"
            )
            return n - 1
        return spec.count
    assert spec.ratio is not None
    return min(max(1, _round_half_up(spec.ratio * n)), n - 1)


def _random_split(
    pixels: dict[int, np.ndarray], spec: SplitSpec, rng: np.random.Generator, notes: list[str]
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    train: dict[int, np.ndarray] = {}
    test = []
    for cls, idx in pixels.items():
        n_train = _random_train_size(idx.size, spec, cls, notes)
        perm = rng.permutation(idx.size)
        train[cls] = np.sort(idx[perm[:n_train]])
        test.append(idx[perm[n_train:]])
    return train, _union(test)


def auto_block_size(shape: tuple[int, int], patch_size: int) -> int:
    """Automatic disjoint block: ``max(patch_size, min(H, W) // 8)``, at most ``min(H, W)``.

    At least a patch wide, so a block's interior survives the guard band; about an eighth of
    the shorter side, so a scene has >= 64 blocks and a field-sized class spans several
    (145 x 145 Indian Pines with p=15 -> 18; 610 x 340 Pavia University -> 42).
    """
    return max(1, min(max(patch_size, min(shape) // 8), min(shape)))


def _block_ids(idx: np.ndarray, width: int, block: int) -> np.ndarray:
    rows, cols = np.divmod(idx, width)
    n_block_cols = -(-width // block)
    return (rows // block) * n_block_cols + cols // block


def _disjoint_class(
    idx: np.ndarray, width: int, block: int, ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split one class's pixels by whole blocks; halve the block while it spans too few."""
    ids = _block_ids(idx, width, block)
    while block > 1 and np.unique(ids).size < MIN_BLOCKS_PER_CLASS:
        block = max(1, block // 2)
        ids = _block_ids(idx, width, block)
    blocks, sizes = np.unique(ids, return_counts=True)
    if blocks.size < 2:  # a single pixel
        return idx, idx[:0]
    perm = rng.permutation(blocks.size)
    cumulative = np.cumsum(sizes[perm])[:-1]  # leave at least one block for test
    n_blocks = int(np.argmin(np.abs(cumulative - ratio * idx.size))) + 1
    chosen = np.isin(ids, blocks[perm[:n_blocks]])
    return idx[chosen], idx[~chosen]


def _disjoint_split(
    pixels: dict[int, np.ndarray],
    spec: SplitSpec,
    shape: tuple[int, int],
    patch_size: int,
    rng: np.random.Generator,
    notes: list[str],
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    ratio = spec.ratio if spec.ratio is not None else DEFAULT_DISJOINT_RATIO
    block = spec.block if spec.block is not None else auto_block_size(shape, patch_size)
    notes.append(f"disjoint blocks of {block} x {block} pixels")
    train: dict[int, np.ndarray] = {}
    test = []
    for cls, idx in pixels.items():
        train[cls], cls_test = _disjoint_class(idx, shape[1], block, ratio, rng)
        if cls_test.size == 0:
            notes.append(f"class {cls} has a single pixel: it goes to train, no test pixel")
        test.append(cls_test)
    return train, _union(test)


def _carve_val(
    train: dict[int, np.ndarray], val_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Move round(val_fraction * n) of each class's training pixels (>= 1 when n >= 3) to val."""
    keep, val = [], []
    for idx in train.values():
        n = idx.size
        n_val = _round_half_up(val_fraction * n) if val_fraction > 0 else 0
        if val_fraction > 0 and n >= 3:
            n_val = max(1, n_val)
        n_val = min(n_val, n - 1)  # every class keeps a training pixel
        perm = rng.permutation(n)
        val.append(idx[perm[:n_val]])
        keep.append(idx[perm[n_val:]])
    return _union(keep), _union(val)


def _union(parts: Sequence[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _apply_guard(
    shape: tuple[int, int],
    seen: np.ndarray,
    test: np.ndarray,
    patch_size: int,
    labels: np.ndarray,
    notes: list[str],
) -> np.ndarray:
    """Drop test pixels within Chebyshev distance patch_size // 2 of any train/val pixel."""
    hit = _within(shape, seen, patch_size)[test]
    notes.append(
        f"guard band of {patch_size // 2} pixels removed {int(hit.sum())} of {test.size} "
        "test pixels"
    )
    kept = test[~hit]
    flat = labels.ravel()
    lost = np.setdiff1d(np.unique(flat[test]), np.unique(flat[kept]))
    for cls in lost:
        notes.append(f"class {int(cls)} has no test pixel left after the guard band")
    return kept


def _check_options(patch_size: int, val_fraction: float, seed: int) -> None:
    check_patch_size(patch_size, "patch_size")
    check_scalar(
        val_fraction, "val_fraction", float, min_val=0.0, max_val=1.0, include_boundaries="left"
    )
    check_scalar(seed, "seed", int, min_val=0)


def make_split(
    labels: np.ndarray,
    spec: SplitSpec | str,
    *,
    seed: int,
    patch_size: int = 15,
    val_fraction: float = 0.1,
) -> Split:
    """Split a ``(H, W)`` label map's labelled pixels into train / val / test.

    ``random``: stratified per class. With a ratio, round(ratio * n) training pixels per class
    (at least 1); with a count, ``count`` per class, and a class with n <= count pixels keeps
    one test pixel (n - 1 train) with a note. A one-pixel class goes to train (note).

    ``disjoint``: the scene is cut into square blocks (``block``, or :func:`auto_block_size`).
    For each class independently its blocks are shuffled and whole blocks go to train until
    the class's train share is closest to ``ratio`` (default 0.1; at least one block, and at
    least one block left for test). A class spanning fewer than ``MIN_BLOCKS_PER_CLASS`` (8)
    blocks has its block halved (for that class only) until it does or the block is 1 pixel,
    so a small class still gets both train and test blocks. Then every test pixel within
    ``patch_size // 2`` (Chebyshev) of any train or val pixel of any class is dropped, so
    :meth:`Split.leakage` is exactly 0.

    ``file:SPLIT.npz`` reuses a saved split as is (its own val); ``file:TRAIN,TEST`` reads two
    label rasters (e.g. Houston 2013's train and test ground truth).

    Validation, for random/disjoint/raster files: carved out of each class's training pixels,
    round(val_fraction * n_train) and at least 1 when the class has >= 3 training pixels. The
    protocol's labelled budget includes the validation pixels: ``random:5`` leaves 4 pixels
    per class to train and 1 to validate. ``val_fraction=0`` gives an empty val. Val is drawn
    at random inside the training pixels even for ``disjoint`` (it guides early stopping only).

    Same seed -> same split on every machine (numpy's PCG64 via SeedSequence; classes are
    processed in ascending order). Changing ``val_fraction`` never changes the test set.
    """
    if isinstance(spec, str):
        spec = parse_split(spec)
    _check_options(patch_size, val_fraction, seed)
    label_map = _check_labels(labels)
    shape = (int(label_map.shape[0]), int(label_map.shape[1]))
    split_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    if spec.kind == "file":
        return _split_from_file(label_map, spec, seed, patch_size, val_fraction, val_rng)
    pixels = _class_pixels(label_map)
    if not pixels:
        raise DataError(
            "label map has no labelled pixel",
            field="labels",
            expected="some pixels > 0",
            got="all 0",
        )
    notes: list[str] = []
    if spec.kind == "random":
        train, test = _random_split(pixels, spec, split_rng, notes)
    else:
        train, test = _disjoint_split(pixels, spec, shape, patch_size, split_rng, notes)
    train_idx, val_idx = _carve_val(train, val_fraction, val_rng)
    if spec.kind == "disjoint":
        seen = np.union1d(train_idx, val_idx)
        test = _apply_guard(shape, seen, test, patch_size, label_map, notes)
    return Split(shape, train_idx, val_idx, test, str(spec), int(seed), patch_size, tuple(notes))


def subsample_test(split: Split, labels: np.ndarray, max_test: int, *, seed: int) -> Split:
    """Keep a stratified random ``max_test`` of the test pixels (train and val unchanged).

    Why: a benchmark on a 2-core CPU cannot run slow networks over 50,000 test pixels per cell.
    Classes keep their share of the test set (largest-remainder rounding, >= 1 pixel per class
    present), so OA and kappa stay unbiased estimates of the full-test-set values; small
    classes' accuracies get noisier. The same (split, seed) gives the same subset, so every
    model of a benchmark is tested on the same pixels. A note records the sizes.
    """
    if max_test < 1:
        raise ConfigError(f"max_test: expected a number of test pixels >= 1, got {max_test}")
    if split.test.size <= max_test:
        return split
    flat = split._flat_labels(labels)
    classes, inverse, counts = np.unique(flat[split.test], return_inverse=True, return_counts=True)
    quota = counts * max_test / split.test.size
    keep = np.maximum(np.floor(quota).astype(np.int64), 1)
    spare = max_test - int(keep.sum())
    if spare > 0:  # largest remainders first; ties by class order
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        keep[order[:spare]] += 1
    keep = np.minimum(keep, counts)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    chosen = [
        rng.choice(split.test[inverse == i], size=int(k), replace=False) for i, k in enumerate(keep)
    ]
    test = np.sort(np.concatenate(chosen)).astype(np.int64)
    note = (
        f"test subsampled: {test.size} of {split.test.size} pixels "
        f"(stratified by class, seed {seed}; {classes.size} classes)"
    )
    return Split(
        split.shape,
        split.train,
        split.val,
        test,
        split.protocol,
        split.seed,
        split.patch_size,
        (*split.notes, note),
    )


# --------------------------------------------------------------------------- validation folds


def _fold_block(split: Split) -> int | None:
    """The block a disjoint split's folds are cut in (None: a split of single pixels)."""
    try:
        spec = parse_split(split.protocol)
    except ConfigError:
        return None
    if spec.kind != "disjoint":
        return None
    return spec.block if spec.block is not None else auto_block_size(split.shape, split.patch_size)


def _fold_groups(idx: np.ndarray, width: int, block: int | None, k: int) -> np.ndarray:
    """What moves to a fold together: a pixel, or a spatial block, halved (as the disjoint
    split does) until the class's pixels span at least ``k`` blocks."""
    if block is None:
        return idx
    ids = _block_ids(idx, width, block)
    while block > 1 and np.unique(ids).size < k:
        block = max(1, block // 2)
        ids = _block_ids(idx, width, block)
    return ids


def validation_folds(
    split: Split,
    labels: np.ndarray,
    k: int,
    *,
    seed: int,
    val_fraction: float = 0.1,
    guard: bool = True,
) -> list[Split]:
    """``k`` splits that hold out, in turn, one fold of ``split``'s labelled training pixels.

    Why: a training recipe must be chosen without its test pixels. Fold ``i``'s test set is
    the ``i``-th fold of ``split.train`` + ``split.val``, its training pixels the other folds
    (with validation pixels carved as :func:`make_split` does); ``split.test`` is never used
    and its labels are never read. Folds are stratified by class; a disjoint split's folds are
    made of whole blocks and, with ``guard``, the same guard band, so they leak no more than
    it does (a disjoint split's training blocks are often too small and too close for a
    guarded fold to keep any pixel: ``guard=False`` keeps the blocks, not the band).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"folds: expected an integer >= 2, got {k!r}")
    flat = split._flat_labels(labels)
    labelled = np.union1d(split.train, split.val)
    block = _fold_block(split)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3]))
    fold_of = np.empty(labelled.size, dtype=np.int64)
    for cls in np.unique(flat[labelled]):
        members = flat[labelled] == cls
        groups = _fold_groups(labelled[members], split.shape[1], block, k)
        ids = np.unique(groups)
        dealt = np.empty(ids.size, dtype=np.int64)
        dealt[rng.permutation(ids.size)] = np.arange(ids.size) % k
        fold_of[members] = dealt[np.searchsorted(ids, groups)]
    guarded = guard and block is not None
    folds = []
    for i in range(k):
        held, kept = labelled[fold_of == i], labelled[fold_of != i]
        by_class = {int(c): kept[flat[kept] == c] for c in np.unique(flat[kept])}
        train, val = _carve_val(by_class, val_fraction, rng)
        notes = [f"validation fold {i + 1} of {k} of the training pixels"]
        if guarded:
            seen = np.union1d(train, val)
            held = _apply_guard(split.shape, seen, held, split.patch_size, flat, notes)
        protocol = f"{split.protocol} fold {i + 1}/{k}"
        folds.append(
            Split(
                split.shape, train, val, held, protocol, split.seed, split.patch_size, tuple(notes)
            )
        )
    return folds


# --------------------------------------------------------------------------- unlabelled pools

UnlabelledPool = Literal["inductive", "transductive"]


def unlabelled_pool(
    split: Split, labels: np.ndarray, pool: UnlabelledPool, patch_size: int
) -> np.ndarray:
    """Flat indices (sorted int64) of the pixels semi-supervised training may use unlabelled.

    ``transductive``: every pixel that is neither a training nor a validation pixel (test
    pixels included; their labels are never read). ``inductive``: only pixels that carry no
    ground-truth label; when the split lets no test patch see a training pixel (leakage 0, as
    every ``disjoint`` split), the pixels whose ``patch_size`` window holds a test pixel are
    dropped too, so no training patch sees a test pixel either. Only ``labels == 0`` is read,
    never a test pixel's class.
    """
    n_pixels = split.shape[0] * split.shape[1]
    if pool == "transductive":
        return np.setdiff1d(np.arange(n_pixels), np.union1d(split.train, split.val)).astype(
            np.int64
        )
    if pool != "inductive":
        raise ConfigError(f"recipe.ssl: expected inductive or transductive, got {pool!r}")
    candidate = split._flat_labels(labels) == 0
    if split.test.size and split.leakage() == 0.0:
        candidate &= ~_within(split.shape, split.test, patch_size)
    return np.flatnonzero(candidate).astype(np.int64)


# --------------------------------------------------------------------------- split files


def _split_from_file(
    labels: np.ndarray,
    spec: SplitSpec,
    seed: int,
    patch_size: int,
    val_fraction: float,
    val_rng: np.random.Generator,
) -> Split:
    assert spec.path is not None
    parts = [p.strip() for p in spec.path.split(",")]
    if len(parts) == 1 and parts[0].lower().endswith(".npz"):
        return _split_from_npz(labels, parts[0], patch_size)
    if len(parts) != 2 or not all(parts):
        raise _bad_split(str(spec), "file needs SPLIT.npz or TRAIN_LABELS,TEST_LABELS")
    from mssfe.data.readers import load_labels  # lazy: readers pull in heavy format libraries

    train_map = _raster_matching(load_labels(parts[0]), labels, parts[0])
    test_map = _raster_matching(load_labels(parts[1]), labels, parts[1])
    train_all = np.flatnonzero(train_map.ravel() > 0).astype(np.int64)
    test = np.flatnonzero(test_map.ravel() > 0).astype(np.int64)
    if train_all.size == 0:
        raise DataError(
            "train raster labels no pixel", file=parts[0], expected="some pixels > 0", got="all 0"
        )
    overlap = np.intersect1d(train_all, test)
    if overlap.size:
        raise DataError(
            "train and test rasters label the same pixels",
            file=spec.path,
            expected="no overlap",
            got=f"{overlap.size} shared pixels",
        )
    by_class = _class_pixels(np.where(train_map > 0, labels, 0))
    train, val = _carve_val(by_class, val_fraction, val_rng)
    return Split(
        labels.shape,
        train,
        val,
        test,
        str(spec),
        int(seed),
        patch_size,
        (f"read from {spec.path}",),
    )


def _raster_matching(raster: np.ndarray, labels: np.ndarray, path: str) -> np.ndarray:
    """Check a train/test raster against the scene's labels: same shape, same classes."""
    arr = np.asarray(raster)
    if arr.shape != labels.shape:
        raise DataError(
            "label raster does not match the scene", file=path, expected=labels.shape, got=arr.shape
        )
    arr = arr.astype(np.int64)
    marked = arr > 0
    mismatch = int(np.count_nonzero(arr[marked] != labels[marked]))
    if mismatch:
        raise DataError(
            "label raster disagrees with the scene's labels",
            file=path,
            expected="the same class at every labelled pixel",
            got=f"{mismatch} pixels differ",
        )
    return arr


def _split_from_npz(labels: np.ndarray, path: str, patch_size: int) -> Split:
    saved = Split.load(path)
    if saved.shape != labels.shape:
        raise DataError(
            "split does not match the scene",
            file=path,
            field="shape",
            expected=labels.shape,
            got=saved.shape,
        )
    flat = labels.ravel()
    for name in ("train", "val", "test"):
        unlabelled = int(np.count_nonzero(flat[getattr(saved, name)] == 0))
        if unlabelled:
            raise DataError(
                "split uses unlabelled pixels",
                file=path,
                field=name,
                expected="only labelled pixels",
                got=f"{unlabelled} unlabelled",
            )
    return Split(
        saved.shape,
        saved.train,
        saved.val,
        saved.test,
        saved.protocol,
        saved.seed,
        patch_size,
        (*saved.notes, f"read from {path}"),
    )


# --------------------------------------------------------------------------- reporting


def format_counts(split: Split, labels: np.ndarray, class_names: Sequence[str] | None) -> str:
    """A per-class train / val / test table, then protocol, seed, leakage and notes."""
    counts = split.counts(labels)
    names = list(class_names) if class_names is not None else []
    names += [f"class {k}" for k in range(len(names) + 1, counts.shape[0] + 1)]
    width = max([len("class"), *(len(n) for n in names[: counts.shape[0]])])
    lines = [f"{'#':>3}  {'class':<{width}}  {'train':>7}  {'val':>7}  {'test':>7}"]
    for k, (n_train, n_val, n_test) in enumerate(counts, start=1):
        lines.append(f"{k:>3}  {names[k - 1]:<{width}}  {n_train:>7}  {n_val:>7}  {n_test:>7}")
    total = counts.sum(axis=0)
    lines.append(f"{'':>3}  {'total':<{width}}  {total[0]:>7}  {total[1]:>7}  {total[2]:>7}")
    lines.append(f"protocol {split.protocol}, seed {split.seed}, patch {split.patch_size}")
    lines.append(f"leakage {split.leakage():.1%} of test patches contain a train/val pixel")
    lines.extend(f"note: {note}" for note in split.notes)
    return "\n".join(lines)
