"""Fuzzing what a user types and what a run directory holds (issue 19, round two).

(d) random ``mssfe train`` option values through the command line's own parser and config
builder; (e) random and damaged config files; (f) run directories in random states (an edited
config.toml, a swapped, foreign or cut last.pt, a changed data file, a cut run.json or log,
options given with ``--resume``) through the checks ``--resume`` makes, on synthetic run
directories (nothing is trained). Every outcome is a result or the project's one-line error;
a run directory that passes the checks is one run (config.toml, run.json, last.pt and the data
agree). Cheap targets: the three properties together run in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mssfe.cli import _as_typed, _train_config, build_parser
from mssfe.data.scenes import Scene
from mssfe.errors import ConfigError, MssfeError
from mssfe.training.checkpoint import load_checkpoint, save_checkpoint
from mssfe.training.config import RunConfig, config_to_toml, load_config, with_overrides
from mssfe.training.identity import EXTENDABLE, RunIdentity, comparable, first_difference
from mssfe.training.prepare import resolve
from mssfe.training.resume import (
    LAST_EPOCH_KEYS,
    check_checkpoint,
    check_data,
    resumed_config,
    stored_config,
)
from mssfe.training.rundir import EpochRecord, RunDir, RunRecord

from .test_fuzz import FUZZ, FUZZ_EXAMPLES, time_limit

CLI_EXAMPLES = FUZZ_EXAMPLES * 5 // 3  # 250 by default
CONFIG_EXAMPLES = FUZZ_EXAMPLES * 4 // 3  # 200
RUNDIR_EXAMPLES = FUZZ_EXAMPLES * 4 // 3  # 200


def one_line(exc: MssfeError) -> str:
    text = str(exc)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


# --------------------------------------------------------------------------- (d) option values

NUMBERS = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e-3", "1e400", "0x10", "", " ", "1_000", "٣"]),
    st.text(max_size=6),
)
OPTIONS = {
    "--lr": NUMBERS,
    "--epochs": NUMBERS,
    "--patience": NUMBERS,
    "--batch-size": NUMBERS,
    "--val-fraction": NUMBERS,
    "--threads": NUMBERS,
    "--workers": NUMBERS,
    "--patch-size": NUMBERS,
    "--seeds": NUMBERS,
    "--seed": NUMBERS,
    "--max-test": NUMBERS,
    "--bands": st.one_of(st.sampled_from(["0:10", "400nm:900nm", "5", "10:2", "nm:", "0:1e3"]),
                         st.text(max_size=10)),
    "--split": st.one_of(st.sampled_from(["random:5", "random:0.1", "disjoint", "randm:1"]),
                         st.text(max_size=12)),
    "--model": st.sampled_from(["ms2fenet", "cnn3d", "svm", "ssrn", "ms2fnet", "", "SVM"]),
    "--model-arg": st.one_of(
        st.builds("{}={}".format,
                  st.sampled_from(["patch_size", "n_components", "partitions", "fusion", "nope"]),
                  NUMBERS),
        st.text(max_size=10)),
    "--precision": st.sampled_from(["32", "bf16", "16", "8", ""]),
    "--data-on-device": st.sampled_from(["auto", "on", "off", "yes", ""]),
    "--pca-fit": st.sampled_from(["scene", "train", "both"]),
    "--recipe": st.one_of(st.sampled_from(["paper", "mssfe", "mssfe:ssl=none", "mssfe:ema=2"]),
                          st.text(max_size=12)),
    "--ssl": st.sampled_from(["none", "inductive", "transductive", "always"]),
    "--nan-policy": st.sampled_from(["raise", "median", "zero"]),
}  # fmt: skip
FLAGS = ["--no-augment", "--no-progress", "--no-download", "--tta", "--no-tta"]


@st.composite
def train_argv(draw: st.DrawFn) -> list[str]:
    argv = ["train"]
    for option in draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=6)):
        argv += [option, draw(OPTIONS[option])]
    argv += draw(st.lists(st.sampled_from(FLAGS), max_size=2, unique=True))
    return argv


def parse(argv: list[str]) -> argparse.Namespace | None:
    """The parsed namespace, or None where argparse itself refuses (usage, exit code 2)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 2
            return None


@pytest.mark.filterwarnings("ignore")
@settings(FUZZ, max_examples=CLI_EXAMPLES)
@given(argv=train_argv())
def test_train_option_values_build_a_config_or_one_line_error(fuzz_counts, argv) -> None:
    args = parse(argv)
    if args is None:
        fuzz_counts["train options (argparse usage error)"] += 1
        return
    with time_limit():
        try:
            config = _train_config(args)
        except MssfeError as exc:
            line = one_line(_as_typed(exc, args))
            fuzz_counts["train options (MssfeError)"] += 1
            assert not line.startswith("optim.") and not line.startswith("runtime."), line
            return
    assert isinstance(config, RunConfig)
    if args.lr is not None:  # what was typed is what is configured, and it is valid
        assert config.optim.lr == args.lr and math.isfinite(args.lr) and args.lr > 0
    if args.epochs is not None:
        assert config.optim.max_epochs == args.epochs >= 1
    if args.batch_size is not None:
        assert config.optim.batch_size == args.batch_size >= 1
    resolve(config)  # a config the command line accepted resolves
    fuzz_counts["train options (config)"] += 1


# --------------------------------------------------------------------------- (e) config files

SECTIONS = {
    "": ["model", "seed", "nope"],
    "optim": ["lr", "max_epochs", "batch_size", "patience", "optimizer", "scheduler", "augment",
              "learning_rate"],
    "data": ["scene", "split", "val_fraction", "pca_fit", "cube", "nan_policy"],
    "model_args": ["patch_size", "n_components", "partitions", "fusion"],
    "recipe": ["name", "ssl", "ema", "tta"],
    "runtime": ["threads", "workers", "precision", "progress", "data_on_device"],
    "extra": ["x"],
}  # fmt: skip
PLAUSIBLE: dict[str, list[Any]] = {  # mostly valid values, so that valid files are drawn too
    "model": ["ms2fenet", "cnn3d", "svm", "hybridsn"], "seed": [0, 3, -1],
    "lr": [0.01, 1e-3, 0.0], "max_epochs": [1, 50, 0], "batch_size": [16, 64],
    "patience": [5, 0], "optimizer": ["adam", "sgd", "adamw", "rmsprop"],
    "scheduler": ["none", "cosine"], "augment": [True, False],
    "scene": ["SalinasA", "IndianPines", "Nowhere"], "split": ["random:5", "disjoint", "x"],
    "val_fraction": [0.1, 0.0, 1.5], "pca_fit": ["scene", "train"], "cube": ["c.npy"],
    "nan_policy": ["raise", "median"], "patch_size": [9, 11, 8], "n_components": [12, 0],
    "partitions": [2, 4, 3], "fusion": [True, False], "name": ["paper", "mssfe", "none"],
    "ssl": ["none", "inductive"], "ema": [0.0, 0.99, 2.0], "tta": [True, False],
    "threads": [1, 0], "workers": [0, -1], "precision": ["32", "bf16", "64"],
    "progress": [True, False], "data_on_device": ["auto", "on", "maybe"],
}  # fmt: skip
TOML_VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["ms2fenet", "svm", "random:5", "adam", "cosine", "mssfe", "train", "32"]),
    st.lists(st.integers(0, 9), max_size=3),
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    table: dict[str, Any] = {}
    for _ in range(draw(st.integers(0, 6))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        key = draw(st.sampled_from(SECTIONS[section]))
        plausible = st.sampled_from(PLAUSIBLE.get(key, ["x"]))
        value = draw(st.one_of(plausible, plausible, plausible, TOML_VALUES))
        (table.setdefault(section, {}) if section else table)[key] = value
    text = _toml(table)
    if draw(st.integers(0, 3)) == 0:  # a damaged file: cut, or a line of garbage
        cut = draw(st.integers(0, max(len(text), 1)))
        text = text[:cut] + draw(st.sampled_from(["", "=", "[", "\x00", "é", "lr = = 1\n"]))
    return text


def _toml(table: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(table)


@pytest.fixture(scope="module")
def config_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mssfe-fuzz-config-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@settings(FUZZ, max_examples=CONFIG_EXAMPLES)
@given(text=config_texts())
def test_config_files_load_or_name_the_file(config_dir, fuzz_counts, text) -> None:
    path = config_dir / "run.toml"
    path.write_text(text, encoding="utf-8")
    with time_limit():
        try:
            config = resolve(load_config(path))
        except MssfeError as exc:
            line = one_line(exc)
            if isinstance(exc, ConfigError) and exc.file is not None:
                assert str(path) in line
            fuzz_counts["config file (MssfeError)"] += 1
            return
    assert load_config_text_round_trips(config, config_dir)
    fuzz_counts["config file (config)"] += 1


def load_config_text_round_trips(config: Any, folder: Path) -> bool:
    """A valid config written as config.toml reads back as itself (what a run stores)."""
    again = folder / "again.toml"
    again.write_text(config_to_toml(config), encoding="utf-8")
    return bool(resolve(load_config(again)) == config)


# --------------------------------------------------------------------------- (f) run dirs

SOURCES = {
    "cube": {"path": "/data/cube.npy", "sha256": "a" * 64},
    "labels": {"path": "/data/labels.npy", "sha256": "b" * 64},
}
BASE = with_overrides(RunConfig(), {
    "model": "ms2fenet", "model_args": {"patch_size": 9, "n_components": 12},
    "data.cube": "/data/cube.npy", "data.labels": "/data/labels.npy", "data.split": "random:5",
    "optim.max_epochs": 4, "optim.batch_size": 16, "runtime.threads": 1})  # fmt: skip
TRAINED = 2  # the epochs the synthetic last.pt has trained


@pytest.fixture(scope="module")
def run_template() -> Iterator[Path]:
    """A synthetic interrupted run: config.toml, run.json, log.jsonl, last.pt, best.pt."""
    root = Path(tempfile.mkdtemp(prefix="mssfe-fuzz-runs-"))
    run = RunDir(root / "template")
    run.path.mkdir()
    config = resolve(BASE)
    run.config_file.write_text(config_to_toml(config))
    scene = Scene("SalinasA", np.zeros((2, 2, 3), np.float32), np.ones((2, 2), np.int64),
                  ("a",), (1,), ("#000000",), sources=SOURCES)  # fmt: skip
    record = RunRecord.of_run(config, scene, None, finished=False)
    run.record_file.write_text(json.dumps(record.to_json()))
    for epoch in range(1, TRAINED + 1):
        run.append_log(EpochRecord(epoch=epoch, loss=1.0 / epoch, train_acc=0.5, val_loss=1.0,
                                   val_acc=0.5, lr=1e-3, seconds=0.1))  # fmt: skip
    weights = {"w": torch.zeros(3)}
    save_checkpoint(run.best_checkpoint, {"model": weights, "epoch": TRAINED})
    save_checkpoint(run.last_checkpoint, {
        "model": weights, "optimizer": {}, "scheduler": {}, "rng": {}, "epoch": TRAINED,
        "best_score": None, "best_epoch": 1, "bad_epochs": 0, "train_seconds": 0.1,
        "identity": RunIdentity.of(config, SOURCES).to_text()})  # fmt: skip
    yield run.path
    shutil.rmtree(root, ignore_errors=True)


EDITS = {  # config.toml line -> other values
    "lr = 0.001": ["lr = 0.5", "lr = 0.0011", "lr = 1e-3", "lr = -1.0", 'lr = "fast"'],
    "patch_size = 9": ["patch_size = 11", "patch_size = 8", "patch_size = 9"],
    'cube = "/data/cube.npy"': ['cube = "/data/other.npy"', 'cube = "cube.npy"'],
    "max_epochs = 4": ["max_epochs = 6", "max_epochs = 1", "max_epochs = 0"],
    "seed = 0": ["seed = 1", "seed = -1"],
    "threads = 1": ["threads = 2", "threads = 0"],
}
ASKED = {  # options given with --resume, as config overrides
    "optim.lr": [0.001, 0.5],
    "optim.max_epochs": [1, 2, 4, 9],
    "optim.patience": [1, 50],
    "optim.batch_size": [16, 32],
    "model_args.patch_size": [9, 11],
    "runtime.threads": [1, 2],
    "data.split": ["random:5", "random:3"],
}


@st.composite
def run_states(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """One to three damages of a run directory, each (kind, detail)."""
    kinds = st.sampled_from(["edit config", "cut config", "best over last", "foreign last",
                             "cut last", "garbage last", "no last", "cut record", "no record",
                             "other data", "cut log", "asked"])  # fmt: skip
    out = []
    for kind in draw(st.lists(kinds, min_size=1, max_size=3)):
        if kind == "edit config":
            line = draw(st.sampled_from(sorted(EDITS)))
            out.append((kind, (line, draw(st.sampled_from(EDITS[line])))))
        elif kind == "asked":
            field = draw(st.sampled_from(sorted(ASKED)))
            out.append((kind, (field, draw(st.sampled_from(ASKED[field])))))
        elif kind == "foreign last":
            field = draw(st.sampled_from(["optim.lr", "model", "data.cube", "sha"]))
            out.append((kind, field))
        else:
            out.append((kind, draw(st.floats(0.0, 1.0))))
    return out


def damage(run: RunDir, kind: str, detail: Any, state: dict[str, Any]) -> None:
    """Apply one damage to ``run``; ``state`` collects the sources and options asked."""
    if kind == "edit config":
        old, new = detail
        text = run.config_file.read_text()
        run.config_file.write_text(text.replace(old, new, 1))
    elif kind == "cut config":
        data = run.config_file.read_bytes()
        run.config_file.write_bytes(data[: int(len(data) * detail)])
    elif kind == "best over last":
        shutil.copy(run.best_checkpoint, run.last_checkpoint)
    elif kind == "foreign last" and run.last_checkpoint.exists():
        try:
            checkpoint = load_checkpoint(run.last_checkpoint)
        except MssfeError:
            return
        other = {"optim.lr": {"optim.lr": 0.3}, "model": {"model": "cnn3d", "model_args": {}},
                 "data.cube": {"data.cube": "/elsewhere.npy"}, "sha": {}}[detail]  # fmt: skip
        sources = {**SOURCES, "cube": {"path": "/data/cube.npy", "sha256": "c" * 64}}
        identity = RunIdentity.of(resolve(with_overrides(BASE, other)),
                                  sources if detail == "sha" else SOURCES)  # fmt: skip
        save_checkpoint(run.last_checkpoint, {**checkpoint, "identity": identity.to_text()})
    elif kind in ("cut last", "garbage last") and run.last_checkpoint.exists():
        data = run.last_checkpoint.read_bytes()
        cut = int(len(data) * detail)
        run.last_checkpoint.write_bytes(data[:cut] if kind == "cut last" else data[:cut] + b"\x00x")
    elif kind == "no last":
        run.last_checkpoint.unlink(missing_ok=True)
    elif kind == "cut record" and run.record_file.exists():
        data = run.record_file.read_bytes()
        run.record_file.write_bytes(data[: int(len(data) * detail)])
    elif kind == "no record":
        run.record_file.unlink(missing_ok=True)
    elif kind == "other data":
        state["sources"] = {**SOURCES, "labels": {"path": "/data/labels.npy", "sha256": "d" * 64}}
    elif kind == "cut log":
        data = run.log_file.read_bytes()
        run.log_file.write_bytes(data[: int(len(data) * detail)] + b"\xff")
    elif kind == "asked":
        field, value = detail
        state["asked"][field] = value


def resume_checks(run: RunDir, asked: dict[str, Any], sources: dict[str, Any]) -> Any:
    """What ``mssfe train --resume RUN`` checks before its first epoch, in the trainer's order."""
    stored = stored_config(run)
    config = stored
    if asked:
        asked_config = with_overrides(load_config(run.config_file), asked)
        config = resumed_config(run, stored, resolve(asked_config))
    check_data(run, sources)
    if run.has_checkpoint():
        check_checkpoint(run, load_checkpoint(run.last_checkpoint), config, sources)
    return config


@pytest.mark.filterwarnings("ignore")
@settings(FUZZ, max_examples=RUNDIR_EXAMPLES)
@given(states=run_states())
def test_resume_checks_pass_only_a_consistent_run_directory(
    run_template, fuzz_counts, states
) -> None:
    run = RunDir(Path(tempfile.mkdtemp(dir=run_template.parent)) / "run")
    shutil.copytree(run_template, run.path)
    state: dict[str, Any] = {"sources": SOURCES, "asked": {}}
    for kind, detail in states:
        damage(run, kind, detail, state)
    with time_limit():
        try:
            for warning in run.repair_log(TRAINED):  # never raises; names the file
                assert str(run.log_file) in warning and "\n" not in warning
            config = resume_checks(run, state["asked"], state["sources"])
        except MssfeError as exc:
            one_line(exc)
            fuzz_counts["run directory (refused, MssfeError)"] += 1
            return
        finally:
            assert all(e.epoch <= TRAINED for e in run.read_log())
            for line in run.log_file.read_text().splitlines():
                json.loads(line)  # the repaired log is whole
    # accepted: config.toml, the options asked, the data and last.pt describe the same run
    # (a directory with neither run.json nor last.pt, a run started before runs recorded
    # themselves and stopped before its first checkpoint, has nothing to check against)
    original = resolve(BASE)
    if not run.record_file.exists() and not run.has_checkpoint():
        fuzz_counts["run directory (nothing recorded to check)"] += 1
        return
    assert first_difference(comparable(original), comparable(config), ignore=EXTENDABLE) is None
    assert state["sources"] == SOURCES
    assert config.gradient_optim.max_epochs >= TRAINED or not run.has_checkpoint()
    if run.has_checkpoint():
        checkpoint = load_checkpoint(run.last_checkpoint)
        assert all(key in checkpoint for key in LAST_EPOCH_KEYS)
        assert RunIdentity.from_text(checkpoint["identity"]) == RunIdentity.of(original, SOURCES)
    fuzz_counts["run directory (resumable)"] += 1
