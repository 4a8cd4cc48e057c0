"""Where a one-line error is promised, one true line: special files named for what they are,
no traceback for a directory given as a config, a bad --data-dir refused, impossible work
refused before it starts, and run directories that work from any working directory."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

FIT = ["--model", "svm", "--split", "random:3", "--no-progress"]


def one_line(r) -> str:
    (line,) = r.err.strip().splitlines()
    assert r.rc == 2 and line.startswith("mssfe: error: ") and "Traceback" not in r.err
    return line


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: os.mkfifo(p), "a named pipe (FIFO)"),
        (lambda p: os.symlink(p, p), "a symbolic link loop"),
        (lambda p: os.symlink(p.parent / "gone", p), "a broken symbolic link"),
        (lambda p: p.mkdir(), "a directory"),
    ],
    ids=["fifo", "symlink-loop", "broken-symlink", "directory"],
)
def test_special_files_are_named_for_what_they_are(cli, tiny, tmp_path, make, words) -> None:
    odd = tmp_path / "odd.npy"
    make(odd)
    line = one_line(cli("train", "--cube", str(odd), "--labels", str(tiny["labels"]), *FIT))
    assert str(odd) in line and words in line


def test_dev_null_is_a_character_device(cli, tiny) -> None:
    line = one_line(cli("train", "--cube", "/dev/null", "--labels", str(tiny["labels"]), *FIT))
    assert "a character device" in line


def test_a_directory_given_as_config_is_one_line(cli, tmp_path) -> None:
    assert "expected a TOML config file, got a directory" in one_line(
        cli("train", "--config", str(tmp_path))
    )


def test_data_dir_that_is_a_file_is_refused(cli, tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = one_line(cli("split", "--scene", "IndianPines", "--data-dir", str(afile)))
    assert "--data-dir" in line and "got a regular file" in line


def test_simulation_too_large_for_memory_is_refused_at_once(cli, tmp_path) -> None:
    t0 = time.perf_counter()
    line = one_line(cli("simulate", "--layout", "IndianPines", "--scale", "100",
                        "--out", str(tmp_path / "x.npz")))  # fmt: skip
    assert time.perf_counter() - t0 < 10 and "GiB of memory" in line and "smaller --scale" in line
    assert not (tmp_path / "x.npz").exists()


def test_values_beyond_float32_are_refused(cli, tiny) -> None:
    cube = np.load(tiny["cube"]).astype(np.float64)
    cube[0, 0, 0] = 1e300
    np.save(tiny["cube"], cube)
    line = one_line(
        cli("train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]), *FIT)
    )
    assert "exceed the float32 range" in line and "1e+300" in line


def test_predict_on_an_svm_run_says_why(cli, tiny, tmp_path) -> None:
    out = tmp_path / "runs"
    assert cli("train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]), *FIT,
               "--out", str(out)).rc == 0  # fmt: skip
    (run,) = out.glob("*/svm/*/seed0")
    line = one_line(cli("predict", str(run), "--out", str(tmp_path / "map")))
    assert "keeps no fitted model" in line and "checkpoint" not in line


def test_relative_data_paths_work_from_another_directory(cli, tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tiny["dir"])
    net = ["--model", "ms2fenet", "--model-arg", "patch_size=9", "--model-arg", "n_components=10",
           "--epochs", "1", "--split", "random:3", "--no-progress", "--threads", "1"]  # fmt: skip
    r = cli("train", "--cube", "cube.npy", "--labels", "labels.npy", *net,
            "--out", str(tmp_path / "runs"))  # fmt: skip
    assert r.rc == 0, r.err
    (run,) = (tmp_path / "runs").glob("*/ms2fenet/*/seed0")
    assert f'cube = "{tiny["cube"]}"' in (run / "config.toml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = cli("evaluate", str(run))
    assert r.rc == 0, r.err


def test_warnings_are_one_line_each(cli, tmp_path) -> None:
    """A no-data warning reads like an error line: `mssfe: warning: ...`, no source line."""
    import rasterio

    cube = np.random.default_rng(0).normal(100, 10, size=(12, 10, 6)).astype(np.float32)
    cube[2:4, 3:6] = -9999
    labels = np.ones((1, 12, 10), np.uint8)
    labels[0, :, 5:] = 2
    for name, data, nodata in (("c.tif", np.moveaxis(cube, -1, 0), -9999), ("l.tif", labels, None)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=12, width=10,
                           count=data.shape[0], dtype=data.dtype.name, nodata=nodata,
                           crs="EPSG:32616", transform=rasterio.Affine(1, 0, 0, 0, -1, 12)) as ds:  # fmt: skip
            ds.write(data)
    r = cli("train", "--cube", str(tmp_path / "c.tif"), "--labels", str(tmp_path / "l.tif"),
            *FIT, "--out", str(tmp_path / "runs"))  # fmt: skip
    assert r.rc == 0, r.err
    (line,) = [x for x in r.err.splitlines() if "no data" in x]
    assert line == (
        f"mssfe: warning: {tmp_path / 'c.tif'}: 6 of 120 pixels hold no data (nodata=-9999); "
        "they are excluded (unlabelled for training, 0 in class maps)"
    )
    assert "UserWarning" not in r.err and "load_cube(" not in r.err
