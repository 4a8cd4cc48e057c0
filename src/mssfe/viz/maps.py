"""Classification maps and the side-by-side scene panels (RGB, truth, prediction, errors)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from mssfe.viz.colours import CORRECT_COLOUR, TRAIN_COLOUR, UNLABELLED_COLOUR, WRONG_COLOUR
from mssfe.viz.style import (
    FULL_WIDTH_IN,
    legend_handles,
    save_figure,
    sim_tag,
    styled,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from mssfe.data.scenes import Scene
    from mssfe.data.splits import Split

MAX_STRETCH_PIXELS = 200_000  # percentiles of bigger scenes come from a strided subsample


def class_colormap(colours: Sequence[str]) -> ListedColormap:
    """Index 0 (unlabelled / not predicted) white, 1..K the class colours."""
    return ListedColormap([UNLABELLED_COLOUR, *colours])


def plot_class_map(
    ax: Axes,
    class_map: np.ndarray,
    colours: Sequence[str],
    class_names: Sequence[str],
    title: str,
    *,
    legend: bool = True,
) -> None:
    """Draw a ``(H, W)`` map of 0..K on ``ax``; a legend of class names and colours at its right."""
    n = len(class_names)
    ax.imshow(
        np.asarray(class_map),
        cmap=class_colormap(list(colours)[:n]),
        vmin=-0.5,
        vmax=n + 0.5,
        interpolation="nearest",
    )
    ax.set_title(title)
    ax.set_axis_off()
    if legend:
        ax.legend(
            handles=legend_handles(list(colours)[:n], list(class_names)),
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            frameon=False,
            borderaxespad=0.0,
        )


@styled
def figure_class_map(
    class_map: np.ndarray, colours: Sequence[str], class_names: Sequence[str], title: str
) -> Figure:
    """One classification map with its legend, sized for a page's text width."""
    import matplotlib.pyplot as plt

    height, width = class_map.shape
    fig_w = FULL_WIDTH_IN * 0.8
    fig_h = max(2.5, min(9.0, fig_w * 0.65 * height / max(width, 1)))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    plot_class_map(ax, class_map, colours, class_names, title)
    return fig


def save_class_map_png(
    path: str | Path,
    class_map: np.ndarray,
    colours: Sequence[str],
    class_names: Sequence[str],
    title: str,
) -> Path:
    return save_figure(figure_class_map(class_map, colours, class_names, title), path)


def false_colour_bands(n_bands: int, rgb_bands: Sequence[int]) -> list[int]:
    """The three band positions a false-colour view shows (red, green, blue)."""
    bands = [int(b) if 0 <= int(b) < n_bands else n_bands // 2 for b in rgb_bands]
    if len(set(bands)) == 1 and n_bands >= 3:  # registry default (0, 0, 0): spread over the range
        bands = [int(n_bands * 0.75), int(n_bands * 0.5), int(n_bands * 0.25)]
    return bands


def band_names(bands: Sequence[int], wavelengths: np.ndarray | None) -> str:
    """How a figure names bands: their wavelengths when known ("R 1650 nm, G 1100 nm, B 560
    nm" for three), else their positions ("bands 43, 21, 11")."""
    if wavelengths is None:
        return "bands " + ", ".join(str(int(b)) for b in bands)
    tags = ("R ", "G ", "B ") if len(bands) == 3 else ("",) * len(bands)
    return ", ".join(f"{t}{float(wavelengths[b]):.0f} nm" for t, b in zip(tags, bands, strict=True))


def false_colour(cube: np.ndarray, rgb_bands: Sequence[int]) -> np.ndarray:
    """``(H, W, 3)`` in [0, 1] from three bands, each stretched between its 2nd and 98th
    percentile (computed on a subsample of big scenes)."""
    height, width, n_bands = cube.shape
    bands = false_colour_bands(n_bands, rgb_bands)
    rgb = np.asarray(cube[:, :, bands], dtype=np.float32)
    step = max(1, int(np.ceil(height * width / MAX_STRETCH_PIXELS)))
    sample = rgb.reshape(-1, 3)[::step]
    low, high = np.percentile(sample, 2, axis=0), np.percentile(sample, 98, axis=0)
    scaled = (rgb - low) / np.where(high > low, high - low, 1.0)
    return np.clip(scaled, 0.0, 1.0)


ERROR_LABELS = ("correct", "wrong", "training / validation", "unlabelled")


def error_map(
    labels: np.ndarray, class_map: np.ndarray, split: Split | None = None
) -> tuple[np.ndarray, float]:
    """Codes ``(H, W)``: 0 unlabelled, 1 correct, 2 wrong, 3 train/val pixel (with a split),
    and the accuracy over the pixels scored (test pixels with a split, else all labelled)."""
    codes = np.zeros(labels.shape, dtype=np.int64)
    scored = labels > 0
    if split is not None:
        flat = np.zeros(labels.size, dtype=bool)
        flat[split.test] = True
        scored = flat.reshape(labels.shape) & (labels > 0)
        seen = np.zeros(labels.size, dtype=bool)
        seen[np.concatenate([split.train, split.val])] = True
        codes[seen.reshape(labels.shape)] = 3
    right = scored & (class_map == labels)
    codes[right] = 1
    codes[scored & ~right] = 2
    accuracy = float(right.sum() / max(int(scored.sum()), 1))
    return codes, accuracy


@styled
def figure_scene_panels(scene: Scene, class_map: np.ndarray, split: Split | None = None) -> Figure:
    """Side by side: false-colour RGB, ground truth, prediction on labelled pixels, full
    prediction and an error map, with one shared legend below."""
    import matplotlib.pyplot as plt

    labels = scene.labels
    height, width = labels.shape
    colours, names = list(scene.colours)[: scene.n_classes], list(scene.class_names)
    panel_w = FULL_WIDTH_IN / 5
    legend_rows = -(-(scene.n_classes + 3) // 4)
    legend_h = 0.2 + 0.17 * legend_rows
    fig_h = min(6.0, panel_w * height / max(width, 1)) + 0.8 + legend_h
    fig, axes = plt.subplots(1, 5, figsize=(FULL_WIDTH_IN, fig_h))
    if scene.cube is not None:
        axes[0].imshow(false_colour(scene.cube, scene.rgb_bands), interpolation="nearest")
        shown = false_colour_bands(scene.n_bands, scene.rgb_bands)
        axes[0].set_title(f"False colour\n{band_names(shown, scene.wavelengths)}")
    else:
        axes[0].set_title("False colour (no cube)")
    axes[0].set_axis_off()
    plot_class_map(axes[1], labels, colours, names, "Ground\ntruth", legend=False)
    on_labelled = np.where(labels > 0, class_map, 0)
    plot_class_map(
        axes[2], on_labelled, colours, names, "Prediction\n(labelled pixels)", legend=False
    )
    plot_class_map(axes[3], class_map, colours, names, "Prediction\n(all pixels)", legend=False)
    codes, accuracy = error_map(labels, class_map, split)
    err_colours = [UNLABELLED_COLOUR, CORRECT_COLOUR, WRONG_COLOUR, TRAIN_COLOUR]
    axes[4].imshow(
        codes, cmap=ListedColormap(err_colours), vmin=-0.5, vmax=3.5, interpolation="nearest"
    )
    where = "test pixels" if split is not None else "labelled pixels"
    axes[4].set_title(f"Errors: {accuracy * 100:.1f}%\nright ({where})")
    axes[4].set_axis_off()
    handles = legend_handles(colours, names)
    shown = [1, 2, 3] if split is not None else [1, 2]
    handles += legend_handles([err_colours[i] for i in shown], [ERROR_LABELS[i - 1] for i in shown])
    fig.legend(
        handles=handles, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, 0.0)
    )
    fig.suptitle(sim_tag(scene.name, scene.simulated))
    fig.tight_layout(rect=(0, legend_h / fig_h, 1, 1 - 0.25 / fig_h))
    return fig
