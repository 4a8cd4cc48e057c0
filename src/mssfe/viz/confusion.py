"""Confusion matrix figure: counts and row-normalised (recall) side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mssfe.errors import DataError
from mssfe.viz.style import FULL_WIDTH_IN, styled

ANNOTATE_UP_TO = 20  # write the numbers in the cells for at most this many classes


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """Each true-class row divided by its total (rows without samples stay 0)."""
    cm = np.asarray(confusion, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def _panel(ax: object, values: np.ndarray, names: Sequence[str], title: str, fmt: str) -> None:
    k = len(names)
    image = ax.imshow(values, cmap="viridis", interpolation="nearest")  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_xticks(range(k), [str(i + 1) for i in range(k)])  # type: ignore[attr-defined]
    ax.set_yticks(range(k), [f"{i + 1} {n}"[:28] for i, n in enumerate(names)])  # type: ignore[attr-defined]
    ax.set_xlabel("predicted class")  # type: ignore[attr-defined]
    ax.set_ylabel("true class")  # type: ignore[attr-defined]
    if k <= ANNOTATE_UP_TO:
        top = values.max() if values.size else 0
        size = 6 if k <= 10 else 4.5
        for (i, j), v in np.ndenumerate(values):
            colour = "black" if v > 0.6 * top else "white"
            ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=size, color=colour)  # type: ignore[attr-defined]
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)  # type: ignore[attr-defined]


@styled
def figure_confusion(
    confusion: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str], title: str = ""
) -> Figure:
    """Counts (left) and row-normalised matrix (right); rows are true classes."""
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    if cm.shape != (k, k):
        raise DataError(
            "confusion matrix does not match the classes",
            field="confusion",
            expected=(k, k),
            got=cm.shape,
        )
    side = min(FULL_WIDTH_IN / 2, 1.6 + 0.22 * k)
    fig, axes = plt.subplots(1, 2, figsize=(max(FULL_WIDTH_IN, 2 * side + 2.5), side + 0.6))
    _panel(axes[0], cm, class_names, "Counts", "d")
    _panel(axes[1], row_normalised(cm), class_names, "Row-normalised (recall)", ".2f")
    axes[1].set_yticks(range(k), [str(i + 1) for i in range(k)])
    axes[1].set_ylabel("")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
