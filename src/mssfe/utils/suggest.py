"""'Did you mean ...?' hints for unknown names (models, scenes, options)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def did_you_mean(name: str, choices: Iterable[str], *, display: Callable[[str], str] = str) -> str:
    """``"; did you mean 'X'?"`` for the closest choice, or ``""`` when none is close.

    ``display`` maps the matched key to the name shown (e.g. a lower-cased alias to the
    scene's canonical name).
    """
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean '{display(close[0])}'?" if close else ""
