"""The run directory and the seed group: the one place that knows their file names.

A run directory (:class:`RunDir`) holds config.toml, split.npz, preprocessor.npz, log.jsonl,
last.pt, best.pt, metrics.json / metrics.md, run.json and, after ``mssfe evaluate``,
evaluation.json / evaluation.md; every file is written atomically. The seeds of one
configuration sit side by side in a :class:`GroupDir` with summary.json / summary.md.

What the JSON files hold are typed records (:class:`MetricsRecord`, :class:`RunRecord`,
:class:`EpochRecord`, :class:`GroupSummary`) read with :func:`record_from_json`: a file written
before records carried a ``format_version`` is version 1 and reads as it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mssfe.data.preprocess import Preprocessor
from mssfe.data.scenes import Scene
from mssfe.data.splits import Split
from mssfe.errors import ConfigError, DataError, MssfeError
from mssfe.evaluation.metrics import Metrics, Summary, format_pm
from mssfe.models import Fit, get_model_spec
from mssfe.training.config import (
    ResolvedRunConfig,
    RunConfig,
    config_to_dict,
    config_to_toml,
    load_config,
)
from mssfe.training.identity import comparable, data_difference, first_difference
from mssfe.training.prepare import PreparedData, resolve
from mssfe.training.recipes import recipe_record
from mssfe.training.record import git_commit, machine, package_versions
from mssfe.utils.atomic import atomic_write_json, atomic_write_text, ensure_dir
from mssfe.utils.jsonfile import read_json, record_from_json, record_to_json
from mssfe.utils.paths import describe_path

RECORD_FORMAT_VERSION = 1

#: MetricsRecord fields a file may lack (a network's, an estimator's, evaluation.json's, or
#: written before class codes and recipes were recorded): left out of the JSON when unset.
_OPTIONAL_METRICS = (
    "world_size",
    "n_fit",
    "fitted",
    "recomputed",
    "class_codes",
    "recipe",
    "ssl_pool",
    "tta",
    "max_test",
)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: Metrics
    best_epoch: int
    epochs: int
    train_seconds: float
    test_pixels_per_s: float


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricsRecord:
    """metrics.json (and evaluation.json): a finished run's test metrics and what they were
    measured on. ``world_size`` is a network's (ranks), ``n_fit`` and ``fitted`` an
    estimator's (pixels fitted, chosen hyper-parameters); ``recomputed`` marks evaluation.json.
    """

    format_version: int = RECORD_FORMAT_VERSION
    scene: str
    simulated: bool
    model: str
    protocol: str
    seed: int
    leakage: float
    split_notes: tuple[str, ...]
    class_names: tuple[str, ...]
    class_codes: tuple[int, ...] | None = None  # the label file's code of each class
    n_train: int
    n_val: int
    n_test: int
    metrics: Metrics
    best_epoch: int = 0
    epochs: int = 0
    train_seconds: float = 0.0
    test_pixels_per_s: float = 0.0
    world_size: int | None = None
    n_fit: int | None = None
    fitted: Mapping[str, Any] | None = None
    recomputed: bool | None = None
    recipe: str | None = None  # recipe_label: 'paper v1', 'mssfe v1*'
    ssl_pool: str | None = None  # 'none' for an estimator
    tta: bool | None = None  # the test pass averaged the 8 flips/rotations
    max_test: int | None = None  # tested on a stratified subset of at most this many pixels
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls, config: ResolvedRunConfig, data: PreparedData, metrics: Metrics, **fields: Any
    ) -> MetricsRecord:
        """The record of a run just evaluated; ``fields`` are its timing and fit details."""
        counts = data.split.counts(data.scene.labels)
        network = get_model_spec(config.model).fit is Fit.GRADIENT
        return cls(
            scene=data.scene.name,
            simulated=data.scene.simulated,
            model=config.model,
            protocol=data.split.protocol,
            seed=config.seed,
            leakage=data.split.leakage(),
            split_notes=tuple(data.split.notes),
            class_names=tuple(data.scene.class_names),
            class_codes=tuple(int(code) for code in data.scene.label_values),
            n_train=int(counts[:, 0].sum()),
            n_val=int(counts[:, 1].sum()),
            n_test=int(counts[:, 2].sum()),
            metrics=metrics,
            max_test=config.data.max_test,
            **recipe_record(config.recipe, network=network),
            **fields,
        )

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self, drop_none=_OPTIONAL_METRICS)

    @classmethod
    def from_json(cls, data: Any, *, file: str | Path | None = None) -> MetricsRecord:
        return record_from_json(cls, data, file=file)

    def recipe_text(self) -> str:
        """How the run was trained and tested: the line every printed result carries (a run
        written before recipes existed is ``paper v1``, no SSL, no TTA)."""
        tta = "on (8 flips/rotations averaged)" if self.tta else "off"
        return (
            f"recipe {self.recipe or 'paper v1'}, SSL pool {self.ssl_pool or 'none'}, "
            f"test-time augmentation {tta}"
        )

    def _recipe_lines(self) -> list[str]:
        """metrics.md's recipe line (none for a run written before recipes existed)."""
        if self.recipe is None:
            return []
        text = self.recipe_text()
        return ["", text[0].upper() + text[1:] + "."]

    def _subset_text(self) -> str:
        if self.max_test is None:
            return ""
        return f" (a stratified subset of the test pixels, at most {self.max_test:,})"

    def to_markdown(self) -> str:
        m = self.metrics
        lines = [
            f"# {self.model} on {self.scene}" + (" (simulated scene)" if self.simulated else ""),
            "",
            f"Split `{self.protocol}`, seed {self.seed}: {self.n_train} train, "
            f"{self.n_val} validation, {self.n_test} test pixels{self._subset_text()}; "
            f"{leakage_text(self.leakage)}.",
            *self._recipe_lines(),
            "",
            "| metric | value |",
            "|---|---|",
            f"| OA | {m.oa * 100:.2f} |",
            f"| AA | {m.aa * 100:.2f} |",
            f"| kappa | {m.kappa * 100:.2f} |",
            "",
            "| class | accuracy |",
            "|---|---|",
        ]
        lines += [
            f"| {name} | {acc * 100:.2f} |"
            for name, acc in zip(self.class_names, m.per_class, strict=True)
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """run.json: a run's provenance (seed, resolved config, packages, commit, machine, data
    checksums, wall time) and the bands it was trained on: ``n_source_bands`` in the file,
    ``bands`` the positions kept when not all were (a band spec, an ENVI bad-band list),
    ``wavelengths`` in nm of the bands trained on when the file gives them, and how many bad
    bands were dropped."""

    format_version: int = RECORD_FORMAT_VERSION
    seed: int
    config: Mapping[str, Any]
    packages: Mapping[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    machine: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    wall_time_s: float | None = None
    finished: str | None = None
    n_source_bands: int | None = None
    bands: tuple[int, ...] | None = None
    wavelengths: tuple[float, ...] | None = None
    bad_bands_dropped: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls,
        config: ResolvedRunConfig,
        scene: Scene,
        wall_time_s: float | None,
        *,
        finished: bool = True,
    ) -> RunRecord:
        """The record of a run that finished, or (``finished=False``) that starts: what it
        is given (config, data checksums, bands) is recorded before training, so a resume
        checks it."""
        chosen = scene.bands
        return cls(
            seed=config.seed,
            config=config_to_dict(config),
            packages=package_versions(),
            git_commit=git_commit(),
            machine=machine(),
            data=scene.sources,
            wall_time_s=wall_time_s,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z") if finished else None,
            n_source_bands=chosen.n_source if chosen is not None else scene.n_bands,
            bands=None if chosen is None else tuple(int(i) for i in chosen.indices),
            wavelengths=None
            if scene.wavelengths is None
            else tuple(round(float(w), 4) for w in scene.wavelengths),
            bad_bands_dropped=None if chosen is None else chosen.n_bad_dropped,
        )

    def to_json(self) -> dict[str, Any]:
        return record_to_json(
            self, drop_none=("n_source_bands", "bands", "wavelengths", "bad_bands_dropped")
        )


@dataclass(frozen=True, kw_only=True)
class EpochRecord:
    """One line of log.jsonl: an epoch's training and validation loss and accuracy (NaN
    without validation pixels), learning rate and seconds, and with semi-supervised training
    the share of unlabelled patches whose pseudo-label was confident."""

    epoch: int
    loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    ssl_confident: float | None = None  # share of unlabelled patches given a pseudo-label
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self, drop_none=("ssl_confident",))


@dataclass(frozen=True, kw_only=True)
class GroupSummary:
    """summary.json: the seeds of one configuration and their mean ± std."""

    format_version: int = RECORD_FORMAT_VERSION
    scene: str
    model: str
    protocol: str
    recipe: str | None = None  # the recipe's name (none before recipes: paper)
    seeds: tuple[int, ...]
    summary: Summary
    class_names: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    train_seconds: tuple[float, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return record_to_json(self, drop_none=("recipe",))

    def to_markdown(self) -> str:
        s = self.summary
        lines = [
            f"# {self.model} on {self.scene}, split `{self.protocol}`, "
            f"{s.n_runs} seeds {list(self.seeds)}",
            "",
            "| metric | mean ± std (%) |",
            "|---|---|",
            *(
                f"| {k.upper() if k != 'kappa' else 'kappa'} | {format_pm(s.mean[k], s.std[k])} |"
                for k in ("oa", "aa", "kappa")
            ),
        ]
        if self.class_names:
            lines += ["", "| class | accuracy mean ± std (%) |", "|---|---|"]
            lines += [
                f"| {n} | {format_pm(m, d)} |"
                for n, m, d in zip(self.class_names, s.per_class_mean, s.per_class_std, strict=True)
            ]
        return "\n".join(lines) + "\n"


def leakage_text(leakage: float) -> str:
    """The qualifier every reported accuracy carries: how many test patches saw training pixels."""
    text = f"leakage {leakage:.1%} of test patches contain a training or validation pixel"
    if leakage > 0:
        text += " (a spatially disjoint split, --split disjoint, has none)"
    return text


# ---------------------------------------------------------------------------------------------
# The run directory
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDir:
    """One run's directory: the paths of its files and the reading and writing of them."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_file(self) -> Path:
        return self.path / "config.toml"

    @property
    def split_file(self) -> Path:
        return self.path / "split.npz"

    @property
    def preprocessor_file(self) -> Path:
        return self.path / "preprocessor.npz"

    @property
    def log_file(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "best.pt"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def metrics_markdown(self) -> Path:
        return self.path / "metrics.md"

    @property
    def record_file(self) -> Path:
        return self.path / "run.json"

    @property
    def evaluation_file(self) -> Path:
        return self.path / "evaluation.json"

    @property
    def evaluation_markdown(self) -> Path:
        return self.path / "evaluation.md"

    @property
    def prediction(self) -> PredictionDir:
        """A full-scene prediction saved with the run (``mssfe predict RUN --out RUN/prediction``)."""
        return PredictionDir(self.path / "prediction")

    @property
    def stored_prediction(self) -> Path:
        """The class map of the prediction saved with the run."""
        return self.prediction.class_map_npy

    # state ------------------------------------------------------------------------------------

    def has_config(self) -> bool:
        return self.config_file.exists()

    def is_finished(self) -> bool:
        """Its metrics are written: the run is done and is kept as it is."""
        return self.metrics_file.exists()

    def has_checkpoint(self) -> bool:
        """An interrupted (or finished) network's last epoch is saved: it can resume."""
        return self.last_checkpoint.exists()

    # what the run was given -------------------------------------------------------------------

    def read_config(self) -> ResolvedRunConfig:
        """config.toml, resolved (a file from before every default was recorded reads too)."""
        return resolve(load_config(self.config_file))

    def config_text(self) -> str | None:
        """config.toml as written (the report shows it verbatim), or None."""
        return self.config_file.read_text(encoding="utf-8") if self.has_config() else None

    def read_split(self) -> Split:
        return Split.load(self.split_file)

    def read_preprocessor(self) -> Preprocessor:
        return Preprocessor.load(self.preprocessor_file)

    def start(self, config: ResolvedRunConfig, data: PreparedData) -> None:
        """A fresh run: its config, split, preprocessing and run.json (config and data
        checksums, not yet finished) written, any old log dropped."""
        ensure_dir(self.path)
        atomic_write_text(self.config_file, config_to_toml(config))
        data.split.save(self.split_file)
        data.preprocessor.save(self.preprocessor_file)
        self.log_file.unlink(missing_ok=True)
        record = RunRecord.of_run(config, data.scene, None, finished=False)
        atomic_write_json(self.record_file, record.to_json())

    def record_config(self, config: ResolvedRunConfig) -> None:
        """A resumed run's configuration with the options it was resumed with (more epochs,
        other threads): config.toml and run.json's ``config`` say what it ran with."""
        atomic_write_text(self.config_file, config_to_toml(config))
        if self.record_file.exists():
            record = replace(self.read_record(), config=config_to_dict(config))
            atomic_write_json(self.record_file, record.to_json())

    def recorded(self) -> RunRecord | None:
        """run.json, or None for a run that has none (one started before runs recorded it
        at their start)."""
        return self.read_record() if self.record_file.exists() else None

    # the epoch log ----------------------------------------------------------------------------

    def append_log(self, entry: EpochRecord) -> None:
        with open(self.log_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry.to_json()) + "\n")
            handle.flush()

    def _log_lines(self) -> list[tuple[str, EpochRecord | None]]:
        """Each line of log.jsonl with its record, None where it is not one (cut, garbage)."""
        if not self.log_file.exists():
            return []
        text = self.log_file.read_bytes().decode("utf-8", errors="replace")
        lines: list[tuple[str, EpochRecord | None]] = []
        for line in text.splitlines():
            try:
                lines.append((line, record_from_json(EpochRecord, json.loads(line))))
            except (ValueError, DataError):
                lines.append((line, None))
        return lines

    def read_log(self) -> list[EpochRecord]:
        """The epochs logged so far; a half-written last line (a killed run) is skipped."""
        return [entry for _, entry in self._log_lines() if entry is not None]

    def repair_log(self, last_epoch: int) -> list[str]:
        """Keep the log lines of epochs up to ``last_epoch`` (the checkpoint's: later lines
        belong to epochs never saved) and drop lines that are not epoch records, as a cut
        checkpoint is refused rather than read. Returns one warning per line dropped as
        damaged (a run killed while writing its last line leaves one)."""
        lines = self._log_lines()
        if not lines:
            return []
        warnings = []
        for number, (line, entry) in enumerate(lines, start=1):
            if entry is None:
                where = "its last line" if number == len(lines) else f"line {number}"
                warnings.append(
                    f"{self.log_file}: {where} is cut or damaged (a run stopped while writing "
                    f"it) and is dropped: {line[:60]!r}"
                )
        keep = [e.to_json() for _, e in lines if e is not None and e.epoch <= last_epoch]
        atomic_write_text(self.log_file, "".join(json.dumps(e) + "\n" for e in keep))
        return warnings

    # results ----------------------------------------------------------------------------------

    def write_results(self, metrics: MetricsRecord, record: RunRecord) -> None:
        """metrics.json, metrics.md and run.json (provenance)."""
        atomic_write_json(self.metrics_file, metrics.to_json())
        atomic_write_text(self.metrics_markdown, metrics.to_markdown())
        atomic_write_json(self.record_file, record.to_json())

    def read_metrics(self) -> MetricsRecord:
        """A finished run's metrics.json; a missing or damaged file names itself."""
        path = self.metrics_file
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"no {path.name}: the run has not finished", file=path, expected="a finished run"
            ) from None
        except (OSError, ValueError) as exc:
            raise DataError(f"not readable JSON ({exc})", file=path) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("metrics"), dict):
            raise DataError(
                "no 'metrics' object", file=path, field="metrics", expected="the run's test metrics"
            )
        return MetricsRecord.from_json(payload, file=path)

    def read_record(self) -> RunRecord:
        return record_from_json(RunRecord, read_json(self.record_file), file=self.record_file)

    def write_evaluation(self, record: MetricsRecord) -> tuple[Path, Path]:
        """evaluation.json and evaluation.md (recomputed metrics); returns both paths."""
        atomic_write_json(self.evaluation_file, record.to_json())
        atomic_write_text(self.evaluation_markdown, record.to_markdown())
        return self.evaluation_file, self.evaluation_markdown

    def load_result(self) -> RunResult:
        """The result of a finished run, read back from its metrics.json."""
        m = self.read_metrics()
        return RunResult(
            self.path, m.metrics, m.best_epoch, m.epochs, m.train_seconds, m.test_pixels_per_s
        )

    # reuse ------------------------------------------------------------------------------------

    def check_same_config(self, config: RunConfig | ResolvedRunConfig) -> None:
        """Refuse to reuse or resume this directory when it holds another configuration.

        Both sides are compared resolved, so a config.toml written before a default was
        recorded (or with values an estimator never used) still matches. A fixed split file
        (``file:PATH``) is compared by its pixels, not by its path.
        """
        stored = comparable(self.read_config())
        asked = comparable(resolve(config))
        if stored["data"]["split"] != asked["data"]["split"] and self._same_split_pixels(
            stored["data"]["split"], asked["data"]["split"]
        ):
            stored["data"]["split"] = asked["data"]["split"]
        difference = first_difference(stored, asked)
        if difference:
            raise ConfigError(
                f"{self.path}: holds a run with another configuration: {difference}; "
                "choose another --out, or delete the directory to start again"
            )

    def data_changed(self, sources: Mapping[str, Any]) -> str | None:
        """How the data files ``sources`` differ from those run.json recorded (None: the same,
        or a run that recorded none yet)."""
        record = self.recorded()
        return data_difference(record.data, sources) if record is not None else None

    def check_same_data(self, sources: Mapping[str, Any]) -> None:
        """Refuse to reuse this finished run when its data files changed since it ran: its
        results are of the data it recorded (run.json), not of the files as they are now."""
        difference = self.data_changed(sources)
        if difference:
            raise DataError(
                f"{self.path}: this finished run was trained on other data: {difference}; "
                "its results do not hold for the file as it is now. Train into another --out, "
                "or delete the run directory to train it again"
            )

    def _same_split_pixels(self, stored: str, asked: str) -> bool:
        """Whether the asked split file holds the pixels this run used (its own split.npz copy).

        Why: a benchmark's cells name their shared split file by path; a benchmark directory
        that was moved or copied must still resume, and a file rewritten in place with other
        pixels must not. Notes and the guard patch size do not decide a result; the pixels do.
        The copy is the split as the run used it: with a fixed schedule (recipe selection
        ``last``) its validation pixels joined the training pixels, so the asked file is
        compared the same way.
        """
        if not (stored.startswith("file:") and asked.startswith("file:")):
            return False
        try:
            split = Split.load(asked.removeprefix("file:"))
            if self.read_config().recipe.selection == "last":
                split = split.with_val_in_train()
            return self.read_split().same_pixels(split)
        except MssfeError:
            return False


#: Runs a "not one run" message names before it says how many more there are.
LISTED_RUNS = 6


def runs_under(path: Path) -> list[Path]:
    """The run directories (holding config.toml) below ``path``, sorted, ``path`` excluded."""
    return sorted(p.parent for p in path.rglob("config.toml") if p.parent != path)


def open_run(path: str | Path) -> RunDir:
    """The run at ``path``, for a command that takes one run (evaluate, predict).

    Why: ``mssfe evaluate runs`` used to fail on a missing config.toml deep inside; a
    directory that holds runs but is not one now says which runs it holds.
    """
    run = RunDir(Path(path))
    if run.has_config():
        return run
    what = describe_path(run.path)
    if what != "a directory":
        raise DataError(
            "run directory not found", file=run.path, expected="a run directory", got=what
        )
    found = runs_under(run.path)
    if not found:
        raise DataError(
            "not a run directory",
            file=run.path,
            expected=f"a directory with {run.config_file.name} (a run made by mssfe train)",
            got="no run in or below it",
        )
    raise DataError(not_one_run(run.path, found), file=run.path)


def not_one_run(path: Path, found: list[Path]) -> str:
    """The one line that says a directory holds runs and names them (relative to it)."""
    names = [str(p.relative_to(path)) for p in found[:LISTED_RUNS]]
    more = f" and {len(found) - LISTED_RUNS} more" if len(found) > LISTED_RUNS else ""
    return (
        f"a directory holding {len(found)} run(s), not one run: {', '.join(names)}{more}; "
        f"give one of them, e.g. {found[0]}"
    )


def write_metrics(
    run: RunDir,
    config: ResolvedRunConfig,
    data: PreparedData,
    metrics: Metrics,
    **fields: Any,
) -> MetricsRecord:
    """Write a finished run's metrics (with ``fields``: timings, fit details) and provenance."""
    record = MetricsRecord.of_run(config, data, metrics, **fields)
    run.write_results(record, RunRecord.of_run(config, data.scene, record.train_seconds))
    return record


# ---------------------------------------------------------------------------------------------
# A prediction's output set
# ---------------------------------------------------------------------------------------------

PREDICTION_RECORD = "prediction.json"  # written last: its presence means the set is whole


@dataclass(frozen=True)
class PredictionDir:
    """What ``mssfe predict`` writes into its ``--out``: the class map (GeoTIFF in the label
    file's codes, ``.npy``, ``.png``), optionally confidence and probabilities, and
    prediction.json, the record published last (:func:`mssfe.utils.outdir.output_set`)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def class_map_tif(self) -> Path:
        return self.path / "class_map.tif"

    @property
    def class_map_npy(self) -> Path:
        return self.path / "class_map.npy"

    @property
    def class_map_png(self) -> Path:
        return self.path / "class_map.png"

    @property
    def confidence_tif(self) -> Path:
        return self.path / "confidence.tif"

    @property
    def confidence_npy(self) -> Path:
        return self.path / "confidence.npy"

    @property
    def probabilities_tif(self) -> Path:
        return self.path / "probabilities.tif"

    @property
    def probabilities_npy(self) -> Path:
        return self.path / "probabilities.npy"

    @property
    def record_file(self) -> Path:
        return self.path / PREDICTION_RECORD

    def class_codes(self) -> tuple[int, ...] | None:
        """The label codes prediction.json lists (None: no record, or one written before
        class maps were in the label file's codes)."""
        if not self.record_file.exists():
            return None
        record = read_json(self.record_file)
        codes = record.get("class_codes") if isinstance(record, dict) else None
        return tuple(int(c) for c in codes) if codes else None


# ---------------------------------------------------------------------------------------------
# The seed group
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupDir:
    """The seeds of one configuration (``seedN`` run directories) and their summary."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def summary_markdown(self) -> Path:
        return self.path / "summary.md"

    def has_summary(self) -> bool:
        return self.summary_file.exists()

    def run(self, seed: int) -> RunDir:
        return RunDir(self.path / f"seed{seed}")

    def write(self, summary: GroupSummary) -> None:
        atomic_write_json(self.summary_file, summary.to_json())
        atomic_write_text(self.summary_markdown, summary.to_markdown())

    def read(self) -> GroupSummary:
        return record_from_json(GroupSummary, read_json(self.summary_file), file=self.summary_file)

    def run_of(self, listed: str) -> RunDir:
        """A run the summary lists, found beside the summary when the group was moved."""
        run = RunDir(Path(listed))
        if not run.path.is_absolute() and not run.is_finished():
            return RunDir(self.path / run.path.name)
        return run
