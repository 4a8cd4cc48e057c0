"""Reports of a run, a multi-seed group or a benchmark: one self-contained HTML page (figures
embedded as base64 PNG) and one Markdown file referencing the PNGs written next to it.

What the directory holds decides the report: ``results.json`` (benchmark rows), else
``summary.json`` (seeds of one configuration), else ``metrics.json`` + ``config.toml`` (a run).
Every title of a simulated scene says so.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mssfe.errors import DataError, MssfeError
from mssfe.evaluation.compare import has_recipes, row_label
from mssfe.evaluation.metrics import format_epochs
from mssfe.evaluation.table import BenchmarkRow
from mssfe.training.prepare import load_scene_for
from mssfe.training.rundir import (
    GroupDir,
    MetricsRecord,
    RunDir,
    leakage_text,
    not_one_run,
    runs_under,
)
from mssfe.utils.atomic import atomic_write_text
from mssfe.utils.outdir import output_set
from mssfe.viz.confusion import figure_confusion
from mssfe.viz.curves import figure_learning_curves, figure_oa_bars, figure_oa_vs_samples
from mssfe.viz.geotiff import codes_to_indices
from mssfe.viz.maps import figure_scene_panels
from mssfe.viz.style import save_figure
from mssfe.workflows.benchmark_dir import BenchmarkDir
from mssfe.workflows.predict import load_run, predict_scene

REPORT_RECORD = "report.html"  # written last: its presence means the report is whole
REPORT_MARKDOWN = "report.md"
IMG_WIDTH = 1000  # px: every <img> gets an explicit size so the page lays out before loading


@dataclass
class Section:
    title: str
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    text: list[str] = field(default_factory=list)
    code: str | None = None


@dataclass
class Report:
    title: str
    out_dir: Path
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def figure(self, section: Section, name: str, caption: str, make: Callable[[], Any]) -> None:
        """Render a figure to ``out_dir/name`` and attach it to ``section``."""

        save_figure(make(), self.out_dir / name)
        section.figures.append((name, caption))


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a number or NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _pct(value: Any) -> str:
    v = _finite(value)
    if v is None:
        return "–"
    return f"{v * 100:.2f}" if abs(v) <= 1.0 else f"{v:.2f}"


def _pm(mean: Any, std: Any) -> str:
    if mean is None:
        return "–"
    return f"{_pct(mean)} ± {_pct(std) if std is not None else '–'}"


def _sim(name: str, simulated: bool) -> str:
    return f"{name} (simulated scene)" if simulated or str(name).endswith("-sim") else str(name)


# ---------------------------------------------------------------------------------------------
# Run directory
# ---------------------------------------------------------------------------------------------


def _metrics_section(record: MetricsRecord) -> Section:
    m = record.metrics
    section = Section("Test metrics")
    if record.recipe is not None:  # a run written before recipes: nothing to say
        section.text.append(f"Trained and tested with {record.recipe_text()}.")
    section.tables.append(
        (
            ["metric", "value (%)"],
            [["OA", _pct(m.oa)], ["AA", _pct(m.aa)], ["kappa", _pct(m.kappa)]],
        )
    )
    names = record.class_names or [f"class {i + 1}" for i in range(len(m.per_class))]
    section.tables.append(
        (
            ["class", "accuracy (%)"],
            [[str(n), _pct(a)] for n, a in zip(names, m.per_class, strict=False)],
        )
    )
    return section


def _load_split(run: RunDir, scene: Any) -> Any:
    """The run's split when it matches the scene's shape (else None)."""
    if scene is None or not run.split_file.exists():
        return None
    split = run.read_split()
    return split if tuple(split.shape) == tuple(scene.shape) else None


def _split_section(record: MetricsRecord, scene: Any, split: Any) -> Section:
    leakage = _finite(record.leakage)
    section = Section("Split")
    section.text.append(
        f"Protocol `{record.protocol}`, seed {record.seed}: "
        f"{record.n_train} train, {record.n_val} validation, {record.n_test} test pixels; "
        + ("leakage –" if leakage is None else leakage_text(leakage))
        + "."
    )
    if split is not None:
        counts = split.counts(scene.labels)
        names = list(scene.class_names)
        rows = [
            [names[i] if i < len(names) else str(i + 1), *(str(int(v)) for v in counts[i])]
            for i in range(counts.shape[0])
        ]
        rows.append(["total", *(str(int(v)) for v in counts.sum(axis=0))])
        section.tables.append((["class", "train", "validation", "test"], rows))
    return section


def _load_run_scene(run: RunDir, with_cube: bool) -> Any:
    """The run's scene without downloading (labels only unless ``with_cube``); None if absent."""
    config = run.read_config()
    try:
        return load_scene_for(config, download=False, labels_only=not with_cube)
    except MssfeError:
        return None


def _run_prediction(run: RunDir, scene: Any) -> np.ndarray:
    """Class indices ``(H, W)`` 1..K of a prediction of the scene stored with the run (in
    label codes when its prediction.json lists them), or of a fresh one."""
    if run.stored_prediction.exists():
        class_map = np.load(run.stored_prediction, allow_pickle=False)
        codes = run.prediction.class_codes()
        if class_map.shape == scene.shape:
            return codes_to_indices(class_map, codes) if codes else class_map
    return predict_scene([load_run(run.path)], scene.require_cube(), progress=False).class_map


def _run_report(run: RunDir, out_dir: Path, with_maps: bool) -> Report:
    record = run.read_metrics()
    title = f"{record.model} on {_sim(record.scene, record.simulated)}"
    report = Report(title, out_dir)
    config = Section("Configuration")
    config.code = run.config_text()
    report.sections.append(config)
    scene = _load_run_scene(run, with_cube=with_maps)
    split = _load_split(run, scene)
    if scene is None:
        report.notes.append("the scene's files were not found locally: no split table or maps")
    elif split is None:
        report.notes.append(
            "the stored split does not match the scene's shape: no per-class counts"
        )
    report.sections.append(_split_section(record, scene, split))
    report.sections.append(_metrics_section(record))
    figures = Section("Figures")
    report.sections.append(figures)
    log = [entry.to_json() for entry in run.read_log()]
    if log:
        report.figure(
            figures,
            "learning_curves.png",
            "Learning curves (per epoch).",
            lambda: figure_learning_curves(log, title=f"Learning curves: {title}"),
        )
    confusion, names = record.metrics.confusion, list(record.class_names)
    if confusion and len(confusion) == len(names):
        report.figure(
            figures,
            "confusion.png",
            "Confusion matrix on the test pixels.",
            lambda: figure_confusion(confusion, names, title=f"Confusion: {title}"),
        )
    if with_maps and scene is not None and scene.cube is not None:
        class_map = _run_prediction(run, scene)
        report.figure(
            figures,
            "scene_panels.png",
            "False colour, ground truth, prediction on labelled pixels, full prediction, errors on test pixels.",
            lambda: figure_scene_panels(scene, class_map, split),
        )
    return report


# ---------------------------------------------------------------------------------------------
# Multi-seed group and benchmark
# ---------------------------------------------------------------------------------------------


def _group_report(group: GroupDir, out_dir: Path) -> Report:
    payload = group.read()
    s = payload.summary
    title = f"{payload.model} on {_sim(payload.scene, False)}, split `{payload.protocol}`"
    report = Report(title, out_dir)
    summary = Section(f"Mean ± std over {s.n_runs} seeds {list(payload.seeds)}")
    summary.tables.append(
        (
            ["metric", "mean ± std (%)"],
            [
                [k.upper() if k != "kappa" else k, _pm(s.mean.get(k), s.std.get(k))]
                for k in ("oa", "aa", "kappa")
            ],
        )
    )
    if payload.class_names and s.per_class_mean:
        summary.tables.append(
            (
                ["class", "accuracy mean ± std (%)"],
                [
                    [str(n), _pm(m, d)]
                    for n, m, d in zip(
                        payload.class_names, s.per_class_mean, s.per_class_std, strict=False
                    )
                ],
            )
        )
    report.sections.append(summary)
    seeds = Section("Per seed")
    rows = []
    for listed in payload.runs:
        run = group.run_of(listed)
        if run.is_finished():
            m = run.read_metrics()
            rows.append(
                [
                    str(m.seed),
                    _pct(m.metrics.oa),
                    _pct(m.metrics.aa),
                    _pct(m.metrics.kappa),
                    str(m.best_epoch),
                ]
            )
        else:
            rows.append([Path(listed).name, "–", "–", "–", "–"])
    if rows:
        seeds.tables.append((["seed", "OA", "AA", "kappa", "best epoch"], rows))
    report.sections.append(seeds)
    return report


def _num(value: float | None, fmt: str) -> str:
    v = _finite(value)
    return "–" if v is None else format(v, fmt)


def _epochs(row: BenchmarkRow) -> str:
    return format_epochs(row.epochs, row.best_epochs) or "–"


#: (header, how to show a row): the benchmark table of a report, formatted for reading; fields
#: a row holds that this version does not know (its ``extra``) follow as plain columns.
BENCH_COLUMNS: tuple[tuple[str, Callable[[BenchmarkRow], str]], ...] = (
    ("scene", lambda r: _sim(r.scene, r.simulated)),
    ("protocol", lambda r: r.protocol),
    ("model", lambda r: r.model),
    ("OA %", lambda r: _pm(r.oa_mean, r.oa_std)),
    ("AA %", lambda r: _pm(r.aa_mean, r.aa_std)),
    ("kappa %", lambda r: _pm(r.kappa_mean, r.kappa_std)),
    # the per-class figure stands for the labelled total it is computed from
    ("train px/class", lambda r: _num(r.train_per_class, ",.1f")),
    ("test px", lambda r: _num(r.test_pixels, ",.0f")),
    ("epochs (best)", _epochs),
    ("leakage", lambda r: _num(r.leakage, ".1%")),
    ("params", lambda r: _num(r.parameters, ",.0f")),
    ("FLOPs/px", lambda r: _num(r.flops_per_pixel, ",.0f")),
    ("train s", lambda r: _num(r.train_seconds, ",.1f")),
    ("test px/s", lambda r: _num(r.test_pixels_per_s, ",.0f")),
)
#: After "model" in a table with several recipes (a table of paper rows shows none of them).
RECIPE_COLUMNS: tuple[tuple[str, Callable[[BenchmarkRow], str]], ...] = (
    ("recipe", lambda r: r.recipe_version or "paper v1"),
    ("SSL pool", lambda r: r.ssl_pool or "none"),
    ("TTA", lambda r: "yes" if r.tta else "no"),
)


def _benchmark_report(bench: BenchmarkDir, out_dir: Path) -> Report:
    rows = bench.read().rows
    shown = BENCH_COLUMNS
    if has_recipes(rows):  # one row, bar or point per (model, recipe)
        rows = tuple(dataclasses.replace(r, model=row_label(r, True)) for r in rows)
        shown = (*BENCH_COLUMNS[:3], *RECIPE_COLUMNS, *BENCH_COLUMNS[3:])
    simulated = any(r.is_simulated for r in rows)
    report = Report("Benchmark" + (" (simulated scenes included)" if simulated else ""), out_dir)
    table = Section("Results")
    extra = sorted({k for r in rows for k, v in r.extra.items() if not isinstance(v, (dict, list))})
    columns = [header for header, _ in shown] + extra
    body = [
        [show(r) for _, show in shown]
        + ["–" if r.extra.get(k) is None else str(r.extra[k]) for k in extra]
        for r in rows
    ]
    table.tables.append((columns, body))
    report.sections.append(table)
    figures = Section("Figures")
    report.sections.append(figures)
    if rows:
        report.figure(
            figures,
            "oa_bars.png",
            "Overall accuracy per model (mean ± std over seeds).",
            lambda: figure_oa_bars(rows),
        )
    # a curve joins random splits of several sizes only: a disjoint split differs in kind
    random_rows = [r for r in rows if r.protocol.startswith("random")]
    sizes = {r.train_per_class for r in random_rows if r.train_per_class is not None}
    if len(sizes) > 1:
        report.figure(
            figures,
            "oa_vs_samples.png",
            "Overall accuracy against training pixels per class (random splits).",
            lambda: figure_oa_vs_samples(random_rows),
        )
    return report


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    return [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
        "",
    ]


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"> note: {n}" for n in report.notes]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        lines += [*section.text, ""] if section.text else []
        if section.code:
            lines += ["```toml", section.code.rstrip(), "```", ""]
        for header, rows in section.tables:
            lines += _md_table(header, rows)
        for name, caption in section.figures:
            lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1060px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1em 0 2em; } figcaption { font-style: italic; font-size: 0.9em; }
.note { color: #a33; }
"""


def _img_tag(path: Path, caption: str) -> str:
    with Image.open(path) as image:
        w, h = image.size
    width = min(IMG_WIDTH, w)
    height = round(h * width / w)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption)
    return f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" alt="{alt}">'


def render_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
    ]
    parts += [f'<p class="note">note: {e(n)}</p>' for n in report.notes]
    for section in report.sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        parts += [f"<p>{e(t)}</p>" for t in section.text]
        if section.code:
            parts.append(f"<pre>{e(section.code)}</pre>")
        for header, rows in section.tables:
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(str(h))}</th>" for h in header)
                + "</tr></thead><tbody>"
            )
            parts += [
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows
            ]
            parts.append("</tbody></table>")
        for name, caption in section.figures:
            parts.append(
                f"<figure>{_img_tag(report.out_dir / name, caption)}<figcaption>{e(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    path: str | Path, out_dir: str | Path | None = None, *, with_maps: bool = True
) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (+ PNGs) for a run, a
    multi-seed group or a benchmark directory; returns (html path, markdown path).

    ``with_maps`` predicts the whole scene for the classification-map panels of a run when its
    cube is available locally (a stored ``prediction/class_map.npy`` is used when present).
    """
    src = Path(path)
    if not src.is_dir():
        raise DataError(
            "report source must be a directory",
            file=src,
            expected="a run, seed group or benchmark directory",
        )
    out = Path(out_dir) if out_dir is not None else src / "report"
    bench, group, run = BenchmarkDir(src), GroupDir(src), RunDir(src)
    build: Callable[[Path], Report]
    if bench.has_results():
        build = functools.partial(_benchmark_report, bench)
    elif group.has_summary():
        build = functools.partial(_group_report, group)
    elif run.is_finished():
        build = functools.partial(_run_report, run, with_maps=with_maps)
    elif found := runs_under(src):  # e.g. the --out of mssfe train: name the runs in it
        raise DataError(not_one_run(src, found), file=src)
    else:
        files = (bench.results_json, group.summary_file, run.metrics_file)
        raise DataError(
            "nothing to report",
            file=src,
            expected=" or ".join(f.name for f in files),
            got="none of them",
        )
    # written as one set, report.html last: a killed rewrite never mixes two reports
    with output_set(out, REPORT_RECORD) as staging:
        report = build(staging)
        atomic_write_text(staging / REPORT_MARKDOWN, render_markdown(report))
        atomic_write_text(staging / REPORT_RECORD, render_html(report))
    return out / REPORT_RECORD, out / REPORT_MARKDOWN
