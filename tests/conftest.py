"""Suite-wide isolation: tests never read or write the developer's real cache or data dirs."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

# fuzz-case counts sent by pytest-xdist workers (tests/reliability/conftest.py), summed here
_FUZZ_TOTALS: Counter[str] = Counter()


class _FuzzTotals:
    @staticmethod
    def pytest_testnodedown(node: Any, error: Any) -> None:
        _FUZZ_TOTALS.update(getattr(node, "workeroutput", {}).get("mssfe_fuzz", {}))


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_FuzzTotals(), "mssfe-fuzz-totals")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    totals = _FUZZ_TOTALS + Counter(getattr(config, "mssfe_fuzz_counts", {}))
    if not totals:
        return
    terminalreporter.section("mssfe fuzz cases run")
    for name, count in sorted(totals.items()):
        terminalreporter.write_line(f"{name}: {count}")
    terminalreporter.write_line(f"total: {sum(totals.values())}")
    report = os.environ.get("MSSFE_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(dict(sorted(totals.items())), indent=2) + "\n")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("mssfe-cache")
    old = {k: os.environ.get(k) for k in ("MSSFE_CACHE_DIR", "MSSFE_DATA_DIR")}
    os.environ["MSSFE_CACHE_DIR"] = str(cache)
    os.environ.pop("MSSFE_DATA_DIR", None)
    yield cache
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
