"""One model against every other, table row by table row: the picture of ``mssfe compare``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from mssfe.evaluation.compare import Standing
from mssfe.viz.style import FULL_WIDTH_IN, default_colours, sim_tag, styled


@styled
def figure_standings(found: Sequence[Standing], reference: str) -> Figure:
    """Paired OA difference (other model minus reference, mean ± standard error over seeds) of
    every model in every (scene, split) row; a dot left of zero is a model the reference beat."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(m for s in found for m in s.pairs))
    colours = dict(zip(models, default_colours(len(models)), strict=True))
    height = 0.8 + 0.32 * len(found)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN, height))
    step = 0.7 / max(len(models), 1)
    labelled: set[str] = set()
    for i, s in enumerate(found):
        for j, model in enumerate(models):
            pair = s.pairs.get(model)
            if pair is None:
                continue
            y = i + (j - (len(models) - 1) / 2) * step
            ax.errorbar(
                pair.mean,
                y,
                xerr=pair.sem,
                fmt="o",
                markersize=3,
                capsize=1.5,
                linewidth=0.8,
                color=colours[model],
                label=None if model in labelled else model,
            )
            labelled.add(model)
    ax.axvline(0.0, color="#444444", linewidth=0.8)
    labels = [
        f"{sim_tag(s.scene, s.simulated)} {s.protocol}\n"
        f"({s.source}, {len(s.reference.seeds)} seeds)"
        for s in found
    ]
    ax.set_yticks(np.arange(len(found)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"OA of the model minus OA of {reference}, paired by seed (points, ± s.e.)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"Left of the line: {reference} better; right: the other model better")
    fig.tight_layout()
    return fig
