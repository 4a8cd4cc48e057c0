"""Shared pieces of the reliability suite: a CLI runner, tiny input files, the fuzz counter.

The fuzz properties count the examples they really ran (hypothesis may stop early when a
strategy is exhausted); tests/conftest.py prints the counts in pytest's terminal summary and,
when ``MSSFE_FUZZ_REPORT`` names a file, writes them there as JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mssfe.cli import main

FUZZ_COUNTS: Counter[str] = Counter()

H, W, B = 12, 12, 16


@pytest.fixture(scope="session")
def fuzz_counts() -> Counter[str]:
    """Examples run per fuzz property and outcome, for the end-of-session report."""
    return FUZZ_COUNTS


@dataclass(frozen=True)
class CliResult:
    rc: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``mssfe ARGV`` in-process; return exit code, stdout and stderr."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        rc = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(rc, captured.out, captured.err)

    return run


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    """A valid 12 x 12 x 16 float32 cube and a 2-class label map as .npy files."""
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(H, W, B)).astype(np.float32)
    labels = np.zeros((H, W), np.int64)
    labels[:6] = 1
    labels[6:] = 2
    np.save(tmp_path / "cube.npy", cube)
    np.save(tmp_path / "labels.npy", labels)
    return {"cube": tmp_path / "cube.npy", "labels": tmp_path / "labels.npy", "dir": tmp_path}


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Hand the counts to tests/conftest.py, which prints them: through pytest-xdist's
    worker output under xdist, else on the config object of this one process."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["mssfe_fuzz"] = dict(FUZZ_COUNTS)
    else:
        session.config.mssfe_fuzz_counts = dict(FUZZ_COUNTS)  # type: ignore[attr-defined]
