"""Suite-wide isolation: tests never read or write the developer's real cache or data dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
