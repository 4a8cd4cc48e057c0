"""Colours shared by the figures and the GeoTIFF colour tables (no matplotlib import here).

Class colours belong to a scene (``mssfe.data.registry``); these are the colours of the
error panel, which must read the same in every figure.
"""

from __future__ import annotations

from mssfe.errors import DataError

CORRECT_COLOUR = "#009E73"  # Okabe-Ito bluish green
WRONG_COLOUR = "#D55E00"  # Okabe-Ito vermilion
TRAIN_COLOUR = "#999999"
UNLABELLED_COLOUR = "#FFFFFF"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> ``(r, g, b)`` in 0..255."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise DataError("colour must be #RRGGBB", field="colours", expected="#RRGGBB", got=colour)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
