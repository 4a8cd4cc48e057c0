"""Benchmark scripts that must run in one call on a lent GPU run here as a CPU smoke."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA the script measures for minutes")
def test_gpu_resident_says_no_cuda_and_writes_its_smoke_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("gpu_resident", SCRIPTS / "gpu_resident.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_resident", script)  # its dataclasses look it up
    spec.loader.exec_module(script)
    out = tmp_path / "table.md"
    assert script.main(["--out", str(out)]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    text = out.read_text()
    assert "CPU smoke run (no CUDA device): not a GPU measurement" in text
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| authors") or line.startswith("| ours")
    ]
    assert [r.split(" | ")[:2] for r in rows] == [
        ["| authors", "host"],
        ["| authors", "device"],
        ["| ours", "host"],
        ["| ours", "device"],
    ]
