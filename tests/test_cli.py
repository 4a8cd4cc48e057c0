"""The command line on real shipped data: help, scenes, split, info, errors."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mssfe.cli import build_parser, main
from mssfe.errors import MssfeError


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("scenes", "split", "info", "train", "evaluate", "simulate", "demo"):
        assert command in out


def test_scenes_lists_every_registered_scene(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["scenes", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in (
        "IndianPines",
        "PaviaU",
        "Salinas",
        "SalinasA",
        "PaviaC",
        "KSC",
        "Botswana",
        "Houston2013",
        "IndianPines-sim",
    ):
        assert name in out
    assert "embedded" in out and "missing" in out
    assert str(tmp_path) in out


def test_split_works_without_the_cube(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "split",
                "--scene",
                "IndianPines",
                "--split",
                "random:0.1",
                "--seed",
                "0",
                "--no-download",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Alfalfa" in out and "Stone-Steel-Towers" in out
    assert "leakage" in out


def test_disjoint_split_reports_zero_leakage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", "--scene", "PaviaU", "--split", "disjoint", "--no-download"]) == 0
    assert "leakage 0.0%" in capsys.readouterr().out


def test_info_prints_parameters_and_flops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "ms2fenet", "--scene", "IndianPines"]) == 0
    out = capsys.readouterr().out
    assert "371,314" in out or "371314" in out


def test_user_errors_are_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["split", "--scene", "IndianPine", "--no-download"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'IndianPines'" in err
    assert "Traceback" not in err


def test_console_entry_point_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mssfe", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "mssfe" in proc.stdout


def test_simulate_writes_a_named_simulated_cube(tmp_path) -> None:
    from mssfe.data.simulate import load_simulated

    out = tmp_path / "sim.npz"
    assert main(["simulate", "--layout", "IndianPines", "--seed", "1", "--out", str(out)]) == 0
    sim = load_simulated(out)
    assert sim.cube.shape == (145, 145, 200) and sim.noise_seed == 1


def test_simulate_a_user_layout_with_a_user_recipe(tmp_path) -> None:
    from importlib import resources

    import numpy as np

    from mssfe.data.simulate import layout_labels, load_simulated

    layout = tmp_path / "layout.npy"
    np.save(layout, layout_labels("IndianPines")[:40, :50])
    recipe = resources.files("mssfe.data") / "recipes" / "IndianPines.toml"
    out = tmp_path / "mine.npz"
    assert (
        main(["simulate", "--layout", str(layout), "--recipe", str(recipe), "--out", str(out)]) == 0
    )
    sim = load_simulated(out)
    assert sim.cube.shape[:2] == (40, 50)
    np.testing.assert_array_equal(sim.labels, layout_labels("IndianPines")[:40, :50])


def test_train_states_the_leakage_of_its_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """A pixel classifier on a random split: no test patch holds a training pixel, and the
    console says so beside the OA it prints."""
    argv = ["train", "--scene", "SalinasA", "--model", "svm", "--split", "random:10"]
    assert main([*argv, "--seed", "0", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "leakage 0.0% of test patches contain a training or validation pixel\n" in out
    assert "seeds [0, 1]" in out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_of_every_command_has_help() -> None:
    """mssfe COMMAND --help explains every option: none is listed bare."""
    parser = build_parser()
    bare = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in _subparsers(parser).items()
        for action in command._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    bare += [str(a.option_strings) for a in parser._actions if not a.help]
    assert bare == []


def test_every_command_shows_an_example_that_parses() -> None:
    """Each command's --help ends with one runnable example; the real parser accepts it and
    runs the command it names."""
    parser = build_parser()
    for name, command in _subparsers(parser).items():
        epilog = command.epilog or ""
        assert epilog.startswith("example:\n  mssfe "), name
        words = shlex.split(epilog.splitlines()[1])[1:]
        args = parser.parse_args(words)
        assert args.command == name and args.func is command.get_default("func")


def test_global_options_go_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """--data-dir and --debug are accepted on either side of the command, with one meaning."""
    parser = build_parser()
    before = parser.parse_args(["--debug", "--data-dir", "D", "evaluate", "RUN"])
    after = parser.parse_args(["evaluate", "RUN", "--debug", "--data-dir", "D"])
    assert (before.debug, before.data_dir) == (after.debug, after.data_dir) == (True, "D")
    plain = parser.parse_args(["evaluate", "RUN"])
    assert (plain.debug, plain.data_dir) == (False, None)
    for argv in (["--data-dir", str(tmp_path), "scenes"], ["scenes", "--data-dir", str(tmp_path)]):
        assert main(argv) == 0
        assert str(tmp_path) in capsys.readouterr().out
    bad = ["split", "--scene", "IndianPine", "--no-download"]
    for argv in (["--debug", *bad], [*bad, "--debug"]):  # --debug shows the traceback
        with pytest.raises(MssfeError, match="did you mean 'IndianPines'"):
            main(argv)


def test_seeds_is_a_count_and_seed_a_list_in_train_and_benchmark(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """One meaning everywhere: --seeds N trains seeds 0..N-1, --seed S ... these seeds; the
    old list spelling of train's --seeds says what to type instead."""
    from mssfe.utils.validation import check_seeds
    from mssfe.workflows.benchmark import benchmark_config

    parser = build_parser()
    for command in ("train", "benchmark"):
        extra = ["--scenes", "SalinasA"] if command == "benchmark" else []
        counted = parser.parse_args([command, *extra, "--seeds", "3"])
        listed = parser.parse_args([command, *extra, "--seed", "4", "7"])
        assert check_seeds(counted.seeds) == (0, 1, 2)
        assert check_seeds(listed.seeds) == (4, 7)
        last = parser.parse_args([command, *extra, "--seeds", "3", "--seed", "5"])
        assert check_seeds(last.seeds) == (5,)  # the later option wins, as for any option
    bench = benchmark_config(["SalinasA"], ["svm"], ["random:5"], listed.seeds, tmp_path)
    assert bench.seeds == (4, 7)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--seeds", "0", "1", "2"])
    assert exit_info.value.code == 2
    assert (
        "--seeds takes one count N (trains seeds 0..N-1), got 0 1 2; to name the seeds, use --seed 0 1 2"
        in capsys.readouterr().err
    )


def test_a_directory_of_runs_given_for_one_run_lists_them(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """mssfe evaluate/predict/report on the --out of mssfe train: one line naming its runs."""
    argv = ["train", "--scene", "SalinasA", "--model", "svm", "--split", "random:5"]
    assert main([*argv, "--seeds", "2", "--max-test", "60", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    record = json.loads((tmp_path / "SalinasA/svm/random-5/seed0/metrics.json").read_text())
    assert record["max_test"] == 60 and record["n_test"] == 60
    assert any("test subsampled: 60 of" in note for note in record["split_notes"])
    runs = "svm/random-5/seed0, svm/random-5/seed1"
    for command, listed in (
        (["evaluate", str(tmp_path)], runs.replace("svm/", "SalinasA/svm/")),
        (["predict", str(tmp_path / "SalinasA"), "--out", str(tmp_path / "map")], runs),
        (["report", str(tmp_path / "SalinasA")], runs),
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert f"a directory holding 2 run(s), not one run: {listed}; give one of them" in err[0]


def test_the_example_run_toml_trains(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """examples/run.toml, shipped for users to copy, is a valid config that trains."""
    example = Path(__file__).resolve().parents[1] / "examples" / "run.toml"
    argv = ["train", "--config", str(example), "--epochs", "1", "--max-test", "100"]
    assert main([*argv, "--threads", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SalinasA, ms2fenet, split random:5, seeds [0]" in out
    config = tomllib.loads((tmp_path / "SalinasA/ms2fenet/random-5/seed0/config.toml").read_text())
    assert config["model_args"]["patch_size"] == 9 and config["optim"]["max_epochs"] == 1


def test_demo_names_scene_split_and_leakage(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    """One epoch of the quick start (on 300 test pixels): its accuracy line names the real
    scene and the split, the next the leakage of MS²FENet's 15 x 15 patches on that random split
    (about 60%: 30 training pixels), then the recipe it trained with, the better of the tables'."""
    from mssfe.workflows.demo import run_demo

    assert run_demo(tmp_path, epochs=1, max_test=300) == 0
    out = capsys.readouterr().out
    assert "on 300 test pixels of Salinas-A (real), split random:5" in out
    assert "recipe mssfe v1, SSL pool transductive, test-time augmentation on" in out
    assert "why this recipe: the better of the two recipes for MS²FENet" in out
    match = re.search(
        r"^leakage (\d+\.\d)% of test patches .*--split disjoint, has none\)$", out, re.M
    )
    assert match is not None and 30 < float(match.group(1)) < 90, out


def test_train_and_evaluate_name_the_recipe_pool_and_tta(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mssfe train --recipe mssfe --ssl transductive --no-tta: the console line names all three;
    mssfe evaluate --tta recomputes with the flips averaged and records it; --max-test N on
    a stratified subset of N test pixels, recorded too."""
    from mssfe.data.scenes import load_scene
    from mssfe.data.splits import make_split, subsample_test

    labels = load_scene("SalinasA", labels_only=True).labels
    split = subsample_test(make_split(labels, "random:5", seed=0), labels, 200, seed=0)
    split.save(tmp_path / "split.npz")
    argv = ["train", "--scene", "SalinasA", "--model", "ms2fenet", "--split"]
    argv += [f"file:{tmp_path / 'split.npz'}", "--model-arg", "patch_size=9"]
    argv += ["--model-arg", "n_components=12", "--epochs", "2", "--threads", "1"]
    argv += ["--recipe", "mssfe", "--ssl", "transductive", "--no-tta", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "recipe mssfe v1*, SSL pool transductive, test-time augmentation off" in out
    (run_dir,) = (tmp_path / "runs" / "SalinasA" / "ms2fenet_mssfe").glob("*/seed0")
    assert main(["evaluate", str(run_dir), "--tta"]) == 0
    out = capsys.readouterr().out
    assert "test-time augmentation on (8 flips/rotations averaged)" in out
    assert json.loads((run_dir / "evaluation.json").read_text())["tta"] is True
    assert main(["evaluate", str(run_dir), "--no-tta", "--max-test", "50"]) == 0
    assert "(50 test pixels)" in capsys.readouterr().out
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert (evaluation["n_test"], evaluation["max_test"]) == (50, 50)
    assert "50 test pixels (a stratified subset" in (run_dir / "evaluation.md").read_text()
    assert main(["report", str(run_dir), "--no-maps", "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Trained and tested with recipe mssfe v1*, SSL pool transductive" in report
    bad = [*argv, "--recipe", "mssfe:ssl=sometimes", "--out", str(tmp_path / "bad")]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "recipe.ssl: expected one of 'none', 'inductive', 'transductive'" in err


def test_patch_size_is_one_option_under_two_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    """``--patch-size N`` is ``--model-arg patch_size=N``; both given differently is an error."""
    assert main(["info", "ms2fenet", "--patch-size", "9"]) == 0
    first = capsys.readouterr().out
    assert "input (1, 1, 30, 9, 9)" in first
    assert main(["info", "ms2fenet", "--model-arg", "patch_size=9"]) == 0
    assert capsys.readouterr().out == first
    argv = ["info", "ms2fenet", "--patch-size", "9", "--model-arg", "patch_size=11"]
    assert main(argv) == 2
    assert "--patch-size: given twice, differently" in capsys.readouterr().err


def _envi_scene(tmp_path: Path) -> tuple[Path, Path]:
    """A 16 x 16 x 24 ENVI cube (bands at 400, 500, ... 2700 nm; bands 3 and 20 marked bad by
    its bbl) and a two-class label map."""
    import numpy as np
    import spectral.io.envi as envi

    rng = np.random.default_rng(0)
    labels = np.ones((16, 16), dtype=np.int64)
    labels[:, 8:] = 2
    cube = rng.normal(size=(16, 16, 24)).astype(np.float32) + labels[..., None]
    bbl = [0 if b in (3, 20) else 1 for b in range(24)]
    meta = {"wavelength": [400 + 100 * b for b in range(24)], "wavelength units": "nm"}
    envi.save_image(str(tmp_path / "cube.hdr"), cube, metadata={**meta, "bbl": bbl}, ext=".img")
    np.save(tmp_path / "labels.npy", labels)
    return tmp_path / "cube.hdr", tmp_path / "labels.npy"


def test_bands_by_wavelength_less_bad_bands_are_recorded_and_reused(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """--bands 450nm:2000nm on an ENVI cube with a bbl: bands 1..15 less bad band 3 train; the
    selection is in config.toml, the kept wavelengths and the dropped count in run.json, and
    evaluate and predict (the run's cube, or the file given again) take the same 14 bands."""
    cube, labels = _envi_scene(tmp_path)
    argv = ["train", "--cube", str(cube), "--labels", str(labels), "--model", "ms2fenet"]
    argv += ["--patch-size", "9", "--model-arg", "n_components=12", "--epochs", "1"]
    argv += ["--split", "random:10", "--bands", "450nm:2000nm", "--threads", "1"]
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "runs")]) == 0
    err = capsys.readouterr().err
    assert "dropped 1 bad band(s) the file marks (ENVI bbl)" in err
    (run_dir,) = (tmp_path / "runs").glob("cube/ms2fenet/*/seed0")
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["data"]["bands"] == "450nm:2000nm" and config["data"]["keep_bad_bands"] is False
    record = json.loads((run_dir / "run.json").read_text())
    assert record["bands"] == [1, 2, *range(4, 16)]
    assert record["wavelengths"] == [500.0, 600.0, *(100.0 * b + 400 for b in range(4, 16))]
    assert (record["n_source_bands"], record["bad_bands_dropped"]) == (24, 1)
    assert main(["evaluate", str(run_dir)]) == 0
    for extra in ([], ["--cube", str(cube)]):
        out = tmp_path / f"map{len(extra)}"
        assert main(["predict", str(run_dir), *extra, "--out", str(out), "--no-progress"]) == 0
        assert (out / "class_map.tif").exists()


def test_index_ranges_on_a_numpy_cube(tmp_path) -> None:
    """--bands 0:4,10:16 on a .npy cube (no wavelengths, no bad-band list): 10 bands train."""
    import numpy as np

    cube, labels = _envi_scene(tmp_path)
    np.save(tmp_path / "cube.npy", load_cube_data(cube))
    argv = ["train", "--cube", str(tmp_path / "cube.npy"), "--labels", str(labels)]
    argv += ["--model", "svm", "--split", "random:10", "--bands", "0:4,10:16"]
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").glob("cube/svm/*/seed0")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["bands"] == [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
    assert "wavelengths" not in record and record["bad_bands_dropped"] == 0


def load_cube_data(path: Path) -> Any:
    from mssfe.data.readers import load_cube

    return load_cube(path).data


def test_data_on_device_option_reaches_the_runtime_config() -> None:
    """train --data-on-device sets runtime.data_on_device; left out, the config's (auto)."""
    from mssfe.cli import _train_config

    parser = build_parser()
    asked = _train_config(parser.parse_args(["train", "--data-on-device", "on"]))
    assert asked.runtime.data_on_device == "on"
    assert _train_config(parser.parse_args(["train"])).runtime.data_on_device == "auto"
    bench = parser.parse_args(["benchmark", "--scenes", "SalinasA", "--data-on-device", "off"])
    assert bench.data_on_device == "off"
