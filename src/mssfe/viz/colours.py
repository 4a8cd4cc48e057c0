"""Colours shared by the figures and the GeoTIFF colour tables (no matplotlib import here).

Class colours belong to a scene (``mssfe.data.registry``); these are the colours of the
error panel, which must read the same in every figure. The error panel shares its legend with
the class colours, so "correct" and "wrong" must be none of them: they are far (CIELAB
distance > 50) from every colour of the default palette and of every registered scene, and
from each other under deutan and protan colour vision (tests/viz/test_colours.py).
"""

from __future__ import annotations

from mssfe.errors import DataError

CORRECT_COLOUR = "#00FF00"  # pure green: no class colour is near it
WRONG_COLOUR = "#FF00FF"  # magenta: against green, distinct under red-green colour blindness
TRAIN_COLOUR = "#999999"
UNLABELLED_COLOUR = "#FFFFFF"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> ``(r, g, b)`` in 0..255."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise DataError("colour must be #RRGGBB", field="colours", expected="#RRGGBB", got=colour)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
