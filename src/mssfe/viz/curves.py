"""Learning curves from a run's log.jsonl and benchmark plots (OA per model, OA vs samples)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mssfe.evaluation.table import BenchmarkRow
from mssfe.viz.style import FULL_WIDTH_IN, sim_tag, styled


def _series(entries: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for entry in entries:
        value = entry.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        xs.append(float(entry.get("epoch", len(xs) + 1)))
        ys.append(float(value))
    return xs, ys


@styled
def figure_learning_curves(log_entries: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Loss (train, validation) and accuracy (train, validation) per epoch, side by side."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(FULL_WIDTH_IN, 2.6))
    for ax, keys, label in (
        (ax_loss, (("loss", "train"), ("val_loss", "validation")), "loss"),
        (ax_acc, (("train_acc", "train"), ("val_acc", "validation")), "accuracy"),
    ):
        for key, name in keys:
            xs, ys = _series(log_entries, key)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False)
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _num(value: float | None) -> float:
    """A row's value, NaN where the row has none (NaN draws nothing)."""
    return math.nan if value is None else float(value)


def _as_percent(values: Sequence[float]) -> float:
    """OA may be stored as a fraction (0.93) or a percentage (93.0): plot percentages."""
    finite = [v for v in values if not math.isnan(v)]
    return 100.0 if finite and max(finite) <= 1.0 else 1.0


def _group_label(row: BenchmarkRow) -> str:
    return f"{sim_tag(row.scene, row.simulated)} {row.protocol}".strip()


def _any_simulated(table: Sequence[BenchmarkRow]) -> bool:
    return any(r.is_simulated for r in table)


@styled
def figure_oa_bars(table: Sequence[BenchmarkRow], title: str = "") -> Figure:
    """Bars of mean OA per model, grouped by (scene, protocol), with ±std error bars."""
    import matplotlib.pyplot as plt

    models = sorted({r.model for r in table})
    groups = sorted({_group_label(r) for r in table})
    scale = _as_percent([r.oa_mean for r in table])
    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN, 3.0))
    width = 0.8 / max(len(groups), 1)
    for gi, group in enumerate(groups):
        means, stds = [], []
        for model in models:
            rows = [r for r in table if r.model == model and _group_label(r) == group]
            means.append(rows[0].oa_mean * scale if rows else math.nan)
            stds.append(_num(rows[0].oa_std) * scale if rows else math.nan)
        xs = np.arange(len(models)) + (gi - (len(groups) - 1) / 2) * width
        ax.bar(xs, means, width, yerr=np.nan_to_num(stds), capsize=2, label=group)
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
    ax.set_ylabel("overall accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=6, loc="lower right")
    base = title or "Overall accuracy per model (mean ± std over seeds)"
    ax.set_title(
        base + (" — simulated scenes" if _any_simulated(table) and "simulated" not in base else "")
    )
    fig.tight_layout()
    return fig


@styled
def figure_oa_vs_samples(table: Sequence[BenchmarkRow], title: str = "") -> Figure:
    """Mean OA (±std) against training pixels per class, one line per (model, scene)."""
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    scale = _as_percent([r.oa_mean for r in table])
    for row in table:
        x = _num(row.train_per_class)
        if math.isnan(x):
            continue
        key = f"{row.model} · {sim_tag(row.scene, row.simulated)}"
        lines[key].append((x, row.oa_mean * scale, _num(row.oa_std) * scale))
    fig, ax = plt.subplots(figsize=(FULL_WIDTH_IN * 0.75, 3.0))
    for key in sorted(lines):
        pts = sorted(lines[key])
        xs, ys, es = (np.array(v) for v in zip(*pts, strict=True))
        ax.errorbar(
            xs,
            ys,
            yerr=np.nan_to_num(es),
            marker="o",
            markersize=3,
            capsize=2,
            linewidth=1.2,
            label=key,
        )
    if lines and max(len(v) for v in lines.values()) > 1:
        xs_all = [p[0] for v in lines.values() for p in v]
        if min(xs_all) > 0 and max(xs_all) / min(xs_all) > 8:
            ax.set_xscale("log")
    ax.set_xlabel("training pixels per class")
    ax.set_ylabel("overall accuracy (%)")
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(frameon=False, fontsize=6)
    base = title or "Overall accuracy against training pixels per class"
    ax.set_title(
        base + (" — simulated scenes" if _any_simulated(table) and "simulated" not in base else "")
    )
    fig.tight_layout()
    return fig
