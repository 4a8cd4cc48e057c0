"""Fuzzing the readers and the split parser: every outcome is a result or the project's error.

(a) random small cubes (degenerate shapes, several dtypes, NaN/inf) in every format;
(b) random corruptions (truncation, flipped bytes, overwritten header, appended garbage) of
valid files of every format; (c) random split protocol texts. Anything other than a valid
return or an MssfeError (ConfigError for split texts) fails, and so does one example taking
longer than ``HANG_SECONDS`` (a hang). Examples per property: ``FUZZ_EXAMPLES`` (env
``MSSFE_FUZZ_EXAMPLES``, default 150); the counts actually run are printed at the end of the
session (see conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mssfe.data.readers import Cube, load_cube, load_labels
from mssfe.data.splits import SplitSpec, parse_split
from mssfe.errors import ConfigError, MssfeError

FUZZ_EXAMPLES = int(os.environ.get("MSSFE_FUZZ_EXAMPLES", "150"))
HANG_SECONDS = 10
FORMATS = ("npy", "npz", "mat5", "mat73", "h5", "tif", "envi")
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples in every CI run: a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail an example that runs longer than ``seconds`` (SIGALRM; main thread, POSIX)."""

    def on_alarm(signum, frame):
        raise Hang(f"example took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def write_array(path_stem: Path, fmt: str, array: np.ndarray) -> Path:
    """Write ``array`` as ``fmt``; return the path to pass to the readers."""
    if fmt == "npy":
        path = path_stem.with_suffix(".npy")
        np.save(path, array)
    elif fmt == "npz":
        path = path_stem.with_suffix(".npz")
        np.savez(path, data=array)
    elif fmt == "mat5":
        path = path_stem.with_suffix(".mat")
        scipy.io.savemat(path, {"data": array})
    elif fmt in ("mat73", "h5"):
        path = path_stem.with_suffix(".mat" if fmt == "mat73" else ".h5")
        with h5py.File(path, "w", userblock_size=512 if fmt == "mat73" else 0) as handle:
            handle.create_dataset("data", data=array.T if fmt == "mat73" else array)
    elif fmt == "tif":
        import rasterio

        path = path_stem.with_suffix(".tif")
        data = array if array.ndim == 3 else array.reshape(*array.shape[:2], -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path, "w", driver="GTiff", height=data.shape[0],
                               width=data.shape[1], count=data.shape[2],
                               dtype=data.dtype.name) as dst:  # fmt: skip
                dst.write(np.moveaxis(data, -1, 0))
    elif fmt == "envi":
        import spectral.io.envi as envi

        path = path_stem.with_suffix(".hdr")
        data = array if array.ndim == 3 else array.reshape(*array.shape[:2], -1)
        envi.save_image(str(path), data, ext=".img", interleave="bsq", force=True)
    else:
        raise AssertionError(fmt)
    return path


def check_outcome(call: Callable[[], object], valid: Callable[[object], None]) -> str:
    """Run ``call`` under the hang guard: a valid result or an MssfeError, nothing else."""
    with time_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call()
        except MssfeError as exc:
            assert str(exc), "an MssfeError must carry a message"
            return "error"
    valid(result)
    return "ok"


def valid_cube(result: object) -> None:
    assert isinstance(result, Cube)
    h, w, b = result.data.shape
    assert h >= 1 and w >= 1 and b >= 2
    assert result.data.dtype.kind in "iuf"
    if result.data.dtype.kind == "f":
        assert np.isfinite(result.data).all()


def valid_labels(result: object) -> None:
    assert isinstance(result, np.ndarray)
    assert result.ndim == 2 and result.dtype == np.int64
    assert result.size == 0 or result.min() >= 0


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mssfe-fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fresh(workdir: Path) -> Path:
    folder = Path(tempfile.mkdtemp(dir=workdir))
    return folder / "case"


# --------------------------------------------------------------------------- (a) random cubes

DTYPES = (np.uint8, np.int16, np.int32, np.float32, np.float64)


@st.composite
def random_arrays(draw: st.DrawFn) -> np.ndarray:
    ndim = draw(st.one_of(st.just(3), st.integers(1, 4)))  # mostly cubes
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    array = (rng.normal(size=shape) * 50).astype(dtype)
    if array.dtype.kind == "f" and array.size and draw(st.booleans()):
        n_bad = draw(st.integers(1, array.size))
        flat = array.reshape(-1)
        flat[rng.choice(array.size, size=n_bad, replace=False)] = rng.choice(
            [np.nan, np.inf, -np.inf], size=n_bad
        )
    return array


@FUZZ
@given(
    array=random_arrays(), fmt=st.sampled_from(FORMATS), policy=st.sampled_from(["raise", "median"])
)
def test_random_cubes_load_or_raise_mssfe_error(workdir, fuzz_counts, array, fmt, policy) -> None:
    try:
        path = write_array(_fresh(workdir), fmt, array)
    except Exception:  # the writer library itself refuses this array: nothing to read
        fuzz_counts["random cube (writer refused, skipped)"] += 1
        return
    outcome = check_outcome(lambda: load_cube(path, nan_policy=policy), valid_cube)
    fuzz_counts[f"random cube ({outcome})"] += 1


# --------------------------------------------------------------------------- (b) corruptions


@pytest.fixture(scope="module")
def valid_files(workdir: Path) -> dict[str, Path]:
    """One valid cube file and one valid label file per format."""
    rng = np.random.default_rng(0)
    cube = (rng.normal(size=(6, 5, 4)) * 100).astype(np.int16)
    labels = rng.integers(0, 4, size=(6, 5)).astype(np.uint8)
    files = {}
    for fmt in FORMATS:
        files[f"cube-{fmt}"] = write_array(workdir / f"valid-cube-{fmt}", fmt, cube)
        if fmt != "envi":
            files[f"labels-{fmt}"] = write_array(workdir / f"valid-labels-{fmt}", fmt, labels)
    for path in files.values():  # the originals load
        assert path.exists()
    return files


def _corrupt(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    size = len(data)
    if how == "truncate":
        return data[: int(rng.integers(0, size))]
    if how == "flip":
        buf = bytearray(data)
        for pos in rng.integers(0, size, size=int(rng.integers(1, 16))):
            buf[pos] ^= int(rng.integers(1, 256))
        return bytes(buf)
    if how == "header":
        n = int(rng.integers(1, min(size, 600) + 1))
        return rng.bytes(n) + data[n:]
    if how == "append":
        return data + rng.bytes(int(rng.integers(1, 2048)))
    raise AssertionError(how)


@FUZZ
@given(
    which=st.sampled_from([*(f"cube-{f}" for f in FORMATS), *(f"labels-{f}" for f in FORMATS if f != "envi")]),
    how=st.sampled_from(["truncate", "flip", "header", "append"]),
    envi_part=st.sampled_from(["header", "data"]),
    seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_corrupted_files_load_or_raise_mssfe_error(
    valid_files, workdir, fuzz_counts, which, how, envi_part, seed
) -> None:
    rng = np.random.default_rng(seed)
    source = valid_files[which]
    folder = _fresh(workdir).parent
    target = folder / source.name
    shutil.copy(source, target)
    if source.suffix == ".hdr":  # ENVI: the header and its data file
        shutil.copy(source.with_suffix(".img"), target.with_suffix(".img"))
        victim = target if envi_part == "header" else target.with_suffix(".img")
    else:
        victim = target
    victim.write_bytes(_corrupt(victim.read_bytes(), how, rng))
    if which.startswith("cube"):
        outcome = check_outcome(lambda: load_cube(target), valid_cube)
    else:
        outcome = check_outcome(lambda: load_labels(target), valid_labels)
    fuzz_counts[f"corrupted file ({outcome})"] += 1


# --------------------------------------------------------------------------- (c) split texts

SPLIT_ALPHABET = st.sampled_from(list("randomjitfle:.,=-+eE0123456789 /\\\tbk_x\x00é"))
SPLIT_WORDS = st.sampled_from(
    ["random", "disjoint", "file", ":", "block=", "0.1", "20", "-1", "1e-3", "nan", "inf", "0", "1",
     "1.0", ",", " ", "x.npz", "..", "/", "999999999999999999999"]
)  # fmt: skip


@FUZZ
@given(
    text=st.one_of(
        st.text(SPLIT_ALPHABET, max_size=30),
        st.lists(SPLIT_WORDS, max_size=8).map("".join),
        st.builds(
            "{}:{}".format,
            st.sampled_from(["random", "disjoint", "RANDOM", " disjoint"]),
            st.one_of(st.integers(-5, 10**6).map(str), st.floats(allow_nan=True).map(repr)),
        ),
        st.text(max_size=20),
    )
)
def test_random_split_texts_parse_or_raise_config_error(fuzz_counts, text: str) -> None:
    with time_limit():
        try:
            spec = parse_split(text)
        except ConfigError as exc:
            assert "accepted forms" in str(exc)
            fuzz_counts["split text (ConfigError)"] += 1
            return
    assert isinstance(spec, SplitSpec)
    if spec.kind != "file":  # the canonical text round-trips
        assert parse_split(str(spec)) == spec
    if spec.ratio is not None:
        assert 0.0 < spec.ratio < 1.0
    if spec.count is not None:
        assert spec.count >= 1
    fuzz_counts["split text (parsed)"] += 1
