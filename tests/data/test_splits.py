"""Splits on the real Indian Pines and Pavia University label maps, plus unit cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mssfe.data.embedded import embedded_path
from mssfe.data.scenes import load_scene
from mssfe.data.splits import (
    Split,
    SplitSpec,
    compute_leakage,
    format_counts,
    make_split,
    parse_split,
    subsample_test,
    unlabelled_pool,
    validation_folds,
)
from mssfe.errors import ConfigError, DataError


def _gt(filename: str, var: str) -> np.ndarray:
    path = embedded_path(filename)
    assert path is not None
    return np.ascontiguousarray(scipy.io.loadmat(path)[var], dtype=np.int64)


INDIAN_PINES = _gt("Indian_pines_gt.mat", "indian_pines_gt")
PAVIA_U = _gt("PaviaU_gt.mat", "paviaU_gt")
SCENES = {"indian_pines": INDIAN_PINES, "pavia_u": PAVIA_U}

HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)
patch_sizes = st.sampled_from([3, 5, 7, 9, 11, 13, 15])
protocols = st.one_of(
    st.floats(0.01, 0.5).map(lambda r: f"random:{round(r, 3)}"),
    st.integers(1, 60).map(lambda n: f"random:{n}"),
    st.floats(0.05, 0.5).map(lambda r: f"disjoint:{round(r, 3)}"),
    st.just("disjoint"),
)


def brute_force_leakage(
    shape: tuple[int, int], seen: np.ndarray, test: np.ndarray, p: int
) -> float:
    """Look at every test pixel's window directly."""
    mask = np.zeros(shape, dtype=bool)
    mask.ravel()[seen] = True
    r = p // 2
    hits = 0
    for pixel in test:
        row, col = divmod(int(pixel), shape[1])
        window = mask[max(0, row - r) : row + r + 1, max(0, col - r) : col + r + 1]
        hits += bool(window.any())
    return hits / len(test) if len(test) else 0.0


def check_invariants(split: Split, labels: np.ndarray) -> None:
    train, val, test = split.train, split.val, split.test
    for part in (train, val, test):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)
        assert np.all(labels.ravel()[part] > 0)
    assert not np.intersect1d(train, val).size
    assert not np.intersect1d(train, test).size
    assert not np.intersect1d(val, test).size
    present = np.unique(labels[labels > 0])
    assert set(np.unique(labels.ravel()[train])) == set(present)


# --------------------------------------------------------------------------- properties


@HYP
@given(scene=st.sampled_from(sorted(SCENES)), protocol=protocols, seed=seeds, p=patch_sizes)
def test_split_invariants_on_real_scenes(scene: str, protocol: str, seed: int, p: int) -> None:
    labels = SCENES[scene]
    split = make_split(labels, protocol, seed=seed, patch_size=p)
    check_invariants(split, labels)
    assert make_split(labels, protocol, seed=seed, patch_size=p) == split
    other = make_split(labels, protocol, seed=seed + 1, patch_size=p)
    assert not np.array_equal(other.train, split.train)
    if protocol.startswith("disjoint"):
        assert split.leakage() == 0.0


@HYP
@given(protocol=protocols, seed=seeds, p=patch_sizes, row=st.integers(0, 100))
def test_leakage_matches_brute_force_on_a_crop(protocol: str, seed: int, p: int, row: int) -> None:
    labels = INDIAN_PINES[row : row + 45, 20:80]
    split = make_split(labels, protocol, seed=seed, patch_size=p)
    seen = np.union1d(split.train, split.val)
    assert split.leakage() == pytest.approx(brute_force_leakage(labels.shape, seen, split.test, p))
    if protocol.startswith("disjoint"):
        assert split.leakage() == 0.0


@HYP
@given(protocol=protocols, seed=seeds, p=patch_sizes)
def test_save_load_round_trip(
    tmp_path_factory: pytest.TempPathFactory, protocol: str, seed: int, p: int
) -> None:
    path = tmp_path_factory.mktemp("split") / "split.npz"
    split = make_split(PAVIA_U, protocol, seed=seed, patch_size=p)
    split.save(path)
    assert Split.load(path) == split


# --------------------------------------------------------------------------- protocol text


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("random:0.1", SplitSpec("random", ratio=0.1)),
        ("random:20", SplitSpec("random", count=20)),
        ("disjoint", SplitSpec("disjoint")),
        ("disjoint:0.1", SplitSpec("disjoint", ratio=0.1)),
        ("disjoint:0.1:block=12", SplitSpec("disjoint", ratio=0.1, block=12)),
        ("disjoint:block=12", SplitSpec("disjoint", block=12)),
        ("file:C:/splits/a.npz", SplitSpec("file", path="C:/splits/a.npz")),
        ("file:tr.tif,te.tif", SplitSpec("file", path="tr.tif,te.tif")),
    ],
)
def test_parse_split_round_trips(text: str, spec: SplitSpec) -> None:
    assert parse_split(text) == spec
    assert parse_split(str(spec)) == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "random",
        "random:0",
        "random:1.5",
        "random:x",
        "disjoint:2",
        "grid:3",
        "file:",
        "disjoint:0.1:block=0",
        "random:0.1:0.2",
    ],
)
def test_parse_split_rejects_bad_text(text: str) -> None:
    with pytest.raises(ConfigError, match="accepted forms"):
        parse_split(text)


# --------------------------------------------------------------------------- random protocol


def test_random_count_and_validation_budget() -> None:
    split = make_split(INDIAN_PINES, "random:5", seed=0)
    counts = split.counts(INDIAN_PINES)
    assert counts.shape == (16, 3)
    np.testing.assert_array_equal(counts[:, 0], 4)  # 5 per class = 4 train + 1 val
    np.testing.assert_array_equal(counts[:, 1], 1)
    assert counts[:, 2].sum() == np.count_nonzero(INDIAN_PINES) - 80


def test_random_ratio_per_class() -> None:
    split = make_split(PAVIA_U, "random:0.1", seed=3, val_fraction=0.0)
    counts = split.counts(PAVIA_U)
    sizes = counts.sum(axis=1)
    np.testing.assert_array_equal(counts[:, 0], np.floor(0.1 * sizes + 0.5))
    assert split.val.size == 0
    assert split.leakage() > 0.9  # random splits leak: that is why it is reported


def test_small_classes_keep_a_test_pixel_and_get_notes() -> None:
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[0, :6] = 1  # 6 pixels
    labels[5, :3] = 2  # 3 pixels
    labels[9, 9] = 3  # 1 pixel
    split = make_split(labels, "random:20", seed=0, patch_size=3)
    counts = split.counts(labels)
    np.testing.assert_array_equal(counts[:, 0] + counts[:, 1], [5, 2, 1])
    np.testing.assert_array_equal(counts[:, 2], [1, 1, 0])
    assert any("class 1 has 6 pixels" in n for n in split.notes)
    assert any("class 3 has a single pixel" in n for n in split.notes)


def test_val_fraction_does_not_change_test() -> None:
    a = make_split(INDIAN_PINES, "random:0.2", seed=5, val_fraction=0.0)
    b = make_split(INDIAN_PINES, "random:0.2", seed=5, val_fraction=0.3)
    np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.train, np.union1d(b.train, b.val))


# --------------------------------------------------------------------------- disjoint protocol


def test_disjoint_has_zero_leakage_and_notes_the_guard() -> None:
    split = make_split(PAVIA_U, "disjoint:0.1", seed=0, patch_size=15)
    assert split.leakage() == 0.0
    assert any("guard band of 7 pixels removed" in n for n in split.notes)
    random_split = make_split(PAVIA_U, "random:0.1", seed=0, patch_size=15)
    assert random_split.leakage() > 0.5


def test_disjoint_class_in_one_block_still_gets_train_and_test() -> None:
    labels = np.zeros((40, 40), dtype=np.int64)
    labels[:20, :20] = 1
    labels[30:, 30:] = 2  # a 10 x 10 class inside one 40-pixel block
    split = make_split(labels, "disjoint:0.3:block=40", seed=1, patch_size=1)
    counts = split.counts(labels)
    assert np.all(counts[:, 0] > 0)
    assert np.all(counts[:, 2] > 0)
    assert split.leakage() == 0.0


def test_compute_leakage_edge_cases() -> None:
    assert compute_leakage((5, 5), np.array([0]), np.array([], dtype=np.int64), 3) == 0.0
    assert compute_leakage((5, 5), np.array([0]), np.array([6, 12]), 3) == 0.5
    assert compute_leakage((5, 5), np.array([0]), np.array([6, 12]), 5) == 1.0
    assert compute_leakage((5, 5), np.array([0]), np.array([6]), 1) == 0.0


# --------------------------------------------------------------------------- files, reports


def test_file_split_from_npz(tmp_path: Path) -> None:
    split = make_split(INDIAN_PINES, "random:10", seed=2, patch_size=9)
    split.save(tmp_path / "s.npz")
    loaded = make_split(INDIAN_PINES, f"file:{tmp_path / 's.npz'}", seed=0, patch_size=15)
    np.testing.assert_array_equal(loaded.train, split.train)
    np.testing.assert_array_equal(loaded.val, split.val)
    np.testing.assert_array_equal(loaded.test, split.test)
    assert loaded.patch_size == 15
    with pytest.raises(DataError, match="does not match the scene"):
        make_split(PAVIA_U, f"file:{tmp_path / 's.npz'}", seed=0)


def test_file_split_from_train_and_test_rasters(tmp_path: Path) -> None:
    reference = make_split(INDIAN_PINES, "disjoint:0.2", seed=4, val_fraction=0.0)
    train_map = np.zeros_like(INDIAN_PINES)
    test_map = np.zeros_like(INDIAN_PINES)
    train_map.ravel()[reference.train] = INDIAN_PINES.ravel()[reference.train]
    test_map.ravel()[reference.test] = INDIAN_PINES.ravel()[reference.test]
    np.save(tmp_path / "train.npy", train_map)
    np.save(tmp_path / "test.npy", test_map)
    spec = f"file:{tmp_path / 'train.npy'},{tmp_path / 'test.npy'}"
    split = make_split(INDIAN_PINES, spec, seed=0, val_fraction=0.1)
    np.testing.assert_array_equal(np.union1d(split.train, split.val), reference.train)
    np.testing.assert_array_equal(split.test, reference.test)
    assert split.val.size > 0
    np.save(tmp_path / "bad.npy", np.where(train_map > 0, train_map % 16 + 1, 0))
    with pytest.raises(DataError, match="disagrees"):
        make_split(INDIAN_PINES, f"file:{tmp_path / 'bad.npy'},{tmp_path / 'test.npy'}", seed=0)


def test_load_rejects_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        Split.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", train=np.arange(3))
    with pytest.raises(DataError, match="missing array"):
        Split.load(tmp_path / "partial.npz")
    split = make_split(INDIAN_PINES, "random:3", seed=0)
    np.savez(
        tmp_path / "wrong.npz",
        train=split.train,
        val=split.val,
        test=split.test,
        metadata=np.array('{"format": "other"}'),
    )
    with pytest.raises(DataError, match="not an mssfe split"):
        Split.load(tmp_path / "wrong.npz")
    with pytest.raises(DataError, match="not found"):
        Split.load(tmp_path / "missing.npz")


def test_format_counts_lists_every_class() -> None:
    split = make_split(INDIAN_PINES, "disjoint", seed=0)
    names = [f"name{k}" for k in range(1, 17)]
    table = format_counts(split, INDIAN_PINES, names)
    assert "name16" in table
    assert "leakage 0.0%" in table
    assert "protocol disjoint, seed 0" in table


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="patch_size"):
        make_split(INDIAN_PINES, "random:0.1", seed=0, patch_size=4)
    with pytest.raises(ConfigError, match="val_fraction"):
        make_split(INDIAN_PINES, "random:0.1", seed=0, val_fraction=1.0)
    with pytest.raises(DataError, match="2-D"):
        make_split(np.zeros((3, 3, 3), dtype=int), "random:0.1", seed=0)


def test_a_npy_file_given_as_a_split_is_a_clear_error(tmp_path) -> None:
    """np.load returns a plain array for .npy (no archive): still a DataError, not a crash."""
    path = tmp_path / "split.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.arange(5))
    with pytest.raises(DataError, match="not a readable split file"):
        Split.load(path)


def test_subsample_test_keeps_class_shares_and_the_training_pixels() -> None:
    full = make_split(PAVIA_U, "random:0.01", seed=3, patch_size=15)
    sub = subsample_test(full, PAVIA_U, 3000, seed=3)
    assert sub.test.size == 3000 and np.isin(sub.test, full.test).all()
    np.testing.assert_array_equal(sub.train, full.train)
    np.testing.assert_array_equal(sub.val, full.val)
    have = sub.counts(PAVIA_U)[:, 2]
    share = full.counts(PAVIA_U)[:, 2] * 3000 / full.test.size
    assert np.all(np.abs(have - share) <= 1) and np.all(have >= 1)
    assert sub.notes[-1].startswith(f"test subsampled: 3000 of {full.test.size} pixels")
    assert subsample_test(full, PAVIA_U, 3000, seed=3) == sub  # same seed, same pixels
    assert not np.array_equal(subsample_test(full, PAVIA_U, 3000, seed=4).test, sub.test)
    assert subsample_test(full, PAVIA_U, full.test.size, seed=3) is full
    with pytest.raises(ConfigError, match="max_test"):
        subsample_test(full, PAVIA_U, 0, seed=3)
    with pytest.raises(DataError, match="does not match the split"):
        subsample_test(full, PAVIA_U[:-1], 3000, seed=3)  # a label map of another scene


def test_subsample_test_keeps_a_pixel_of_every_class() -> None:
    full = make_split(INDIAN_PINES, "random:0.1", seed=0, patch_size=15)
    sub = subsample_test(full, INDIAN_PINES, 40, seed=0)  # 16 classes, some with < 0.5% share
    assert sub.test.size == 40
    assert np.all(sub.counts(INDIAN_PINES)[:, 2] >= 1)


# --------------------------------------------------------------------------- recipes' helpers

SALINAS_A = load_scene("SalinasA", labels_only=True).labels


def test_validation_pixels_moved_to_train_equal_a_split_without_validation() -> None:
    with_val = make_split(SALINAS_A, "random:5", seed=3, val_fraction=0.1)
    merged = with_val.with_val_in_train()
    plain = make_split(SALINAS_A, "random:5", seed=3, val_fraction=0.0)
    assert merged.same_pixels(plain)
    assert merged.val.size == 0 and merged.train.size == 30  # all 5 per class train
    assert any("moved to train" in note for note in merged.notes)
    assert plain.with_val_in_train() is plain


def test_transductive_pool_is_every_pixel_but_the_training_pixels() -> None:
    split = make_split(SALINAS_A, "random:5", seed=0)
    pool = unlabelled_pool(split, SALINAS_A, "transductive", 15)
    assert pool.size == SALINAS_A.size - split.train.size - split.val.size
    assert np.isin(split.test, pool).all()  # test pixels' spectra, never their labels
    assert not np.isin(np.union1d(split.train, split.val), pool).any()


def test_inductive_pool_keeps_unlabelled_pixels_out_of_reach_of_disjoint_test_pixels() -> None:
    split = make_split(SALINAS_A, "disjoint", seed=0, patch_size=15)
    pool = unlabelled_pool(split, SALINAS_A, "inductive", 15)
    assert pool.size > 0
    assert np.all(SALINAS_A.ravel()[pool] == 0)
    assert compute_leakage(SALINAS_A.shape, pool, split.test, 15) == 0.0
    everywhere = np.flatnonzero(SALINAS_A.ravel() == 0)
    assert pool.size < everywhere.size  # the guard band took some
    random = make_split(SALINAS_A, "random:5", seed=0)  # leaks anyway: no guard band
    assert np.array_equal(unlabelled_pool(random, SALINAS_A, "inductive", 15), everywhere)


def test_pools_do_not_depend_on_the_classes_of_test_pixels() -> None:
    split = make_split(SALINAS_A, "disjoint", seed=1, patch_size=15)
    scrambled = SALINAS_A.copy()
    scrambled.flat[split.test] = np.random.default_rng(0).integers(1, 7, split.test.size)
    for pool in ("inductive", "transductive"):
        a = unlabelled_pool(split, SALINAS_A, pool, 15)
        assert np.array_equal(a, unlabelled_pool(split, scrambled, pool, 15))


@pytest.mark.parametrize("protocol", ["random:5", "disjoint"])
def test_validation_folds_hold_out_training_pixels_only(protocol: str) -> None:
    split = make_split(SALINAS_A, protocol, seed=2, patch_size=15)
    labelled = np.union1d(split.train, split.val)
    folds = validation_folds(split, SALINAS_A, 5, seed=2)
    held = [fold.test for fold in folds]
    for fold in folds:
        used = np.concatenate([fold.train, fold.val, fold.test])
        assert np.isin(used, labelled).all()  # no test pixel of the split, ever
        assert not np.isin(split.test, used).any()
        assert len(np.unique(SALINAS_A.ravel()[fold.train])) == 6
    if protocol == "random:5":  # every training pixel is held out exactly once
        assert np.array_equal(np.sort(np.concatenate(held)), labelled)
        assert all(np.bincount(SALINAS_A.ravel()[h])[1:].tolist() == [1] * 6 for h in held)
    else:
        assert all(fold.leakage() == 0.0 for fold in folds)


def test_validation_folds_need_two_folds() -> None:
    split = make_split(SALINAS_A, "random:5", seed=0)
    with pytest.raises(ConfigError, match="folds"):
        validation_folds(split, SALINAS_A, 1, seed=0)
