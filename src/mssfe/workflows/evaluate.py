"""``mssfe evaluate``: recompute a finished run's test metrics from its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mssfe.evaluation.metrics import Metrics
from mssfe.training.inference import evaluate_run, run_tta
from mssfe.training.rundir import MetricsRecord, open_run
from mssfe.utils.validation import check_optional_scalar


@dataclass(frozen=True)
class Evaluation:
    """The recomputed metrics, the class names they are in the order of, and the files written."""

    metrics: Metrics
    class_names: tuple[str, ...]
    json_path: Path
    markdown_path: Path
    record: MetricsRecord  # what evaluation.json holds (recipe, SSL pool, tta used)


def evaluate(
    run_dir: str | Path,
    *,
    tta: bool | None = None,
    max_test: int | None = None,
    data_dir: str | Path | None = None,
) -> Evaluation:
    """Recompute the test metrics of ``run_dir`` and write evaluation.json / evaluation.md.

    ``tta``: average the 8 flips/rotations (True), or not (False); None: as the run's recipe.
    ``max_test``: on a stratified random subset of at most that many test pixels (None: the
    run's test pixels). ``data_dir``: where the run's scene is looked for first. The choices
    are recorded with the result.
    """
    check_optional_scalar(max_test, "max_test", int, min_val=1)
    run = open_run(run_dir)  # a directory of several runs names them
    used = run_tta(run.path) if tta is None else tta
    metrics = evaluate_run(run.path, tta=used, max_test=max_test, data_dir=data_dir)
    stored = run.read_metrics()
    record = replace(
        stored,
        metrics=metrics,
        n_test=metrics.n_test,
        max_test=max_test if max_test is not None else stored.max_test,
        recomputed=True,
        tta=used,
    )
    json_path, markdown_path = run.write_evaluation(record)
    return Evaluation(metrics, stored.class_names, json_path, markdown_path, record)
