"""Reports: Markdown + self-contained HTML, checked in a real headless browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mssfe.data.scenes import load_scene
from mssfe.errors import DataError
from mssfe.training.rundir import RunDir
from mssfe.workflows.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory: pytest.TempPathFactory, shared_run: Path) -> Path:
    """A copy of the trained run with a stored full-scene prediction (the report uses it)."""
    src = shared_run
    dst = tmp_path_factory.mktemp("report-run") / "seed0"
    shutil.copytree(src, dst)
    labels = load_scene("SalinasA", labels_only=True).labels
    class_map = np.where(labels > 0, labels, 1)
    class_map[::7, ::5] = 2  # some mistakes
    (dst / "prediction").mkdir()
    np.save(dst / "prediction" / "class_map.npy", class_map)
    return dst


def _embedded_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_run_report_has_tables_and_embedded_figures(run_copy: Path, tmp_path: Path) -> None:
    html_path, md_path = write_report(run_copy, tmp_path / "out")
    page = html_path.read_text(encoding="utf-8")
    md = md_path.read_text(encoding="utf-8")
    for text in ("Configuration", "Test metrics", "Brocoli_green_weeds_1", "OA", "ms2fenet"):
        assert text in page and text in md
    images = _embedded_images(page)
    assert len(images) == 3  # learning curves, confusion, scene panels
    assert "split does not match" in md  # this run was trained on a crop of the scene
    leakage = json.loads((run_copy / "metrics.json").read_text())["leakage"]
    assert f"leakage {leakage:.1%} of test patches contain a training or validation pixel" in md
    assert all(img[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert 'src="http' not in page and "<script" not in page  # self-contained
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (md_path.parent / name).is_file()


def test_run_report_with_maps_when_split_matches(run_copy: Path, tmp_path: Path) -> None:
    """A run on the full scene gets the five map panels (split shape = scene shape)."""
    from mssfe.data.splits import make_split

    run = tmp_path / "run"
    shutil.copytree(run_copy, run)
    labels = load_scene("SalinasA", labels_only=True).labels
    make_split(labels, "random:10", seed=0, patch_size=9).save(run / "split.npz")
    html_path, md_path = write_report(run, tmp_path / "out")
    assert (
        "scene_panels.png" in md_path.read_text() and (tmp_path / "out/scene_panels.png").is_file()
    )
    assert len(_embedded_images(html_path.read_text())) == 3
    assert "| total |" in md_path.read_text()


def _group(tmp_path: Path, run_copy: Path, scene: str) -> Path:
    group = tmp_path / "group"
    group.mkdir()
    shutil.copytree(run_copy, group / "seed0", ignore=shutil.ignore_patterns("*.pt"))
    summary = {
        "scene": scene,
        "model": "ms2fenet",
        "protocol": "random:10",
        "seeds": [0, 1],
        "summary": {
            "n_runs": 2,
            "mean": {"oa": 0.9, "aa": 0.88, "kappa": 0.87},
            "std": {"oa": 0.01, "aa": 0.02, "kappa": 0.015},
            "per_class_mean": [0.9, 0.8],
            "per_class_std": [0.01, 0.02],
        },
        "class_names": ["a", "b"],
        "runs": [str(group / "seed0"), str(group / "seed1")],
    }
    (group / "summary.json").write_text(json.dumps(summary))
    return group


def test_group_report_mean_std_and_per_seed(run_copy: Path, tmp_path: Path) -> None:
    _, md_path = write_report(_group(tmp_path, run_copy, "PaviaU-sim"), tmp_path / "out")
    md = md_path.read_text()
    assert "90.00 ± 1.00" in md and "| seed1 | – |" in md and "simulated" in md


def _benchmark(tmp_path: Path) -> Path:
    bench = tmp_path / "bench"
    bench.mkdir()
    rows = [
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
            "train_per_class": 10,
            "note": "x",
        },
        {
            "model": "svm",
            "scene": "PaviaU-sim",
            "protocol": "random:50",
            "oa_mean": 0.80,
            "oa_std": 0.02,
            "train_per_class": 50,
        },
    ]
    (bench / "results.json").write_text(json.dumps(rows))
    return bench


def test_benchmark_report_tolerates_missing_fields(tmp_path: Path) -> None:
    html_path, md_path = write_report(_benchmark(tmp_path))
    md = md_path.read_text()
    assert "PaviaU-sim (simulated scene)" in md and "| note |" in md
    assert "| ms2fenet | 81.00 ± 2.00 | – |" in md  # formatted; a missing AA shows as –
    assert "| svm | 70.00 ± – |" in md
    assert len(_embedded_images(html_path.read_text())) == 2
    assert html_path.parent == tmp_path / "bench" / "report"


def test_nothing_to_report(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing to report"):
        write_report(tmp_path)


def _browser() -> str | None:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    return None


def test_html_report_shows_its_images_in_a_headless_browser(tmp_path: Path) -> None:
    from PIL import Image

    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium/Chrome found (Debian package: chromium)")
    html_path, _ = write_report(_benchmark(tmp_path), tmp_path / "out")
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        html_path.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=False, capture_output=True, timeout=120)
    assert shot.is_file(), "the browser wrote no screenshot"
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)
    assert pixels.shape[:2] == (2000, 1200)
    # text and table borders are grey; only rendered figures bring saturated colours
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
    assert saturated.sum() > 5_000, "no figure was drawn"
    colours = np.unique(pixels[saturated], axis=0)
    assert len(colours) > 20
    assert (pixels.sum(axis=2) < 700).mean() > 0.02  # not a blank page


def test_benchmark_report_draws_no_curve_through_random_and_disjoint(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    rows = [
        {"model": "svm", "scene": "SalinasA", "protocol": p, "oa_mean": oa, "train_per_class": n}
        for p, oa, n in (("random:0.01", 0.9, 47.0), ("disjoint:0.01:block=5", 0.7, 50.0))
    ]
    (bench / "results.json").write_text(json.dumps({"rows": rows}))
    write_report(bench)
    assert (bench / "report" / "oa_bars.png").exists()
    assert not (bench / "report" / "oa_vs_samples.png").exists()


def test_a_stored_prediction_in_label_codes_is_drawn_as_its_classes(
    run_copy: Path, tmp_path: Path
) -> None:
    """mssfe predict stores label codes (1, 10-14); the report's panels need classes 1..6."""
    from mssfe.workflows.report import _run_prediction

    scene = load_scene("SalinasA", labels_only=True)
    run = tmp_path / "run"
    shutil.copytree(run_copy, run)
    indices = np.load(run / "prediction" / "class_map.npy")
    codes = np.array([0, 1, 10, 11, 12, 13, 14])[indices]
    np.save(run / "prediction" / "class_map.npy", codes)
    (run / "prediction" / "prediction.json").write_text(
        json.dumps({"class_codes": [1, 10, 11, 12, 13, 14]})
    )
    np.testing.assert_array_equal(_run_prediction(RunDir(run), scene), indices)
