"""Bad input through the command line: one clear line on stderr, exit code 2, no traceback.

Each case writes a tiny (12 x 12 x 16) input into tmp_path and runs ``mssfe train`` or
``mssfe split`` in-process. The messages asserted here are the ones listed in
docs/reliability.md.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mssfe.cli import main
from mssfe.data.scenes import contiguous_labels
from mssfe.errors import DataError, MssfeError

H, W, B = 12, 12, 16
TRAIN = ("--model", "ms2fenet", "--model-arg", "patch_size=9", "--model-arg", "n_components=12",
         "--epochs", "1", "--no-progress", "--split", "random:3")  # fmt: skip


def train_args(cube: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--cube", str(cube), "--labels", str(labels), *TRAIN, "--out", str(out),
            *extra]  # fmt: skip


def assert_clear_error(result, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr starting 'mssfe: error:', naming every fragment."""
    assert result.rc == 2, (result.rc, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("mssfe: error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _cube(rng_seed: int = 0) -> np.ndarray:
    return np.random.default_rng(rng_seed).normal(size=(H, W, B)).astype(np.float32)


# --------------------------------------------------------------------------- files


def test_missing_file(cli, tiny) -> None:
    missing = tiny["dir"] / "nope.npy"
    r = cli(*train_args(missing, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(missing), "file not found", "expected an existing file")


def test_directory_instead_of_file(cli, tiny) -> None:
    folder = tiny["dir"] / "folder.npy"
    folder.mkdir()
    r = cli(*train_args(folder, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(folder), "not a regular file", "got a directory")


def test_unreadable_file(cli, tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied (simulated: chmod 000 does not stop root, who runs some CI)."""
    real_open = builtins.open
    target = str(tiny["cube"])

    def deny(file, *args, **kwargs):
        if str(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    r = cli(*train_args(tiny["cube"], tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, target, "cannot read the file", "Permission denied")


def test_truncated_npy(cli, tiny) -> None:
    data = tiny["cube"].read_bytes()
    cut = tiny["dir"] / "cut.npy"
    cut.write_bytes(data[: len(data) // 2])
    r = cli(*train_args(cut, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(cut), "cannot read the file", "truncated")


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".mat", ".tif", ".h5", ".hdr"])
def test_random_bytes_with_a_valid_extension(cli, tiny, suffix: str) -> None:
    junk = tiny["dir"] / f"junk{suffix}"
    junk.write_bytes(np.random.default_rng(1).bytes(3000))
    r = cli(*train_args(junk, tiny["labels"], tiny["dir"] / "out"))
    line = assert_clear_error(r, str(junk))
    assert "not a NumPy" in line or "cannot read the file" in line


def test_mat_without_a_3d_array(cli, tiny) -> None:
    path = tiny["dir"] / "flat.mat"
    scipy.io.savemat(path, {"a": np.ones((4, 4))})
    r = cli(*train_args(path, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(path), "expected exactly one 3-D numeric array", "got none", "--var")


def test_mat_with_several_3d_arrays(cli, tiny) -> None:
    path = tiny["dir"] / "two.mat"
    scipy.io.savemat(path, {"a": _cube(), "b": _cube(1)})
    r = cli(*train_args(path, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(path), "got 2: a, b", "--var NAME")


def test_envi_header_does_not_match_data_size(cli, tiny) -> None:
    import spectral.io.envi as envi

    header = tiny["dir"] / "scene.hdr"
    envi.save_image(str(header), _cube(), ext=".img", interleave="bsq")
    data = tiny["dir"] / "scene.img"
    data.write_bytes(data.read_bytes()[:-100])
    r = cli(*train_args(header, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(header), "field 'file size'", "expected 9216 bytes", "got 9116")


def test_geotiff_with_one_band(cli, tiny) -> None:
    import rasterio

    path = tiny["dir"] / "one.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1,
                       dtype="float32") as dst:  # fmt: skip
        dst.write(_cube()[None, :, :, 0])
    r = cli(*train_args(path, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(path), "needs several bands", "expected >= 2 bands", "got 1 band")


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(cli, tiny, bad: float) -> None:
    cube = _cube()
    cube[3, 4, 5] = bad
    path = tiny["dir"] / "nonfinite.npy"
    np.save(path, cube)
    r = cli(*train_args(path, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, str(path), "1 non-finite", "expected finite values", "--nan-policy"[2:5])


def test_every_band_constant(cli, tiny) -> None:
    path = tiny["dir"] / "flat.npy"
    np.save(path, np.full((H, W, B), 7.0, np.float32))
    r = cli(*train_args(path, tiny["labels"], tiny["dir"] / "out"))
    assert_clear_error(r, "field 'cube'", "every band is constant", f"got all {B} bands constant")
    assert not (tiny["dir"] / "out").exists() or not any((tiny["dir"] / "out").rglob("*.pt"))


def test_one_constant_band_warns_and_trains(tmp_path: Path, tiny) -> None:
    """A constant band is legitimate (e.g. a zeroed absorption band): a warning, not an error."""
    from mssfe.data.preprocess import fit_preprocessor

    cube = _cube()
    cube[:, :, 3] = 5.0
    with pytest.warns(RuntimeWarning, match=r"1 constant band\(s\) .*indices \[3\]"):
        prep = fit_preprocessor(cube, np.arange(20), n_components=12)
    assert np.isfinite(prep.transform(cube)).all()


def test_labels_beyond_the_class_list() -> None:
    """A registered scene's labels are mapped through its class list; foreign ids are refused."""
    labels = np.array([[0, 1, 10], [11, 99, 42]])
    with pytest.raises(DataError) as info:
        contiguous_labels(labels, (1, 10, 11), file="gt.mat")
    msg = str(info.value)
    assert "gt.mat" in msg and "field 'labels'" in msg
    assert "expected 0 or one of [1, 10, 11], got [42, 99]" in msg


def test_scene_labels_beyond_the_class_list_through_the_cli(cli, tmp_path: Path) -> None:
    """KSC's registry entry has no checksum, so the class-list check is what catches it."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    scipy.io.savemat(data_dir / "KSC_gt.mat", {"KSC_gt": np.full((4, 4), 99, np.uint8)})
    r = cli("split", "--scene", "KSC", "--data-dir", str(data_dir), "--no-download")
    assert_clear_error(r, "KSC_gt.mat", "field 'labels'", "not in the class list", "got [99]")


def test_labels_shape_differs_from_cube(cli, tiny) -> None:
    path = tiny["dir"] / "short.npy"
    np.save(path, np.ones((10, W), np.int64))
    r = cli(*train_args(tiny["cube"], path, tiny["dir"] / "out"))
    assert_clear_error(r, str(path), "field 'shape'", "expected (H, W) = (12, 12)", "got (10, 12)")


def test_class_with_one_pixel_and_split_larger_than_class(cli, tiny) -> None:
    """Defined by the protocol: a 1-pixel class trains only; random:N > class keeps 1 test pixel.

    Not an error: the run completes and the notes travel with the results (metrics.json).
    """
    labels = np.load(tiny["labels"])
    labels[0, 0] = 7  # a class with a single pixel
    path = tiny["dir"] / "one_pixel.npy"
    np.save(path, labels)
    out = tiny["dir"] / "out"
    r = cli("train", "--cube", str(tiny["cube"]), "--labels", str(path), "--model", "svm",
            "--split", "random:500", "--no-progress", "--out", str(out))  # fmt: skip
    assert r.rc == 0, r.err
    (metrics,) = out.rglob("metrics.json")
    notes = json.loads(metrics.read_text())["split_notes"]
    assert "class 3 has a single pixel: it goes to train, no test pixel" in notes
    assert "class 1 has 71 pixels <= 500 requested: 70 train, 1 test" in notes


def test_split_command_prints_notes_for_oversized_request(cli) -> None:
    r = cli("split", "--scene", "SalinasA", "--split", "random:100000")
    assert r.rc == 0
    assert "note: class 1 has 391 pixels <= 100000 requested: 390 train, 1 test" in r.out


@pytest.mark.parametrize(
    ("argv_extra", "fragments"),
    [
        (("--model-arg", "patch_size=8"), ("ms2fenet.patch_size: expected an odd int >= 1, got 8",)),
        (("--model-arg", "patch_size=31"),
         ("field 'patch_size'", "scene too small", "got patch_size 31 (radius 15) on a 12 x 12")),
    ],
    ids=["even", "larger-than-scene"],
)  # fmt: skip
def test_patch_size_even_or_larger_than_scene(cli, tiny, argv_extra, fragments) -> None:
    r = cli(*train_args(tiny["cube"], tiny["labels"], tiny["dir"] / "out", *argv_extra))
    assert_clear_error(r, *fragments)


def test_split_command_even_patch_size(cli) -> None:
    r = cli("split", "--scene", "SalinasA", "--patch-size", "4")
    assert_clear_error(r, "--patch-size: expected an odd int >= 1, got 4")


# --------------------------------------------------------------------------- config


def test_unknown_model_suggests_closest(cli, tiny) -> None:
    r = cli("train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]),
            "--model", "ms2fnet", "--out", str(tiny["dir"] / "out"))  # fmt: skip
    assert_clear_error(r, "unknown model 'ms2fnet'", "did you mean 'ms2fenet'?")


def test_unknown_scene_suggests_closest(cli) -> None:
    r = cli("split", "--scene", "Salinsa")
    assert_clear_error(r, "unknown scene 'Salinsa'", "did you mean 'SalinasA'?")


def test_unknown_model_option_suggests_closest(cli, tiny) -> None:
    r = cli(
        *train_args(tiny["cube"], tiny["labels"], tiny["dir"] / "o", "--model-arg", "patchsize=9")
    )
    assert_clear_error(r, "unknown option 'patchsize'", "did you mean 'patch_size'?")


def test_unknown_config_option_suggests_closest(cli, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[optim]\nbatchsize = 16\n")
    r = cli("train", "--config", str(config), "--out", str(tmp_path / "out"))
    assert_clear_error(r, str(config), "unknown option 'batchsize'", "did you mean 'batch_size'?")


def test_wrong_type_in_model_option(cli, tiny) -> None:
    r = cli(
        *train_args(
            tiny["cube"], tiny["labels"], tiny["dir"] / "o", "--model-arg", "patch_size='a'"
        )
    )
    assert_clear_error(r, "ms2fenet.patch_size: expected int, got str 'a'")


def test_wrong_type_in_config_file(cli, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[optim]\nlr = "fast"\n')
    r = cli("train", "--config", str(config), "--out", str(tmp_path / "out"))
    assert_clear_error(r, str(config), "optim.lr: expected float, got str 'fast'")


def test_n_components_larger_than_band_count(cli, tiny) -> None:
    r = cli(
        *train_args(
            tiny["cube"], tiny["labels"], tiny["dir"] / "o", "--model-arg", "n_components=40"
        )
    )
    assert_clear_error(r, "n_components must be between 1 and the cube's 16 bands, got 40")


def test_bad_split_text(cli) -> None:
    r = cli("split", "--scene", "SalinasA", "--split", "randm:0.1")
    assert_clear_error(r, "split 'randm:0.1': unknown kind 'randm'", "accepted forms")


# --------------------------------------------------------------------------- --debug


def test_debug_shows_the_traceback(tiny) -> None:
    missing = tiny["dir"] / "nope.npy"
    with pytest.raises(MssfeError, match="file not found"):
        main(["--debug", *train_args(missing, tiny["labels"], tiny["dir"] / "out")])
