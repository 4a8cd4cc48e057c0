"""Checkpoints: round trip, RNG restore, refusal of corrupt and foreign files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from mssfe.errors import CheckpointError
from mssfe.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def test_round_trip_keeps_tensors_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    save_checkpoint(path, {"model": weights, "epoch": 3, "history": [{"loss": 0.5}]})
    state = load_checkpoint(path)
    assert state["epoch"] == 3
    assert torch.equal(state["model"]["w"], weights["w"])
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_rng_state_restores_all_generators(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    saved = capture_rng_state()
    save_checkpoint(tmp_path / "ck.pt", {"rng": saved})
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(load_checkpoint(tmp_path / "ck.pt")["rng"])
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.zeros(1000)}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck\.pt"):
        load_checkpoint(path)


def test_random_bytes_and_foreign_checkpoint_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(foreign)


class _Evil:
    def __reduce__(self):  # would run code if unpickled without weights_only
        return (print, ("pwned",))


def test_pickled_objects_are_never_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "mssfe-checkpoint", "format_version": 1, "x": _Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
