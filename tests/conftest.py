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


class GdalCategories:
    """Category names and raster attribute table of band 1, read by the GDAL library itself
    (the one rasterio ships, through ctypes), as QGIS or gdalinfo read them: rasterio has
    no API for either."""

    def __init__(self, library: str) -> None:
        import ctypes

        gdal = ctypes.CDLL(library)
        gdal.GDALAllRegister()
        gdal.GDALOpen.restype = ctypes.c_void_p
        gdal.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        gdal.GDALClose.argtypes = [ctypes.c_void_p]
        gdal.GDALGetRasterBand.restype = ctypes.c_void_p
        gdal.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
        gdal.GDALGetMetadata.restype = ctypes.c_void_p
        gdal.GDALGetMetadata.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        gdal.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
        gdal.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
        gdal.GDALGetDefaultRAT.restype = ctypes.c_void_p
        gdal.GDALGetDefaultRAT.argtypes = [ctypes.c_void_p]
        for name in ("GDALRATGetRowCount", "GDALRATGetColumnCount"):
            getattr(gdal, name).argtypes = [ctypes.c_void_p]
        gdal.GDALRATGetNameOfCol.restype = ctypes.c_char_p
        gdal.GDALRATGetNameOfCol.argtypes = [ctypes.c_void_p, ctypes.c_int]
        gdal.GDALRATGetValueAsString.restype = ctypes.c_char_p
        gdal.GDALRATGetValueAsString.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.gdal = gdal

    def __call__(self, path: Path) -> tuple[list[str], list[dict[str, str]]]:
        gdal = self.gdal
        dataset = gdal.GDALOpen(str(path).encode(), 0)
        assert dataset, f"GDAL cannot open {path}"
        try:
            band = gdal.GDALGetRasterBand(dataset, 1)
            gdal.GDALGetMetadata(band, None)  # loads the PAM sidecar, as gdalinfo does first
            names = gdal.GDALGetRasterCategoryNames(band)
            categories: list[str] = []
            while names and names[len(categories)] is not None:
                categories.append(names[len(categories)].decode())
            rat = gdal.GDALGetDefaultRAT(band)
            rows: list[dict[str, str]] = []
            if rat:
                columns = [
                    gdal.GDALRATGetNameOfCol(rat, c).decode()
                    for c in range(gdal.GDALRATGetColumnCount(rat))
                ]
                for r in range(gdal.GDALRATGetRowCount(rat)):
                    rows.append(
                        {
                            col: gdal.GDALRATGetValueAsString(rat, r, c).decode()
                            for c, col in enumerate(columns)
                        }
                    )
            return categories, rows
        finally:
            gdal.GDALClose(dataset)


@pytest.fixture(scope="session")
def gdal_categories() -> GdalCategories:
    import ctypes.util

    import rasterio

    bundled = sorted(Path(rasterio.__file__).parent.parent.glob("rasterio.libs/libgdal*"))
    library = str(bundled[0]) if bundled else ctypes.util.find_library("gdal")
    if not library:
        pytest.skip("no GDAL shared library found next to rasterio or on the system")
    return GdalCategories(library)
