"""`mssfe predict` under torchrun: 2 ranks split the row tiles, rank 0 writes one map that
equals the single-process map."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def _predict(run_dir: Path, out: Path, nproc: int) -> None:
    args = [
        "-m",
        "mssfe",
        "predict",
        str(run_dir),
        "--scene",
        "SalinasA",
        "--out",
        str(out),
        "--tile-rows",
        "8",
        "--no-progress",
        "--probabilities",
        "--device",
        "cpu",
    ]
    launcher = (
        []
        if nproc == 1
        else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    )
    cmd = [sys.executable, *launcher, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_rank_prediction_equals_one_rank(shared_run: Path, tmp_path: Path) -> None:
    _predict(shared_run, tmp_path / "one", 1)
    _predict(shared_run, tmp_path / "two", 2)
    one = np.load(tmp_path / "one" / "class_map.npy")
    two = np.load(tmp_path / "two" / "class_map.npy")
    assert one.shape == (83, 86) and one.min() >= 1
    np.testing.assert_array_equal(one, two)
    assert set(np.unique(one)) <= {1, 10, 11, 12, 13, 14}  # Salinas-A's own label codes
    np.testing.assert_allclose(
        np.load(tmp_path / "one" / "probabilities.npy"),
        np.load(tmp_path / "two" / "probabilities.npy"),
        rtol=1e-5,
        atol=1e-6,
    )
