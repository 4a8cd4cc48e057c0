"""``mssfe evaluate``: recompute a finished run's test metrics from its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mssfe.evaluation.metrics import Metrics
from mssfe.training.inference import evaluate_run
from mssfe.training.rundir import RunDir


@dataclass(frozen=True)
class Evaluation:
    """The recomputed metrics, the class names they are in the order of, and the files written."""

    metrics: Metrics
    class_names: tuple[str, ...]
    json_path: Path
    markdown_path: Path


def evaluate(run_dir: str | Path) -> Evaluation:
    """Recompute the test metrics of ``run_dir`` and write evaluation.json / evaluation.md."""
    run = RunDir(Path(run_dir))
    metrics = evaluate_run(run.path)
    stored = run.read_metrics()
    json_path, markdown_path = run.write_evaluation(
        replace(stored, metrics=metrics, recomputed=True)
    )
    return Evaluation(metrics, stored.class_names, json_path, markdown_path)
