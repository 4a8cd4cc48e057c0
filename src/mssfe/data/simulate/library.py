"""Measured reflectance spectra from the ``earthlib`` spectral library.

The library (ENVI, ~7,000 spectra, 400-2450 nm at 10 nm with the water-absorption gaps left
out) is read once with :mod:`spectral` and kept at its own sampling; :func:`grid_matrix`
gives the linear map onto a regular 1 nm grid from 400 to 2500 nm, on which a sensor's
Gaussian responses are applied. Gaps and the tail past 2450 nm are filled by linear
interpolation and by holding the last value: those wavelengths fall in the bands the
corrected scenes drop, so the filler never dominates a kept band.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from mssfe.errors import DataError

GRID_NM = np.arange(400.0, 2501.0, 1.0)  # the common fine wavelength grid, nm
_PROSAIL_NAME = re.compile(
    r"v-LAI-(?P<lai>[\d.]+)-LMA-(?P<lma>[\d.]+)-CHL-(?P<chl>[\d.]+)-N-(?P<n>[\d.]+)"
)


@dataclass(frozen=True)
class SpectralLibrary:
    """Reflectance spectra at the library's wavelengths with the category of each.

    ``spectra`` is (N, L) reflectance in [0, ~1] at ``wavelengths`` (nm); ``category`` the
    library's LEVEL_3 name
    (``soil``, ``canopy``, ``asphalt``, ``metal``...); ``params`` the PROSAIL parameters
    (lai, lma, chl, n) of modelled canopies, NaN for measured spectra.
    """

    names: tuple[str, ...]
    category: np.ndarray  # (N,) str
    spectra: np.ndarray  # (N, L) float64
    wavelengths: np.ndarray  # (L,) nm
    params: dict[str, np.ndarray]  # each (N,) float64

    def indices(self, category: str) -> np.ndarray:
        """Indices of the spectra of one LEVEL_3 category, in library order."""
        return np.flatnonzero(self.category == category)

    def categories(self) -> list[str]:
        return sorted(set(self.category.tolist()))


def _earthlib_dir() -> Path:
    try:
        return Path(str(resources.files("earthlib") / "data"))
    except ModuleNotFoundError as exc:  # pragma: no cover - earthlib is a dependency
        raise DataError("the earthlib package is needed for simulated scenes") from exc


def _read_metadata(csv_path: Path, names: list[str]) -> np.ndarray:
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # rows are in library order; earthlib 1.1 spells one name differently in the two files
    # ('burnedcham' / 'burncham'), so demand order agreement, not perfect spelling
    same = len(rows) == len(names) and sum(
        r["NAME"] == n for r, n in zip(rows, names, strict=False)
    ) >= 0.99 * len(names)
    if not same:
        raise DataError(
            "spectra metadata does not match the library",
            file=csv_path,
            field="NAME",
            expected=f"{len(names)} rows in library order",
            got=f"{len(rows)} rows",
        )
    return np.array([r["LEVEL_3"] for r in rows])


def _prosail_params(names: list[str]) -> dict[str, np.ndarray]:
    params = {k: np.full(len(names), np.nan) for k in ("lai", "lma", "chl", "n")}
    for i, name in enumerate(names):
        match = _PROSAIL_NAME.fullmatch(name)
        if match:
            for key, value in match.groupdict().items():
                params[key][i] = float(value)
    return params


def grid_matrix(wavelengths_nm: np.ndarray) -> np.ndarray:
    """(L, G) matrix: ``spectra @ M`` interpolates (N, L) spectra linearly onto GRID_NM."""
    basis = np.eye(wavelengths_nm.size)
    return np.stack([np.interp(GRID_NM, wavelengths_nm, row) for row in basis])


@functools.lru_cache(maxsize=1)
def load_library() -> SpectralLibrary:
    """The earthlib library (read once per process)."""
    import spectral

    root = _earthlib_dir()
    hdr = root / "spectra.sli.hdr"
    if not hdr.is_file():
        raise DataError("earthlib spectral library not found", file=hdr)
    lib = spectral.envi.open(str(hdr), str(root / "spectra.sli"))
    names = [str(n).strip() for n in lib.names]
    wavelengths = np.asarray(lib.bands.centers, dtype=float) * 1000.0  # micrometres -> nm
    spectra = np.clip(np.asarray(lib.spectra, dtype=np.float64), 0.0, None)
    return SpectralLibrary(
        names=tuple(names),
        category=_read_metadata(root / "spectra.csv", names),
        spectra=spectra,
        wavelengths=wavelengths,
        params=_prosail_params(names),
    )
