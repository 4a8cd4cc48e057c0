"""Two writers, one directory: real concurrent processes; a lock left by a SIGKILLed run is
taken over; files are created with the process umask's mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mssfe.utils.atomic import atomic_write_text
from mssfe.utils.lock import LOCK_FILE, DirectoryBusyError, directory_lock

TRAIN = ["train", "--scene", "SalinasA", "--model", "ms2fenet", "--model-arg", "patch_size=9",
         "--model-arg", "n_components=10", "--split", "random:0.4", "--patience", "50",
         "--batch-size", "16", "--threads", "1", "--no-progress", "--seed", "0"]  # fmt: skip
RUN = Path("SalinasA/ms2fenet/random-0.4/seed0")


def mssfe(*argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "mssfe", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def wait_for(ready, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the first writer made no progress"
        time.sleep(0.01)


def holder(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / LOCK_FILE).read_text() or "{}")
    except (FileNotFoundError, ValueError):
        return {}


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mssfe", *argv], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip


def test_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / RUN
    first = mssfe(*TRAIN, "--epochs", "6", "--lr", "0.01", "--out", str(tmp_path))
    wait_for(lambda: holder(run_dir).get("pid") == first.pid, first)
    seconds = [  # started together while the first trains (its 6 epochs take ~20 s)
        mssfe(*TRAIN, "--epochs", "6", "--lr", "0.01", "--out", str(tmp_path)),
        mssfe("train", "--resume", str(run_dir)),
        mssfe(*TRAIN, "--epochs", "6", "--lr", "0.002", "--out", str(tmp_path)),
    ]
    (same, resume, other) = [(p.wait(timeout=240), p.communicate()[1].decode()) for p in seconds]
    assert first.poll() is None, "the first run ended before the second writers were checked"
    for rc, err in (same, resume):  # the same run twice: refused by the lock, naming its holder
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert str(run_dir) in err and f"process {first.pid}" in err and "--lr 0.01" in err
    assert other[0] == 2 and "optim.lr (stored 0.01, asked 0.002)" in other[1]
    _out, first_err = first.communicate(timeout=240)
    assert first.returncode == 0, first_err.decode()[-2000:]
    assert "lr = 0.01" in (run_dir / "config.toml").read_text()
    epochs = [json.loads(x)["epoch"] for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4, 5, 6]  # every epoch logged once
    assert holder(run_dir) == {}  # released on exit


def test_lock_of_a_killed_run_is_taken_over_and_the_run_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / RUN
    first = mssfe(*TRAIN, "--epochs", "3", "--out", str(tmp_path))
    wait_for(lambda: (run_dir / "last.pt").exists(), first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert holder(run_dir).get("pid") == first.pid  # the dead process's record is left behind
    again = run_cli("train", "--resume", str(run_dir))
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"took over the lock left by process {first.pid}" in again.stderr
    assert (run_dir / "metrics.json").exists() and holder(run_dir) == {}


def test_lock_refuses_a_second_holder_in_process_and_frees_on_exit(tmp_path: Path) -> None:
    busy = pytest.raises(DirectoryBusyError, match="benchmark directory is being written by")
    with directory_lock(tmp_path), busy, directory_lock(tmp_path, "benchmark directory"):
        pass
    with directory_lock(tmp_path):  # released: free again
        pass


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped by init, counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killed_benchmark_leaves_no_worker_training(tmp_path: Path) -> None:
    """SIGKILL a two-job benchmark mid-cell: both pool workers stop within seconds, releasing
    their cells' locks as Ctrl-C would, and the queued third cell is never started (before,
    they trained on, orphaned, for minutes, then took the queued cells)."""
    out = tmp_path / "bench"
    bench = mssfe("benchmark", "--scenes", "SalinasA", "--models", "ms2fenet", "--split",
                  "random:0.4", "--seeds", "3", "--epochs", "500", "--patience", "500",
                  "--jobs", "2", "--threads", "1", "--no-progress", "--out", str(out))  # fmt: skip
    cells = [out / "SalinasA" / "random-0.4" / "ms2fenet" / f"seed{s}" for s in (0, 1, 2)]
    running = cells[:2]  # two workers; seed 2 waits in the pool's call queue
    wait_for(lambda: all(holder(c).get("pid") not in (None, bench.pid) for c in running), bench)
    workers = [holder(c)["pid"] for c in running]
    os.kill(bench.pid, signal.SIGKILL)
    bench.wait()
    deadline = time.monotonic() + 20  # well inside the watch's 30 s grace: they stop, not time out
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), f"workers {workers} still training"
    assert [holder(c) for c in running] == [{}, {}]  # unwound: each lock released, not abandoned
    assert not (cells[2] / "config.toml").exists()  # the queued cell was not started
