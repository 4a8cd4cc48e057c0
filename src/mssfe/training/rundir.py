"""The run directory: file names, the epoch log, metrics and provenance, reuse checks.

A run directory holds config.toml, split.npz, preprocessor.npz, log.jsonl, last.pt, best.pt,
metrics.json / metrics.md and run.json; every file is written atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mssfe.data.splits import Split
from mssfe.errors import ConfigError, DataError, MssfeError
from mssfe.evaluation.metrics import Metrics
from mssfe.training.config import ResolvedRunConfig, RunConfig, config_to_dict, load_config
from mssfe.training.prepare import PreparedData, resolve
from mssfe.training.record import git_commit, machine, package_versions
from mssfe.utils.atomic import atomic_write_json, atomic_write_text

CONFIG_FILE = "config.toml"

SPLIT_FILE = "split.npz"

PREPROCESSOR_FILE = "preprocessor.npz"

LAST_CHECKPOINT = "last.pt"

BEST_CHECKPOINT = "best.pt"

LOG_FILE = "log.jsonl"

METRICS_FILE = "metrics.json"

RECORD_FILE = "run.json"

EVALUATION_FILE = "evaluation.json"  # mssfe evaluate: recomputed metrics, beside evaluation.md


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: Metrics
    best_epoch: int
    epochs: int
    train_seconds: float
    test_pixels_per_s: float


def append_log(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()


def truncate_log(path: Path, last_epoch: int) -> None:
    if not path.exists():
        return
    keep = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("epoch", 0) <= last_epoch
    ]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


def write_metrics(
    run_dir: Path,
    config: ResolvedRunConfig,
    data: PreparedData,
    metrics: Metrics,
    extra: dict[str, Any],
) -> None:
    """metrics.json, metrics.md and run.json (provenance) in the run directory."""
    scene, split = data.scene, data.split
    counts = split.counts(scene.labels)
    payload = {
        "scene": scene.name,
        "simulated": scene.simulated,
        "model": config.model,
        "protocol": split.protocol,
        "seed": config.seed,
        "leakage": split.leakage(),
        "split_notes": list(split.notes),
        "class_names": list(scene.class_names),
        "n_train": int(counts[:, 0].sum()),
        "n_val": int(counts[:, 1].sum()),
        "n_test": int(counts[:, 2].sum()),
        "metrics": metrics.to_dict(),
        **extra,
    }
    atomic_write_json(run_dir / METRICS_FILE, payload)
    atomic_write_text(run_dir / "metrics.md", format_metrics_markdown(payload))
    record = {
        "seed": config.seed,
        "config": config_to_dict(config),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "machine": machine(),
        "data": scene.sources,
        "wall_time_s": extra.get("train_seconds"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(run_dir / RECORD_FILE, record)


def leakage_text(leakage: float) -> str:
    """The qualifier every reported accuracy carries: how many test patches saw training pixels."""
    text = f"leakage {leakage:.1%} of test patches contain a training or validation pixel"
    if leakage > 0:
        text += " (a spatially disjoint split, --split disjoint, has none)"
    return text


def format_metrics_markdown(payload: dict[str, Any]) -> str:
    m = payload["metrics"]
    lines = [
        f"# {payload['model']} on {payload['scene']}"
        + (" (simulated scene)" if payload["simulated"] else ""),
        "",
        f"Split `{payload['protocol']}`, seed {payload['seed']}: {payload['n_train']} train, "
        f"{payload['n_val']} validation, {payload['n_test']} test pixels; "
        f"{leakage_text(payload['leakage'])}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| OA | {m['oa'] * 100:.2f} |",
        f"| AA | {m['aa'] * 100:.2f} |",
        f"| kappa | {m['kappa'] * 100:.2f} |",
        "",
        "| class | accuracy |",
        "|---|---|",
    ]
    lines += [
        f"| {name} | {acc * 100:.2f} |"
        for name, acc in zip(payload["class_names"], m["per_class"], strict=True)
    ]
    return "\n".join(lines) + "\n"


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """A finished run's metrics.json as a dict; a missing or damaged file names itself."""
    path = Path(run_dir) / METRICS_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            "no metrics.json: the run has not finished", file=path, expected="a finished run"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"not readable JSON ({exc})", file=path) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("metrics"), dict):
        raise DataError(
            "no 'metrics' object", file=path, field="metrics", expected="the run's test metrics"
        )
    return payload


def load_result(run_dir: str | Path) -> RunResult:
    """The result of a finished run, read back from its metrics.json."""
    run_dir = Path(run_dir)
    payload = read_metrics(run_dir)
    try:
        return RunResult(
            run_dir,
            Metrics.from_dict(payload["metrics"]),
            int(payload.get("best_epoch") or 0),
            int(payload.get("epochs") or 0),
            float(payload.get("train_seconds") or 0.0),
            float(payload.get("test_pixels_per_s") or 0.0),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"not a readable result ({exc})", file=run_dir / METRICS_FILE) from None


def comparable(config: ResolvedRunConfig) -> dict[str, Any]:
    """What decides a run's result (not where or how fast it runs), with tuples as lists."""
    d = config_to_dict(config)
    d.pop("runtime")
    for key in ("data_dir", "download"):
        d["data"].pop(key)
    return json.loads(json.dumps(d))


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return None if a == b else f"{where} (stored {a!r}, asked {b!r})"


def _same_split_pixels(run_dir: Path, stored: str, asked: str) -> bool:
    """Whether the asked split file holds the pixels this run used (its own split.npz copy).

    Why: a benchmark's cells name their shared split file by path; a benchmark directory that
    was moved or copied must still resume, and a file rewritten in place with other pixels
    must not. Notes and the guard patch size do not decide a result; the pixel sets do.
    """
    if not (stored.startswith("file:") and asked.startswith("file:")):
        return False
    try:
        return Split.load(run_dir / SPLIT_FILE).same_pixels(Split.load(asked.removeprefix("file:")))
    except MssfeError:
        return False


def check_same_config(run_dir: Path, config: RunConfig | ResolvedRunConfig) -> None:
    """Refuse to reuse or resume a run directory made with another configuration.

    Both sides are compared resolved, so a stored config.toml written before a default was
    recorded (or with values an estimator never used) still matches. A fixed split file
    (``file:PATH``) is compared by its pixels, not by its path.
    """
    stored = comparable(resolve(load_config(run_dir / CONFIG_FILE)))
    asked = comparable(resolve(config))
    if stored["data"]["split"] != asked["data"]["split"] and _same_split_pixels(
        run_dir, stored["data"]["split"], asked["data"]["split"]
    ):
        stored["data"]["split"] = asked["data"]["split"]
    difference = first_difference(stored, asked)
    if difference:
        raise ConfigError(
            f"{run_dir}: holds a run with another configuration: {difference}; "
            "choose another --out, or delete the directory to start again"
        )
