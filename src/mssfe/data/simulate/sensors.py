"""Target sensors: band centres, widths, and resampling with Gaussian response functions.

Band centres are approximations, documented here rather than measured:

* ``AVIRIS-IndianPines``: the 220-band Indian Pines product, taken as 220 evenly spaced
  centres from 400 to 2500 nm (~9.6 nm apart, FWHM 10 nm); the corrected scene drops the
  water-absorption bands 104-108, 150-163 and 220 (1-based), leaving 200.
* ``AVIRIS-Salinas``: the 224 AVIRIS channels, evenly spaced from 400 to 2500 nm (~9.4 nm,
  FWHM 10 nm); the corrected scene drops 108-112, 154-167 and 224, leaving 204.
* ``ROSIS``: 103 bands evenly spaced from 430 to 860 nm (~4.2 nm, FWHM the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mssfe.data.simulate.library import GRID_NM, grid_matrix
from mssfe.errors import ConfigError


@dataclass(frozen=True)
class Sensor:
    """Band centres and full widths at half maximum, both (B,) in nm."""

    name: str
    centres: np.ndarray
    fwhm: np.ndarray

    @property
    def n_bands(self) -> int:
        return int(self.centres.size)


def _drop_bands(centres: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Remove 1-based inclusive band ranges, as the 'corrected' scenes do."""
    keep = np.ones(centres.size, dtype=bool)
    for first, last in ranges:
        keep[first - 1 : last] = False
    return centres[keep]


def _even(
    first: float, last: float, n: int, fwhm: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    centres = np.linspace(first, last, n)
    width = fwhm if fwhm is not None else float(centres[1] - centres[0])
    return centres, np.full(n, width)


def _build_sensors() -> dict[str, Sensor]:
    ip = _drop_bands(np.linspace(400.0, 2500.0, 220), [(104, 108), (150, 163), (220, 220)])
    sa = _drop_bands(np.linspace(400.0, 2500.0, 224), [(108, 112), (154, 167), (224, 224)])
    rosis, rosis_fwhm = _even(430.0, 860.0, 103)
    return {
        "AVIRIS-IndianPines": Sensor("AVIRIS-IndianPines", ip, np.full(ip.size, 10.0)),
        "AVIRIS-Salinas": Sensor("AVIRIS-Salinas", sa, np.full(sa.size, 10.0)),
        "ROSIS": Sensor("ROSIS", rosis, rosis_fwhm),
    }


SENSORS: dict[str, Sensor] = _build_sensors()


def get_sensor(sensor: str | Sensor) -> Sensor:
    """A sensor by name (see :data:`SENSORS`), or the given one unchanged."""
    if isinstance(sensor, Sensor):
        return sensor
    try:
        return SENSORS[sensor]
    except KeyError:
        known = ", ".join(SENSORS)
        raise ConfigError(f"unknown sensor '{sensor}'; known sensors: {known}") from None


def response_matrix(sensor: Sensor) -> np.ndarray:
    """(G, B) Gaussian spectral responses on GRID_NM, each column summing to one."""
    sigma = sensor.fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    weights = np.exp(-0.5 * ((GRID_NM[:, None] - sensor.centres[None, :]) / sigma[None, :]) ** 2)
    return weights / weights.sum(axis=0, keepdims=True)


def resample(spectra: np.ndarray, wavelengths_nm: np.ndarray, sensor: str | Sensor) -> np.ndarray:
    """Band-average (N, L) spectra sampled at ``wavelengths_nm`` into the sensor's (N, B)."""
    target = get_sensor(sensor)
    return spectra @ (grid_matrix(wavelengths_nm) @ response_matrix(target))
