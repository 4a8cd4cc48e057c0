"""One figure style for every plot: Agg backend, paper-size fonts, colour-blind-safe colours.

``matplotlib.use("Agg")`` happens here, when a figure module is imported, never at
``import mssfe``. The default palette is Okabe-Ito then Paul Tol's (the registry's PALETTE),
used wherever a scene has no official class colours.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.figure import Figure

from mssfe.data.registry import PALETTE
from mssfe.utils.atomic import atomic_save

FULL_WIDTH_IN = 7.0  # a two-column paper page's text width, inches
DPI = 150

RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(PALETTE[:8])),
}


F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run a figure-making function under the project style (fonts are fixed at creation)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(RC):  # type: ignore[arg-type]
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def default_colours(n: int) -> tuple[str, ...]:
    """``n`` colour-blind-safe colours (cycled when there are more classes than colours)."""
    return tuple(PALETTE[i % len(PALETTE)] for i in range(n))


def sim_tag(name: str, simulated: bool = False) -> str:
    """A scene name that says it is simulated: '-sim' names and Scene.simulated both count."""
    return f"{name} (simulated)" if simulated or name.endswith("-sim") else name


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG atomically, then close it."""
    atomic_save(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    plt.close(fig)
    return Path(path)


def close(fig: Figure) -> None:
    plt.close(fig)


def legend_handles(colours: Sequence[str], labels: Sequence[str]) -> list[Any]:
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=c, edgecolor="#444444", linewidth=0.4, label=text)
        for c, text in zip(colours, labels, strict=True)
    ]
