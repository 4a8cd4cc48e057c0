"""The error panel's colours can never be mistaken for a class colour in the shared legend."""

from __future__ import annotations

import numpy as np
import pytest

from mssfe.data.registry import PALETTE
from mssfe.data.scenes import all_scene_infos
from mssfe.viz.colours import (
    CORRECT_COLOUR,
    TRAIN_COLOUR,
    UNLABELLED_COLOUR,
    WRONG_COLOUR,
    hex_to_rgb,
)

# Machado, Oliveira, Fernandes (2009), severity 1.0, on linear RGB
DEUTAN = np.array(
    [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ]
)
PROTAN = np.array(
    [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ]
)


def _linear(colour: str) -> np.ndarray:
    srgb = np.array(hex_to_rgb(colour)) / 255.0
    return np.where(srgb > 0.04045, ((srgb + 0.055) / 1.055) ** 2.4, srgb / 12.92)


def _lab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear RGB."""
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(linear, 0.0, 1.0) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, vision: np.ndarray | None = None) -> float:
    """CIE76 distance, optionally as seen with a colour-vision deficiency."""
    la, lb = _linear(a), _linear(b)
    if vision is not None:
        la, lb = vision @ la, vision @ lb
    return float(np.linalg.norm(_lab(la) - _lab(lb)))


def _class_colours() -> set[str]:
    colours = {c.upper() for c in PALETTE}
    for info in all_scene_infos():
        colours |= {c.upper() for c in info.class_colours}
    return colours


@pytest.mark.parametrize("error_colour", [CORRECT_COLOUR, WRONG_COLOUR])
def test_error_colours_are_far_from_every_class_colour(error_colour: str) -> None:
    nearest = min(_class_colours(), key=lambda c: delta_e(error_colour, c))
    assert delta_e(error_colour, nearest) > 50, (error_colour, nearest)


@pytest.mark.parametrize("vision", [None, DEUTAN, PROTAN], ids=["normal", "deutan", "protan"])
def test_correct_and_wrong_stand_apart_in_the_error_panel(vision: np.ndarray | None) -> None:
    others = [WRONG_COLOUR, TRAIN_COLOUR, UNLABELLED_COLOUR]
    assert min(delta_e(CORRECT_COLOUR, c, vision) for c in others) > 40
    others = [TRAIN_COLOUR, UNLABELLED_COLOUR]
    assert min(delta_e(WRONG_COLOUR, c, vision) for c in others) > 40
