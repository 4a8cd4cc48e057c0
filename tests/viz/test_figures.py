"""Figures render, carry their labels and say when a scene is simulated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mssfe.data.scenes import Scene
from mssfe.evaluation.table import BenchmarkRow
from mssfe.viz.confusion import figure_confusion, row_normalised
from mssfe.viz.curves import figure_learning_curves, figure_oa_bars, figure_oa_vs_samples
from mssfe.viz.maps import error_map, false_colour, figure_class_map, figure_scene_panels
from mssfe.viz.style import close, save_figure


def _scene(simulated: bool = False) -> Scene:
    rng = np.random.default_rng(0)
    labels = np.zeros((12, 16), dtype=np.int64)
    labels[2:6, 2:8], labels[6:10, 8:14], labels[0:3, 10:16] = 1, 2, 3
    return Scene(
        name="Toy-sim" if simulated else "Toy",
        cube=rng.normal(size=(12, 16, 5)).astype(np.float32),
        labels=labels,
        class_names=("water", "grass", "roof"),
        label_values=(1, 2, 3),
        colours=("#0072B2", "#009E73", "#D55E00"),
        rgb_bands=(4, 2, 1),
        simulated=simulated,
    )


def _texts(fig) -> str:  # type: ignore[no-untyped-def]
    parts = [t.get_text() for t in fig.texts] + [ax.get_title() for ax in fig.axes]
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend:
            parts += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        parts += [t.get_text() for t in legend.get_texts()]
    return " | ".join(parts)


def test_class_map_has_legend_of_class_names(tmp_path: Path) -> None:
    scene = _scene()
    fig = figure_class_map(scene.labels, scene.colours, scene.class_names, "Map")
    text = _texts(fig)
    assert all(name in text for name in scene.class_names)
    path = save_figure(fig, tmp_path / "map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no leftovers


@pytest.mark.parametrize("simulated", [False, True])
def test_scene_panels_show_five_views_and_flag_simulation(simulated: bool) -> None:
    scene = _scene(simulated)
    pred = np.where(scene.labels > 0, scene.labels, 1)
    pred[3, 3] = 2  # one mistake
    fig = figure_scene_panels(scene, pred)
    assert len(fig.axes) == 5
    text = _texts(fig)
    assert ("simulated" in text) is simulated
    assert "water" in text and "wrong" in text and "correct" in text
    close(fig)


def test_false_colour_panel_names_its_bands_by_wavelength_when_known() -> None:
    """A scene with wavelengths (an ENVI header's, of the bands kept) labels the false-colour
    bands in nm; one without names their positions."""
    from dataclasses import replace

    scene = _scene()
    pred = np.where(scene.labels > 0, scene.labels, 1)
    fig = figure_scene_panels(scene, pred)
    assert "False colour\nbands 4, 2, 1" in _texts(fig)
    close(fig)
    with_nm = replace(scene, wavelengths=np.array([450.0, 550.0, 650.0, 800.0, 1650.0]))
    fig = figure_scene_panels(with_nm, pred)
    assert "False colour\nR 1650 nm, G 650 nm, B 550 nm" in _texts(fig)
    close(fig)


def test_error_map_codes_and_accuracy() -> None:
    from mssfe.data.splits import Split

    scene = _scene()
    pred = scene.labels.copy()
    pred[3, 3] = 2
    codes, acc = error_map(scene.labels, pred)
    assert codes[3, 3] == 2 and codes[0, 0] == 0 and codes[2, 2] == 1
    assert acc == pytest.approx(1 - 1 / (scene.labels > 0).sum())
    flat = np.flatnonzero(scene.labels.ravel())
    split = Split(scene.shape, flat[:5], flat[5:8], flat[8:], "random:5", 0, 1)
    codes, _ = error_map(scene.labels, pred, split)
    assert (codes.ravel()[flat[:8]] == 3).all()


def test_false_colour_is_stretched_to_unit_range() -> None:
    rgb = false_colour(_scene().require_cube(), (4, 2, 1))
    assert rgb.shape == (12, 16, 3) and rgb.min() == 0.0 and rgb.max() == 1.0


def test_confusion_counts_and_row_normalised() -> None:
    cm = np.array([[5, 1, 0], [0, 0, 0], [2, 0, 8]])
    norm = row_normalised(cm)
    np.testing.assert_allclose(norm[0], [5 / 6, 1 / 6, 0])
    np.testing.assert_array_equal(norm[1], 0)
    fig = figure_confusion(cm, ["a", "b", "c"], title="PaviaU-sim")
    assert "Counts" in _texts(fig) and "Row-normalised" in _texts(fig)
    close(fig)


def test_learning_curves_from_log_entries() -> None:
    log = [
        {
            "epoch": e,
            "loss": 1 / e,
            "train_acc": 0.5 + e / 20,
            "val_loss": 1.2 / e,
            "val_acc": 0.4 + e / 20,
        }
        for e in range(1, 6)
    ] + [
        {
            "epoch": 6,
            "loss": 0.1,
            "train_acc": 0.9,
            "val_loss": float("nan"),
            "val_acc": float("nan"),
        }
    ]
    fig = figure_learning_curves(log)
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 2 and len(ax_acc.lines) == 2
    assert len(ax_loss.lines[0].get_xdata()) == 6 and len(ax_loss.lines[1].get_xdata()) == 5
    close(fig)


TABLE = [
    {
        "model": "ms2fenet",
        "scene": "PaviaU-sim",
        "protocol": "random:10",
        "oa_mean": 0.81,
        "oa_std": 0.02,
        "train_per_class": 10,
    },
    {
        "model": "ms2fenet",
        "scene": "PaviaU-sim",
        "protocol": "random:50",
        "oa_mean": 0.93,
        "oa_std": 0.01,
        "train_per_class": 50,
    },
    {
        "model": "svm",
        "scene": "PaviaU-sim",
        "protocol": "random:10",
        "oa_mean": 0.70,
        "oa_std": 0.03,
        "train_per_class": 10,
    },
    {"model": "svm", "scene": "PaviaU-sim", "protocol": "random:50", "oa_mean": 0.80},
]
ROWS = [BenchmarkRow.from_json(r) for r in TABLE]


def test_benchmark_figures_flag_simulated_scenes() -> None:
    bars = figure_oa_bars(ROWS)
    assert "simulated" in _texts(bars)
    assert len(bars.axes[0].patches) == 4  # 2 models x 2 protocols
    curve = figure_oa_vs_samples(ROWS)
    assert "simulated" in _texts(curve)
    close(bars)
    close(curve)


def test_benchmark_figures_of_real_scenes_do_not_say_simulated() -> None:
    table = [BenchmarkRow.from_json({**r, "scene": "PaviaU"}) for r in TABLE]
    assert "simulated" not in _texts(figure_oa_bars(table))
