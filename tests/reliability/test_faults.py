"""Faults while running: SIGKILL mid-training, full disk, unwritable output, killed benchmark,
and untrusted files (pickles in .npy or checkpoints, path tricks in split files)."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mssfe.data.readers import load_cube
from mssfe.data.splits import Split, make_split
from mssfe.errors import CheckpointError, DataError, MssfeError
from mssfe.training.checkpoint import load_checkpoint, save_checkpoint
from mssfe.utils import atomic
from mssfe.utils.atomic import atomic_write_json

TRAIN = ["train", "--scene", "SalinasA", "--model", "ms2fenet", "--model-arg", "patch_size=9",
         "--model-arg", "n_components=12", "--split", "random:10", "--epochs", "6",
         "--patience", "10", "--batch-size", "16", "--threads", "1", "--no-progress",
         "--seed", "0"]  # fmt: skip
RUN = Path("SalinasA/ms2fenet/random-10/seed0")


def mssfe(*argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "mssfe", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def finish(proc: subprocess.Popen[bytes], timeout: float = 240) -> None:
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-2000:]


def kill_when(proc: subprocess.Popen[bytes], ready, timeout: float = 240) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "process made no progress"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def log_lines(run_dir: Path) -> int:
    try:
        return len((run_dir / "log.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


def assert_complete(run_dir: Path) -> None:
    """Every file a reader would use is whole: checkpoints load, JSON parses."""
    for name in ("last.pt", "best.pt"):
        if (run_dir / name).exists():
            load_checkpoint(run_dir / name)
    for path in run_dir.glob("*.json"):
        json.loads(path.read_text())
    if (run_dir / "split.npz").exists():
        Split.load(run_dir / "split.npz")
    for line in (run_dir / "log.jsonl").read_text().splitlines()[:-1]:
        json.loads(line)  # the last line may be cut by the kill; resume rewrites the log


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Kill at epoch k1, resume, kill the resumed run at k2, resume again: same final weights."""
    rng = np.random.default_rng(2024)
    k1 = int(rng.integers(1, 3))  # 1 or 2
    k2 = int(rng.integers(k1 + 2, 5))  # 3 or 4
    reference = mssfe(*TRAIN, "--out", str(tmp_path / "ref"))
    interrupted = tmp_path / "int"
    run_dir = interrupted / RUN
    first = mssfe(*TRAIN, "--out", str(interrupted))
    killed = [kill_when(first, lambda: log_lines(run_dir) >= k1)]
    assert_complete(run_dir)
    second = mssfe("train", "--resume", str(run_dir), "--no-progress", "--threads", "1")
    killed.append(kill_when(second, lambda: log_lines(run_dir) >= k2))
    assert_complete(run_dir)
    finish(mssfe("train", "--resume", str(run_dir), "--no-progress"))
    finish(reference)
    assert any(killed), "both kills came too late to test anything"
    got = load_checkpoint(run_dir / "last.pt")
    want = load_checkpoint(tmp_path / "ref" / RUN / "last.pt")
    assert got["epoch"] == want["epoch"] == 6
    assert got["model"].keys() == want["model"].keys()
    for key, tensor in want["model"].items():
        assert torch.equal(got["model"][key], tensor), key
    epochs = [
        json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()
    ]
    assert sorted(set(epochs)) == [1, 2, 3, 4, 5, 6]
    ref_metrics = json.loads((tmp_path / "ref" / RUN / "metrics.json").read_text())["metrics"]
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"] == ref_metrics


def test_kill_before_first_checkpoint_leaves_no_duplicate_log_line(tiny, monkeypatch) -> None:
    from mssfe.training import trainer
    from mssfe.training.config import RunConfig, with_overrides

    config = with_overrides(RunConfig(), {
        "model": "ms2fenet", "model_args": {"patch_size": 9, "n_components": 12},
        "data.cube": str(tiny["cube"]), "data.labels": str(tiny["labels"]),
        "data.split": "random:5", "optim.max_epochs": 2, "optim.batch_size": 16,
        "runtime.progress": False, "runtime.threads": 1})  # fmt: skip
    run_dir = tiny["dir"] / "run"
    real_save = trainer.save_checkpoint

    def die_on_last(path, state):
        if Path(path).name == "last.pt":
            raise KeyboardInterrupt  # the process dies here (SIGKILL in the real world)
        real_save(path, state)

    monkeypatch.setattr(trainer, "save_checkpoint", die_on_last)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, run_dir)
    monkeypatch.undo()
    trainer.train(None, run_dir, resume=True)
    epochs = [
        json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2]


@pytest.mark.slow
def test_benchmark_killed_and_restarted_loses_and_doubles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", "--split", "random:5",
            "--seeds", "3", "--threads", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    cells = out / "SalinasA" / "random-5" / "svm"
    kill_when(mssfe(*argv), lambda: any(cells.glob("seed*/metrics.json")))
    finish(mssfe(*argv))
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert len(rows) == 1 and rows[0]["model"] == "svm"
    assert rows[0]["seeds"] == [0, 1, 2]
    assert sorted(p.parent.name for p in cells.glob("seed*/metrics.json")) == [
        "seed0",
        "seed1",
        "seed2",
    ]


# --------------------------------------------------------------------------- full disk


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_saving_a_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})
    before = path.read_bytes()
    monkeypatch.setattr(atomic.os, "fsync", _enospc)
    with pytest.raises(MssfeError) as info:
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    assert str(info.value) == f"cannot write {path}: No space left on device"
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temp file left


def test_full_disk_while_writing_metrics(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"oa": 0.5})

    class FullFile:
        def __init__(self, handle):
            self._handle = handle

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._handle.__exit__(*exc)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: FullFile(real_fdopen(*a, **k)))
    with pytest.raises(MssfeError, match=r"cannot write .*metrics.json: No space left on device"):
        atomic_write_json(path, {"oa": 0.9})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"oa": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_unwritable_output_directory(cli, tiny) -> None:
    """The output's parent is a regular file (chmod cannot stop root; this stops everyone)."""
    blocker = tiny["dir"] / "blocker"
    blocker.write_text("I am a file")
    r = cli("train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]),
            "--model", "svm", "--split", "random:3", "--no-progress",
            "--out", str(blocker / "runs"))  # fmt: skip
    assert r.rc == 2
    (line,) = r.err.strip().splitlines()
    assert line.startswith("mssfe: error: ") and "Traceback" not in r.err
    assert str(blocker) in line
    assert blocker.read_text() == "I am a file"


def test_read_only_directory_keeps_previous_file(tmp_path: Path, monkeypatch) -> None:
    """EROFS / EACCES when creating the temporary file: clear error, old file intact."""
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"oa": 0.5})

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(MssfeError, match=r"cannot write .*metrics.json: Read-only file system"):
        atomic_write_json(path, {"oa": 0.9})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"oa": 0.5}


# --------------------------------------------------------------------------- untrusted data


class _Boom:
    """Unpickling this runs code: the test fails if it ever is."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/mssfe-pwned-by-pickle",))


def test_npy_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([_Boom(), 1], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=str(path)) as info:
        load_cube(path)
    assert "allow_pickle" in str(info.value) or "Object arrays" in str(info.value)
    assert not Path("/tmp/mssfe-pwned-by-pickle").exists()


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, cube=np.array([_Boom()], dtype=object))
    with pytest.raises(DataError, match=str(path)):
        load_cube(path)
    assert not Path("/tmp/mssfe-pwned-by-pickle").exists()


def test_checkpoint_with_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    torch.save({"format": "mssfe-checkpoint", "format_version": 1, "x": _Boom()}, path)
    with pytest.raises(CheckpointError, match="not a readable mssfe checkpoint") as info:
        load_checkpoint(path)
    assert "Traceback" not in str(info.value)
    assert not Path("/tmp/mssfe-pwned-by-pickle").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not a readable mssfe checkpoint"),
        (b"\x80\x04garbage" * 10, "not a readable mssfe checkpoint"),
        (pickle.dumps({"a": 1}), "not a readable mssfe checkpoint"),
    ],
    ids=["empty", "garbage", "plain-pickle"],
)
def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "last.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(path)


def test_foreign_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises(
        CheckpointError, match="field 'format': expected 'mssfe-checkpoint', got None"
    ):
        load_checkpoint(path)


def test_split_file_cannot_make_the_tool_write_outside_the_run_dir(cli, tmp_path: Path) -> None:
    """A split .npz whose metadata holds path tricks is only read; outputs stay in --out."""
    import json as _json

    from mssfe.data.scenes import load_scene

    labels = load_scene("SalinasA", labels_only=True).labels
    good = make_split(labels, "random:5", seed=0, patch_size=9)
    evil = tmp_path / "evil_split.npz"
    meta = {"format": "mssfe-split", "version": 1, "shape": list(good.shape),
            "protocol": "../../escaped", "seed": 0, "patch_size": 9,
            "notes": ["/tmp/escaped-absolute", "../../x"]}  # fmt: skip
    np.savez(evil, train=good.train, val=good.val, test=good.test,
             metadata=np.array(_json.dumps(meta)))  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    out = work / "runs"
    before = set(tmp_path.rglob("*"))
    r = cli("train", "--scene", "SalinasA", "--model", "svm", "--split", f"file:{evil}",
            "--no-progress", "--out", str(out))  # fmt: skip
    assert r.rc == 0, r.err
    written = set(tmp_path.rglob("*")) - before
    outside = [p for p in written if out not in p.parents and p != out]
    assert outside == [], outside
    assert not Path("/tmp/escaped-absolute").exists()
    # the run directory is named from the (sanitised) protocol text, inside --out
    assert all(out in p.parents for p in out.rglob("metrics.json"))


def test_split_text_with_dotdot_stays_inside_out(cli, tmp_path: Path) -> None:
    """``--split file:../../x.npz`` names a file to read; the run dir name is sanitised."""
    from mssfe.training.config import RunConfig, with_overrides
    from mssfe.workflows.train import run_dir_for

    config = with_overrides(RunConfig(), {"data.split": "file:../../../etc/x.npz",
                                          "data.scene": "../../evil"})  # fmt: skip
    run_dir = run_dir_for(tmp_path / "out", config)
    assert (tmp_path / "out") in run_dir.parents
    assert ".." not in run_dir.relative_to(tmp_path / "out").parts


def test_ensure_dir_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(
        MssfeError, match=r"cannot create directory .*blocker/runs: Not a directory"
    ):
        atomic.ensure_dir(blocker / "runs")
    assert blocker.read_text() == "x"


def test_atomic_open_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(
        MssfeError, match=r"cannot create directory .*blocker: a file of that name is in the way"
    ):
        atomic_write_json(blocker / "metrics.json", {})


def test_resume_from_a_corrupt_checkpoint_is_one_clear_line(cli, tiny) -> None:
    """`mssfe train --resume` on a run whose last.pt was cut: an error naming the file, no
    pickle traceback, and the damaged file is left for the user to inspect."""
    out = tiny["dir"] / "runs"
    r = cli("train", "--cube", str(tiny["cube"]), "--labels", str(tiny["labels"]),
            "--model", "ms2fenet", "--model-arg", "patch_size=9", "--model-arg", "n_components=12",
            "--split", "random:5", "--epochs", "1", "--threads", "1", "--no-progress",
            "--out", str(out))  # fmt: skip
    assert r.rc == 0, r.err
    (run_dir,) = out.glob("*/*/*/seed0")
    checkpoint = run_dir / "last.pt"
    cut = checkpoint.read_bytes()[:100]
    checkpoint.write_bytes(cut)
    r = cli("train", "--resume", str(run_dir), "--no-progress")
    assert r.rc == 2
    (line,) = r.err.strip().splitlines()
    assert line.startswith("mssfe: error: ") and str(checkpoint) in line
    assert "Traceback" not in r.err and "pickle" not in line.lower()
    assert checkpoint.read_bytes() == cut
