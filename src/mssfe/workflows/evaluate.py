"""``mssfe evaluate``: recompute a finished run's test metrics from its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mssfe.evaluation.metrics import Metrics
from mssfe.training.inference import evaluate_run, run_tta
from mssfe.training.rundir import EVALUATION_FILE, format_metrics_markdown, read_metrics
from mssfe.utils.atomic import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Evaluation:
    """The recomputed metrics, the class names they are in the order of, and the files written."""

    metrics: Metrics
    class_names: tuple[str, ...]
    json_path: Path
    markdown_path: Path
    record: dict[str, Any]  # what evaluation.json holds (recipe, SSL pool, tta used)


def evaluate(run_dir: str | Path, *, tta: bool | None = None) -> Evaluation:
    """Recompute the test metrics of ``run_dir`` and write evaluation.json / evaluation.md.

    ``tta``: average the 8 flips/rotations (True), or not (False); None: as the run's recipe.
    The choice is recorded with the result.
    """
    run_dir = Path(run_dir)
    used = run_tta(run_dir) if tta is None else tta
    metrics = evaluate_run(run_dir, tta=used)
    stored = read_metrics(run_dir)
    payload: dict[str, Any] = {
        **stored,
        "metrics": metrics.to_dict(),
        "recomputed": True,
        "tta": used,
    }
    out = run_dir / EVALUATION_FILE
    atomic_write_json(out, payload)
    atomic_write_text(out.with_suffix(".md"), format_metrics_markdown(payload))
    names = tuple(stored.get("class_names", ()))
    return Evaluation(metrics, names, out, out.with_suffix(".md"), payload)
