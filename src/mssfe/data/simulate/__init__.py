"""Simulated hyperspectral scenes: real label layouts filled with library spectra.

See :mod:`mssfe.data.simulate.scene` for the model. Every result on such a scene must say
so: the registered names end in ``-sim``.
"""

from __future__ import annotations

from mssfe.data.simulate.recipes import Recipe, load_recipe
from mssfe.data.simulate.scene import (
    REFERENCE_SHA256,
    SIM_SCENES,
    SIMULATOR_VERSION,
    SimulatedScene,
    cached_simulation,
    cube_sha256,
    layout_labels,
    load_simulated,
    save_simulated,
    simulate,
    simulate_layout,
)
from mssfe.data.simulate.sensors import SENSORS, Sensor, get_sensor

__all__ = [
    "REFERENCE_SHA256",
    "SENSORS",
    "SIMULATOR_VERSION",
    "SIM_SCENES",
    "Recipe",
    "Sensor",
    "SimulatedScene",
    "cached_simulation",
    "cube_sha256",
    "get_sensor",
    "layout_labels",
    "load_recipe",
    "load_simulated",
    "save_simulated",
    "simulate",
    "simulate_layout",
]
