"""``mssfe evaluate``: recompute a finished run's test metrics from its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mssfe.evaluation.metrics import Metrics
from mssfe.training.inference import evaluate_run, run_tta
from mssfe.training.rundir import MetricsRecord, RunDir


@dataclass(frozen=True)
class Evaluation:
    """The recomputed metrics, the class names they are in the order of, and the files written."""

    metrics: Metrics
    class_names: tuple[str, ...]
    json_path: Path
    markdown_path: Path
    record: MetricsRecord  # what evaluation.json holds (recipe, SSL pool, tta used)


def evaluate(run_dir: str | Path, *, tta: bool | None = None) -> Evaluation:
    """Recompute the test metrics of ``run_dir`` and write evaluation.json / evaluation.md.

    ``tta``: average the 8 flips/rotations (True), or not (False); None: as the run's recipe.
    The choice is recorded with the result.
    """
    run = RunDir(Path(run_dir))
    used = run_tta(run.path) if tta is None else tta
    metrics = evaluate_run(run.path, tta=used)
    stored = run.read_metrics()
    record = replace(stored, metrics=metrics, recomputed=True, tta=used)
    json_path, markdown_path = run.write_evaluation(record)
    return Evaluation(metrics, stored.class_names, json_path, markdown_path, record)
