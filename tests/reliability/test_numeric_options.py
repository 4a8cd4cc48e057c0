"""Every numeric option is checked once, when the config is made (issue 19, item 4).

Before: ``--lr 0`` trained at 0.001, ``--epochs 0`` ran one epoch, ``--batch-size 0`` used 64,
``--batch-size -1`` took no step and reported metrics as a normal run, ``--lr nan`` ended in a
traceback, ``--seeds 0 0 1`` trained seed 0 once and averaged it twice, and a label raster
holding 2**32 or 1e20 ended in a traceback or a 32 GiB lookup table. Now each is one line on
stderr naming the option, what was expected and what was got, exit code 2, and nothing trains.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

TRAIN = ("--model", "ms2fenet", "--model-arg", "n_components=12", "--patch-size", "9",
         "--epochs", "1", "--no-progress", "--split", "random:3")  # fmt: skip


def train_argv(tiny: dict[str, Path], *extra: str) -> list[str]:
    return ["train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]), *TRAIN,
            "--out", str(tiny["dir"] / "out"), *extra]  # fmt: skip


def assert_option_error(result, line: str) -> None:
    """Exit 2 and exactly ``mssfe: error: LINE`` on stderr."""
    assert result.rc == 2, (result.rc, result.err)
    assert result.err.strip().splitlines() == [f"mssfe: error: {line}"]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (("--lr", "0"), "--lr: expected a finite float > 0, got 0.0"),
        (("--lr", "-0.01"), "--lr: expected a finite float > 0, got -0.01"),
        (("--lr", "nan"), "--lr: expected a finite float > 0, got nan"),
        (("--lr", "inf"), "--lr: expected a finite float > 0, got inf"),
        (("--epochs", "0"), "--epochs: expected an int >= 1, got 0"),
        (("--batch-size", "0"), "--batch-size: expected an int >= 1, got 0"),
        (("--batch-size", "-1"), "--batch-size: expected an int >= 1, got -1"),
        (("--patience", "0"), "--patience: expected an int >= 1, got 0"),
        (("--val-fraction", "1"), "--val-fraction: expected a finite float >= 0 and < 1, got 1.0"),
        (("--threads", "0"), "--threads: expected an int >= 1, got 0"),
        (("--workers", "-1"), "--workers: expected an int >= 0, got -1"),
        (("--seed", "0", "0", "1"),
         "--seed: expected distinct values, got [0, 0, 1] ([0] repeated)"),
        (("--seed", "-1"), "--seed: expected an int >= 0 and <= 4294967295, got -1"),
        (("--seeds", "0"), "--seeds: expected an int >= 1, got 0"),
    ],
)  # fmt: skip
def test_train_refuses_a_bad_number_before_training(cli, tiny, extra, line) -> None:
    result = cli(*train_argv(tiny, *extra))
    assert_option_error(result, line)
    assert not list((tiny["dir"] / "out").rglob("config.toml")), "a run was started"


def test_a_config_file_value_is_checked_and_named_with_its_file(cli, tiny) -> None:
    config = tiny["dir"] / "run.toml"
    config.write_text("[optim]\nlr = 0\n")
    result = cli(*train_argv(tiny, "--config", str(config)))
    assert_option_error(result, f"{config}: optim.lr: expected a finite float > 0, got 0.0")


def test_config_toml_records_the_values_the_optimiser_used(cli, tiny) -> None:
    """No ``x or default`` left in the trainer: the learning rate in config.toml is the one the
    optimiser stepped with (log.jsonl), the batch size the one the epoch was cut into."""
    result = cli(*train_argv(tiny, "--lr", "0.02", "--batch-size", "7"))
    assert result.rc == 0, result.err
    (run_dir,) = [p.parent for p in (tiny["dir"] / "out").rglob("config.toml")]
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert (config["optim"]["lr"], config["optim"]["batch_size"]) == (0.02, 7)
    (entry,) = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert entry["lr"] == 0.02


@pytest.mark.parametrize(
    ("raster", "got"),
    [
        (np.array([0, 1, 2**32], dtype=np.uint64), "1 larger values, maximum 4294967296"),
        (np.array([0.0, 1.0, 1e20]), "1 larger values, maximum 1e+20"),
    ],
    ids=["2**32", "1e20"],
)
def test_label_ids_beyond_int32_are_refused(cli, tiny, raster: np.ndarray, got: str) -> None:
    labels = np.load(tiny["labels"]).astype(raster.dtype)
    labels[0, :3] = raster
    path = tiny["dir"] / "big_ids.npy"
    np.save(path, labels)
    result = cli("train", "--cube", str(tiny["cube"]), "--labels", str(path), *TRAIN,
                 "--out", str(tiny["dir"] / "out"))  # fmt: skip
    assert_option_error(
        result,
        f"{path}: label map has class ids too large "
        f"(expected class ids <= 2,147,483,647, got {got})",
    )


def test_large_class_ids_cost_no_memory(tiny) -> None:
    """Ids up to the limit are names, not sizes: mapping them allocates nothing per id."""
    from mssfe.data.scenes import load_user_scene

    labels = np.load(tiny["labels"])
    labels[labels == 2] = 2**31 - 1
    path = tiny["dir"] / "sparse_ids.npy"
    np.save(path, labels)
    scene = load_user_scene(tiny["cube"], path)
    assert sorted(np.unique(scene.labels)) == [1, 2]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (("--epochs", "0"), "--epochs: expected an int >= 1, got 0"),
        (("--batch-size", "-1"), "--batch-size: expected an int >= 1, got -1"),
        (("--max-test", "0"), "--max-test: expected an int >= 1, got 0"),
        (("--seeds", "0"), "--seeds: expected an int >= 1, got 0"),
        (("--jobs", "0"), "--jobs: expected an int >= 1, got 0"),
        (("--threads", "0"), "--threads: expected an int >= 1, got 0"),
        (("--guard-patch", "10"), "--guard-patch: expected an odd int >= 1, got 10"),
    ],
)
def test_benchmark_refuses_a_bad_number(cli, tmp_path: Path, extra, line) -> None:
    result = cli("benchmark", "--scenes", "SalinasA", "--models", "svm", "--no-progress",
                 "--out", str(tmp_path / "bench"), *extra)  # fmt: skip
    assert_option_error(result, line)
    assert not (tmp_path / "bench").exists()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("demo", "--epochs", "0"), "--epochs: expected an int >= 1, got 0"),
        (("split", "--scene", "SalinasA", "--seed", "-1"), "--seed: expected an int >= 0, got -1"),
        (("simulate", "--layout", "IndianPines", "--difficulty", "nan", "--out", "x.npz"),
         "--difficulty: expected a finite float >= 0 and <= 100, got nan"),
        (("simulate", "--layout", "IndianPines", "--scale", "0", "--out", "x.npz"),
         "--scale: expected an int >= 1, got 0"),
    ],
    ids=["demo-epochs", "split-seed", "simulate-difficulty", "simulate-scale"],
)  # fmt: skip
def test_other_commands_refuse_a_bad_number(cli, tmp_path: Path, monkeypatch, argv, line) -> None:
    monkeypatch.chdir(tmp_path)
    assert_option_error(cli(*argv), line)
    assert not list(tmp_path.iterdir()), "something was written"
