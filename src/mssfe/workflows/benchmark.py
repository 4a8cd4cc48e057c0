"""`mssfe benchmark`: every (scene, protocol, model, seed) cell under one protocol, one table.

Honest comparison rules: for each (scene, protocol, seed) the split is made once and shared by
every model (a ``disjoint`` guard band sized for the largest patch of the compared models, so no
model's test patch sees a training pixel); each model keeps its own preprocessing defaults (PCA,
patch size) fitted on the training pixels (PCA: the model's own default); the epoch budget and
early-stopping patience, when given, are the same for every network. Finished cells are kept
and skipped, an interrupted cell resumes from its checkpoint.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mssfe.data.scenes import Scene, load_scene
from mssfe.data.splits import Split, make_split, parse_split, subsample_test
from mssfe.errors import ConfigError
from mssfe.evaluation.compare import (
    PAPER,
    has_recipes,
    paired_difference,
    row_label,
    row_recipe,
)
from mssfe.evaluation.metrics import aggregate, format_epochs, format_pm
from mssfe.evaluation.table import (
    BenchmarkMeta,
    BenchmarkRow,
    BenchmarkTable,
    EpochBudget,
    rows_of,
)
from mssfe.models import Fit, create_model, get_model_spec, input_needs, list_models, make_config
from mssfe.models.summary import count_parameters, flops_per_pixel
from mssfe.training.config import MAX_SEED, DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.prepare import resolve
from mssfe.training.recipes import parse_recipe
from mssfe.training.record import machine, package_versions
from mssfe.training.rundir import RunDir, RunResult
from mssfe.training.trainer import run_or_resume
from mssfe.utils.lock import directory_lock
from mssfe.utils.parent_watch import exit_with_parent, orphan_guard
from mssfe.utils.validation import (
    check_distinct_ints,
    check_optional_scalar,
    check_patch_size,
    check_scalar,
    check_seeds,
    parse_key_value,
)
from mssfe.workflows.benchmark_dir import BenchmarkDir

PROTOCOL_PRESETS: dict[str, tuple[str, ...]] = {
    "standard": ("random:0.1",),
    "pavia": ("random:0.01",),
    "limited": ("random:5", "random:10", "random:20"),
    "disjoint": ("disjoint",),
}
ABLATIONS: tuple[str, ...] = (
    "ms2fenet:partitions=1",
    "ms2fenet:partitions=2",
    "ms2fenet",
    "ms2fenet:partitions=8",
    "ms2fenet:hierarchical=false",
    "ms2fenet:fusion=false",
    "ms2fenet:depthwise=false",
)
BASELINES_FIRST: tuple[str, ...] = (
    "svm",
    "svm_epf",
    "cnn3d",
    "ssrn",
    "hybridsn",
    "a2s2k",
    "ssftt",
    "ms2fenet",
)


@dataclass(frozen=True)
class ModelChoice:
    """A registered model with optional overrides, written ``name:key=value,key=value``."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return self.name + (
            "[" + ",".join(f"{k}={v}" for k, v in self.args) + "]" if self.args else ""
        )

    @classmethod
    def parse(cls, text: str) -> ModelChoice:
        name, _, rest = text.partition(":")
        args = tuple(parse_key_value(item, f"models '{text}'") for item in rest.split(",") if item)
        get_model_spec(name)  # unknown names fail here, with a suggestion
        make_config(name, **dict(args))  # unknown options fail here too
        return cls(name, args)


def expand_models(items: list[str]) -> list[ModelChoice]:
    """``all`` = every registered model; ``ablation`` = the MS²FENet ablation set."""
    out: list[str] = []
    for item in items:
        if item == "all":
            registered = list_models()
            out += [m for m in BASELINES_FIRST if m in registered]
            out += [m for m in registered if m not in BASELINES_FIRST]
        elif item == "ablation":
            out += list(ABLATIONS)
        else:
            out.append(item)
    return [ModelChoice.parse(m) for m in dict.fromkeys(out)]


def expand_protocols(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        out += list(PROTOCOL_PRESETS.get(item, (item,)))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class BenchmarkConfig:
    scenes: tuple[str, ...]
    models: tuple[ModelChoice, ...]
    protocols: tuple[str, ...]
    seeds: tuple[int, ...]
    out: Path
    max_epochs: int | None = None  # the same budget for every network (None: each model's own)
    patience: int | None = None
    # one batch size for every network (None: each model's paper value); with a short epoch
    # budget a large paper batch (HybridSN: 256) leaves a network a handful of updates
    batch_size: int | None = None
    max_test: int | None = None  # stratified test subset per (scene, protocol, seed); None: all
    # disjoint guard band sized for this patch (None: the largest patch of the compared models);
    # a table of some of the models then tests on the same pixels as the table of all of them
    guard_patch: int | None = None
    runtime: RuntimeConfig = field(default_factory=lambda: RuntimeConfig(progress=False))
    data_dir: str | None = None
    # training recipes, each run on the same splits ("paper": the training of the tables so far)
    recipes: tuple[str, ...] = (PAPER,)
    # train nothing: the table of the cells already finished, the missing ones listed (a table
    # that takes days is committed as it grows, while its command runs on)
    finished_only: bool = False

    def __post_init__(self) -> None:
        check_distinct_ints(self.seeds, "seeds", max_val=MAX_SEED)
        for name in ("max_epochs", "patience", "batch_size", "max_test"):
            check_optional_scalar(getattr(self, name), name, int, min_val=1)
        if self.guard_patch is not None:
            check_patch_size(self.guard_patch, "guard_patch")
        if not self.recipes:
            raise ConfigError(field="recipes", expected="at least one recipe", got="none")
        for recipe in self.recipes:
            parse_recipe(recipe)  # an unknown recipe or part fails before any training
        if self.guard_patch is not None and self.guard_patch < self._largest_patch():
            raise ConfigError(
                f"--guard-patch {self.guard_patch}: expected at least {self._largest_patch()}, "
                "the largest patch of the compared models (a smaller guard band lets their test "
                "patches see training pixels)"
            )

    def _largest_patch(self) -> int:
        return max(_patch_size(m) for m in self.models)

    @property
    def guard(self) -> int:
        """The patch a ``disjoint`` split's guard band is sized for."""
        return self.guard_patch if self.guard_patch is not None else self._largest_patch()


def _patch_size(choice: ModelChoice) -> int:
    return input_needs(choice.name, dict(choice.args)).patch_size


def _shared_split(
    bench: BenchmarkConfig,
    scene: Scene,
    protocol: str,
    seed: int,
    load: Callable[[str], Split],
) -> Path:
    """The split of (scene, protocol, seed), made once for all models and saved.

    ``load`` reads a saved split (the run's cache, so each file is read once).
    """
    path = BenchmarkDir(bench.out).split_path(scene.name, protocol, seed, bench.max_test)
    guard = bench.guard
    if path.exists():
        stored = load(str(path)).patch_size
        if parse_split(protocol).kind == "disjoint" and stored != guard:
            raise ConfigError(
                f"{path}: this split's guard band was sized for a {stored} x {stored} patch, "
                f"this run asks for {guard} x {guard} (--guard-patch or other models); "
                "use another --out"
            )
    elif not bench.finished_only:  # no split yet: no cell of it can have finished
        split = make_split(scene.labels, protocol, seed=seed, patch_size=guard)
        if bench.max_test:
            split = subsample_test(split, scene.labels, bench.max_test, seed=seed)
        split.save(path)
    return path


def _cell_config(
    bench: BenchmarkConfig,
    scene: Scene,
    choice: ModelChoice,
    split_path: Path,
    seed: int,
    recipe: str = PAPER,
) -> RunConfig:
    return RunConfig(
        model=choice.name,
        model_args=dict(choice.args),
        data=DataConfig(scene=scene.name, split=f"file:{split_path}", data_dir=bench.data_dir),
        optim=OptimConfig(
            max_epochs=bench.max_epochs, patience=bench.patience, batch_size=bench.batch_size
        ),
        recipe=parse_recipe(recipe),
        runtime=bench.runtime,
        seed=seed,
    )


def _model_cost(choice: ModelChoice, scene: Scene) -> tuple[int | None, int | None]:
    if get_model_spec(choice.name).fit is Fit.ESTIMATOR:
        return None, None
    needs = input_needs(choice.name, dict(choice.args))
    bands, patch = needs.n_components or scene.n_bands, needs.patch_size
    model = create_model(
        choice.name, n_bands=scene.n_bands, n_classes=scene.n_classes, **dict(choice.args)
    )
    return count_parameters(model), flops_per_pixel(model, (1, 1, bands, patch, patch))


def _row(
    scene: Scene,
    protocol: str,
    choice: ModelChoice,
    recipe: str,
    results: list[RunResult],
    cost: tuple[int | None, int | None],
) -> BenchmarkRow:
    summary = aggregate([r.metrics for r in results])
    metrics = [RunDir(r.run_dir).read_metrics() for r in results]
    train_counts = [m.n_train + m.n_val for m in metrics]
    return BenchmarkRow(
        scene=scene.name,
        simulated=scene.simulated,
        protocol=protocol,
        model=choice.label,
        recipe=recipe,
        recipe_version=metrics[0].recipe or "paper v1",  # a run of before recipes: paper
        ssl_pool=metrics[0].ssl_pool or "none",
        tta=bool(metrics[0].tta),
        seeds=tuple(m.seed for m in metrics),
        oa_per_seed=tuple(r.metrics.oa for r in results),
        oa_mean=summary.mean["oa"],
        oa_std=summary.std["oa"],
        aa_mean=summary.mean["aa"],
        aa_std=summary.std["aa"],
        kappa_mean=summary.mean["kappa"],
        kappa_std=summary.std["kappa"],
        per_class_mean=summary.per_class_mean,
        per_class_std=summary.per_class_std,
        class_names=tuple(scene.class_names),
        parameters=cost[0],
        flops_per_pixel=cost[1],
        train_seconds=float(np.mean([r.train_seconds for r in results])),
        test_pixels_per_s=float(np.mean([r.test_pixels_per_s for r in results])),
        leakage=float(np.mean([m.leakage for m in metrics])),
        labelled_train_pixels=float(np.mean(train_counts)),
        test_pixels=float(np.mean([m.n_test for m in metrics])),
        train_per_class=float(np.mean(train_counts)) / scene.n_classes,
        epochs=tuple(r.epochs for r in results),
        best_epochs=tuple(r.best_epoch for r in results),
    )


def _cell_work(config: RunConfig, flops: int | None, split: Split) -> float:
    """Rough cost of a cell in FLOPs: forward+backward per training pixel and epoch, one forward
    per validation pixel and epoch and per test pixel. Early stopping makes it an upper bound."""
    if flops is None:  # a classic model: small next to any network
        return 1e9
    epochs = resolve(config).gradient_optim.max_epochs
    return float(flops) * (
        3 * epochs * split.train.size + epochs * split.val.size + split.test.size
    )


class _Eta:
    """Time left, weighting cells by their estimated work (cells differ by 100x in cost)."""

    def __init__(self, work: dict[Path, float]) -> None:
        self.work, self.started, self.finished = work, time.time(), 0.0
        self.total = sum(work.values())

    def done(self, run_dir: Path) -> None:
        self.finished += self.work.get(run_dir, 0.0)

    def left(self) -> str:
        if self.finished <= 0 or self.total <= self.finished:
            return "time left: estimating" if self.total > self.finished else "done"
        seconds = (time.time() - self.started) * (self.total - self.finished) / self.finished
        return f"~{tqdm.format_interval(seconds)} left (work-weighted)"


def _run_cell(config: RunConfig, run_dir: Path) -> RunResult:
    """One cell in a worker process (the scene is loaded there; simulated ones from the cache)."""
    with orphan_guard():  # a worker whose benchmark died stops and takes no queued cell
        return run_or_resume(config, run_dir)


def _worker_runtime(runtime: RuntimeConfig, slot: int, jobs: int) -> RuntimeConfig:
    """Spread concurrent cells over the GPUs; on CPUs share the cores between the workers."""
    if runtime.device in ("auto", "cuda") and torch.cuda.is_available():
        return replace(runtime, device=f"cuda:{slot % torch.cuda.device_count()}")
    return replace(runtime, threads=runtime.threads or max(1, (os.cpu_count() or 1) // jobs))


def run_benchmark(
    bench: BenchmarkConfig, *, progress: bool = True, jobs: int = 1
) -> list[BenchmarkRow]:
    """Run (or resume) every cell and write results.json / .csv / .md in ``bench.out``
    (``bench.finished_only``: train nothing, write the finished cells' table in ``OUT/partial``).

    ``jobs > 1`` runs independent cells concurrently as separate processes (one per GPU, or
    sharing the CPU cores); the table is the same as with one job. ``bench.out`` is locked
    while it runs: a second benchmark into the same directory is refused.
    """
    check_scalar(jobs, "jobs", int, min_val=1)
    if bench.finished_only:  # reads cells and writes only OUT/partial/: no lock to wait for
        return _run_benchmark(bench, progress=progress, jobs=jobs)
    with directory_lock(bench.out, "benchmark directory"):
        return _run_benchmark(bench, progress=progress, jobs=jobs)


def _run_benchmark(bench: BenchmarkConfig, *, progress: bool, jobs: int) -> list[BenchmarkRow]:
    scenes = {name: load_scene(name, data_dir=bench.data_dir) for name in bench.scenes}
    costs = {(s, m.label): _model_cost(m, scenes[s]) for s in scenes for m in bench.models}
    load_split = functools.cache(Split.load)  # one split file serves every model of a seed
    split_paths = {
        (s, p, seed): _shared_split(bench, scenes[s], p, seed, load_split)
        for s, p, seed in itertools.product(scenes, bench.protocols, bench.seeds)
    }
    cells = []
    for s, p, recipe, m, seed in itertools.product(
        scenes, bench.protocols, bench.recipes, bench.models, bench.seeds
    ):
        split_path = split_paths[(s, p, seed)]
        cell = BenchmarkDir(bench.out).cell(scenes[s].name, p, m.label, seed, recipe)
        config = _cell_config(bench, scenes[s], m, split_path, seed, recipe)
        cells.append(((s, p, recipe, m.label), config, cell.path))
    for key, config, run_dir in cells:  # before any training: a reused --out must match
        if RunDir(run_dir).has_config():
            RunDir(run_dir).check_same_config(config)
        if RunDir(run_dir).is_finished():  # and a finished cell must be of the data as it is
            RunDir(run_dir).check_same_data(scenes[key[0]].sources)
    if bench.finished_only:
        return _finished_rows(bench, scenes, costs, cells)
    eta = _Eta(
        {
            run_dir: _cell_work(
                config,
                costs[(key[0], key[3])][1],
                load_split(config.data.split.removeprefix("file:")),
            )
            for key, config, run_dir in cells
            if not RunDir(run_dir).is_finished()
        }
    )
    results: dict[tuple[str, str, str, str], list[RunResult]] = {}
    started = time.time()
    with tqdm(total=len(cells), desc="benchmark cells", unit="cell", disable=not progress) as bar:
        if jobs <= 1:
            for key, config, run_dir in cells:
                bar.set_postfix_str(" ".join(key) + f" seed {config.seed}; {eta.left()}")
                run = run_or_resume(config, run_dir, scene=scenes[key[0]])
                results.setdefault(key, []).append(run)
                eta.done(run_dir)
                bar.update(1)
        else:
            context = multiprocessing.get_context("spawn")
            bar.update(sum(RunDir(run_dir).is_finished() for _, _, run_dir in cells))
            # a worker stops when this process dies (a killed benchmark leaves no orphan)
            with ProcessPoolExecutor(
                jobs, mp_context=context, initializer=exit_with_parent
            ) as pool:
                futures = {
                    pool.submit(
                        _run_cell,
                        replace(config, runtime=_worker_runtime(config.runtime, i, jobs)),
                        run_dir,
                    ): run_dir
                    for i, (_, config, run_dir) in enumerate(cells)
                    if not RunDir(run_dir).is_finished()  # checked above, read below
                }
                for future in as_completed(futures):
                    try:
                        future.result()
                    except BaseException:
                        pool.shutdown(wait=True, cancel_futures=True)  # no queued cell starts
                        raise
                    eta.done(futures[future])
                    bar.set_postfix_str(eta.left())
                    bar.update(1)
            for key, _, run_dir in cells:  # in cell order: the table does not depend on timing
                results.setdefault(key, []).append(RunDir(run_dir).load_result())
    return _write_rows(bench, scenes, costs, results, started, [], len(cells))


def _finished_rows(
    bench: BenchmarkConfig,
    scenes: Mapping[str, Scene],
    costs: Mapping[tuple[str, str], tuple[int | None, int | None]],
    cells: Sequence[tuple[tuple[str, str, str, str], RunConfig, Path]],
) -> list[BenchmarkRow]:
    """The rows of the finished cells, the others listed as missing (nothing is trained)."""
    started = time.time()
    results: dict[tuple[str, str, str, str], list[RunResult]] = {}
    missing = []
    for key, config, run_dir in cells:
        if RunDir(run_dir).is_finished():
            results.setdefault(key, []).append(RunDir(run_dir).load_result())
        else:
            missing.append(f"{' '.join(key)} seed {config.seed}")
    return _write_rows(bench, scenes, costs, results, started, missing, len(cells))


def _write_rows(
    bench: BenchmarkConfig,
    scenes: Mapping[str, Scene],
    costs: Mapping[tuple[str, str], tuple[int | None, int | None]],
    results: Mapping[tuple[str, str, str, str], list[RunResult]],
    started: float,
    missing: Sequence[str],
    n_cells: int,
) -> list[BenchmarkRow]:
    """One row per (scene, protocol, recipe, model) with results, then the table files."""
    rows = []
    for (scene_name, protocol, recipe, label), runs in results.items():
        choice = next(m for m in bench.models if m.label == label)
        cost = costs[(scene_name, label)]
        rows.append(_row(scenes[scene_name], protocol, choice, recipe, runs, cost))
    extra = {"partial": {"cells": n_cells, "missing": list(missing)}} if missing else {}
    write_results(bench, rows, time.time() - started, extra=extra)
    return rows


def write_results(
    bench: BenchmarkConfig,
    rows: list[BenchmarkRow],
    seconds: float,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    meta = BenchmarkMeta(
        scenes=bench.scenes,
        protocols=bench.protocols,
        models=tuple(m.label for m in bench.models),
        seeds=bench.seeds,
        epoch_budget=EpochBudget(
            max_epochs=bench.max_epochs, patience=bench.patience, batch_size=bench.batch_size
        ),
        max_test=bench.max_test,
        guard_patch=bench.guard,
        recipes=bench.recipes,
        machine=machine(),
        packages=package_versions(),
        wall_seconds_this_invocation=round(seconds, 1),
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        extra=dict(extra or {}),
    )
    BenchmarkDir.table_of(bench.out, partial=bench.finished_only).write(
        BenchmarkTable(meta=meta, rows=tuple(rows)),
        markdown=format_markdown(meta, rows),
        csv=format_csv(rows),
    )


def format_csv(rows: Sequence[BenchmarkRow]) -> str:
    recipe_keys = ["recipe", "recipe_version", "ssl_pool", "tta"] if has_recipes(rows) else []
    keys = [
        "scene",
        "simulated",
        "protocol",
        "model",
        *recipe_keys,
        "oa_mean",
        "oa_std",
        "aa_mean",
        "aa_std",
        "kappa_mean",
        "kappa_std",
        "parameters",
        "flops_per_pixel",
        "train_seconds",
        "test_pixels_per_s",
        "leakage",
        "labelled_train_pixels",
        "test_pixels",
    ]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.to_json() for r in rows)
    return buf.getvalue()


def _class_pct(value: float) -> str:
    return "–" if np.isnan(value) else f"{value * 100:.1f}"


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _fmt(value: float | None, spec: str) -> str:
    """A row's number formatted, '-' where an older table has none."""
    return "-" if value is None else format(value, spec)


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return format_pm(mean, float("nan") if std is None else std)


REFERENCE_MODEL = "ms2fenet"
PAIRED_HEADER = "ΔOA vs ms2fenet, paired (seeds better)"


def _paired(row: BenchmarkRow, reference: BenchmarkRow | None) -> str:
    """OA minus the reference's OA on the same split, seed by seed: mean ± std in points, and
    on how many seeds this model was better. Pairing removes the split-to-split spread that
    dominates the plain ± columns."""
    if reference is None or row is reference:
        return "-"
    return str(paired_difference(row, reference) or "-")


RECIPES_TEXT = (
    "Recipe: how a network was trained, its version and the unlabelled pool of its "
    "semi-supervised part (none; inductive: pixels without a ground-truth label only; "
    "transductive: every pixel not trained on, test pixels included, their labels never read); "
    "`paper` is the training of the tables before recipes (early stopping on validation pixels), "
    "`mssfe` ours (docs/recipes.md). Each model is paired with MS²FENet under the same recipe."
)


def _seeds_note(row: BenchmarkRow, meta: BenchmarkMeta) -> str:
    """`` (seeds [0, 1])`` for a row of a partial table over fewer seeds than the table's."""
    return f" (seeds {list(row.seeds)})" if len(row.seeds) < len(meta.seeds) else ""


def _recipe_cells(row: BenchmarkRow) -> str:
    tta = ", TTA" if row.tta else ""
    return f" | {row.recipe_version or 'paper v1'}{tta} | {row.ssl_pool or 'none'}"


def format_markdown(meta: BenchmarkMeta, rows: Sequence[BenchmarkRow]) -> str:
    recipes = has_recipes(rows)
    budget, machine_ = meta.epoch_budget, meta.machine
    lines = [
        "# Benchmark",
        "",
        f"Seeds {list(meta.seeds)}; epoch budget: max_epochs={budget.max_epochs or 'model default'}, "
        f"patience={budget.patience or 'model default'}, "
        f"batch size={budget.batch_size or 'model default'} (the same for every network). "
        f"Machine: {machine_.get('processor', '?')}, {machine_.get('cpu_count', '?')} cores. "
        "Scenes named `-sim` are simulated; they are never averaged with real scenes.",
        "Leakage: share of test patches containing a training/validation pixel (per model patch size).",
        "Epochs (best): mean epochs run (mean epoch of the kept weights); a best epoch at the "
        "budget means the network was still improving when the budget ended.",
        f"{PAIRED_HEADER}: the model's OA minus MS²FENet's on the same split and test pixels, "
        "seed by seed (mean ± std in points; in brackets the seeds where the model was better).",
    ]
    if meta.guard_patch and any(parse_split(p).kind == "disjoint" for p in meta.protocols):
        lines.append(
            f"Disjoint guard band: {meta.guard_patch // 2} pixels (sized for a "
            f"{meta.guard_patch} x {meta.guard_patch} patch), the same test pixels for "
            "every model."
        )
    if meta.max_test:
        lines.append(
            f"Test set: a stratified random subset of at most {meta.max_test:,} test pixels per "
            "(scene, split, seed), the same pixels for every model (OA/kappa unbiased, small "
            "classes noisier)."
        )
    if recipes:
        lines.append(RECIPES_TEXT)
    partial = meta.extra.get("partial")
    if partial:
        unfinished = list(partial["missing"])
        lines.append(
            f"**Partial table** (`--finished-only`): {partial['cells'] - len(unfinished)} of "
            f"{partial['cells']} cells finished; a row over fewer seeds than the table's names "
            f"its seeds beside the model. Not finished: {'; '.join(unfinished)}."
        )
    for scene, protocol in dict.fromkeys((r.scene, r.protocol) for r in rows):
        sub = rows_of(rows, scene, protocol)
        kind = "simulated" if sub[0].simulated else "real"
        test_pixels = sub[0].test_pixels
        lines += [
            "",
            f"## {scene} ({kind}), split `{protocol}`",
            "",
            f"Labelled training pixels (incl. validation): {_fmt(sub[0].labelled_train_pixels, ',.0f')}; "
            f"test pixels: {float('nan') if test_pixels is None else test_pixels:,.0f} (means over seeds).",
            "",
            f"| model{' | recipe | SSL pool' if recipes else ''} | OA % | {PAIRED_HEADER} | AA % "
            "| kappa % | params | FLOPs/px | epochs (best) | train s | test px/s | leakage |",
            "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if recipes else ""),
        ]
        reference = {  # MS²FENet under each recipe
            row_recipe(r): r for r in sub if r.model == REFERENCE_MODEL
        }
        lines += [
            f"| {r.model}{_seeds_note(r, meta)}{_recipe_cells(r) if recipes else ''} "
            f"| {_pm(r.oa_mean, r.oa_std)} | {_paired(r, reference.get(row_recipe(r)))} "
            f"| {_pm(r.aa_mean, r.aa_std)} "
            f"| {_pm(r.kappa_mean, r.kappa_std)} | {_fmt_int(r.parameters)} "
            f"| {_fmt_int(r.flops_per_pixel)} | {format_epochs(r.epochs, r.best_epochs) or '-'} "
            f"| {_fmt(r.train_seconds, '.1f')} | {_fmt(r.test_pixels_per_s, ',.0f')} "
            f"| {_fmt(r.leakage, '.1%')} |"
            for r in sub
        ]
        names = sub[0].class_names
        missing = any(np.isnan(v) for r in sub for v in r.per_class_mean)
        lines += [
            "",
            "Per-class accuracy (%, mean over the seeds with test pixels of the class"
            + ("; –: no test pixel of the class in any seed):" if missing else "):"),
            "",
            "| class | " + " | ".join(row_label(r, recipes) for r in sub) + " |",
            "|---|" + "---|" * len(sub),
        ]
        for i, name in enumerate(names):
            lines.append(
                f"| {name} | " + " | ".join(_class_pct(r.per_class_mean[i]) for r in sub) + " |"
            )
    lines += _leakage_gap_sections(rows)
    return "\n".join(lines) + "\n"


def _leakage_gap_sections(rows: Sequence[BenchmarkRow]) -> list[str]:
    """Random-split OA beside disjoint-split OA per model, with the gap between them."""
    lines: list[str] = []
    recipes = has_recipes(rows)
    for scene in dict.fromkeys(r.scene for r in rows):
        by_model = {(row_label(r, recipes), r.protocol): r for r in rows if r.scene == scene}
        protocols = list(dict.fromkeys(p for _, p in by_model))
        kinds = {p: parse_split(p).kind for p in protocols}
        for rand, disj in itertools.product(protocols, protocols):
            if kinds[rand] != "random" or kinds[disj] != "disjoint":
                continue
            models = [m for m, p in by_model if p == rand and (m, disj) in by_model]
            if not models:
                continue
            lines += [
                "",
                f"## {scene}: `{rand}` beside `{disj}` (random vs spatially disjoint sampling)",
                "",
                "Gap = random OA - disjoint OA. Two things make it: patch leakage (a random-split "
                "test patch contains training pixels) and the clustering of disjoint training "
                "pixels in a few blocks (less varied training data). A pixel classifier (patch 1, "
                "no leakage on either split) shows the second part alone.",
                "",
                f"| model | OA % `{rand}` | OA % `{disj}` | gap (points) | leakage `{rand}` "
                f"| leakage `{disj}` |",
                "|---|---|---|---|---|---|",
            ]
            for model in models:
                a, b = by_model[(model, rand)], by_model[(model, disj)]
                lines.append(
                    f"| {model} | {_pm(a.oa_mean, a.oa_std)} "
                    f"| {_pm(b.oa_mean, b.oa_std)} "
                    f"| {(a.oa_mean - b.oa_mean) * 100:+.2f} "
                    f"| {_fmt(a.leakage, '.1%')} | {_fmt(b.leakage, '.1%')} |"
                )
    return lines


def benchmark_config(
    scenes: list[str],
    models: list[str],
    protocols: list[str],
    seeds: int | Sequence[int],
    out: str | Path,
    **kwargs: Any,
) -> BenchmarkConfig:
    """``seeds``: a count ``N`` (seeds 0..N-1) or the seeds themselves."""
    runtime = kwargs.pop("runtime", RuntimeConfig(progress=False))
    return replace(
        BenchmarkConfig(
            scenes=tuple(scenes),
            models=tuple(expand_models(models)),
            protocols=tuple(expand_protocols(protocols)),
            seeds=check_seeds(seeds, "seeds", max_val=MAX_SEED),
            out=Path(out),
            runtime=runtime,
        ),
        **kwargs,
    )


@dataclass(frozen=True)
class BenchmarkResult:
    """What :func:`benchmark` wrote: one row per (scene, protocol, model, recipe) with mean ±
    std over seeds, and the directory holding the table files (``results.md/.csv/.json``)."""

    rows: tuple[BenchmarkRow, ...]
    out: Path

    @property
    def markdown(self) -> Path:
        return BenchmarkDir(self.out).results_md


def benchmark(
    scenes: Sequence[str],
    models: Sequence[str] = ("all",),
    splits: Sequence[str] = ("random:0.1",),
    seeds: int | Sequence[int] = 5,
    out: str | Path = "benchmark",
    *,
    epochs: int | None = None,
    patience: int | None = None,
    batch_size: int | None = None,
    max_test: int | None = None,
    guard_patch: int | None = None,
    data_dir: str | None = None,
    threads: int | None = None,
    device: str = "auto",
    data_on_device: str = "auto",
    jobs: int = 1,
    progress: bool = True,
    recipes: Sequence[str] = (PAPER,),
    finished_only: bool = False,
) -> BenchmarkResult:
    """Every (scene, split, model, seed) cell under one protocol: ``mssfe benchmark`` in Python.

    ``models``: names with options (``"ms2fenet:partitions=2"``), ``"all"`` or ``"ablation"``;
    ``splits``: protocols or presets (``standard``, ``pavia``, ``limited``, ``disjoint``);
    ``seeds``: how many (0..seeds-1), or the seeds themselves (a list). Finished cells in ``out`` are kept, so a call resumes.
    ``recipes``: training recipes run side by side on the same splits (``"paper"``,
    ``"mssfe"``, ``"mssfe:ssl=none"``: docs/recipes.md). ``finished_only``: train nothing, write
    the table of the cells already finished (the missing ones listed in it).
    ``data_on_device``: where training patches are cut (``auto``: on a GPU, docs/speed.md).
    The rules (shared splits, one budget) are in docs/benchmark.md.
    """
    bench = benchmark_config(
        list(scenes),
        list(models),
        list(splits),
        seeds,
        out,
        max_epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        max_test=max_test,
        guard_patch=guard_patch,
        data_dir=data_dir,
        runtime=RuntimeConfig(
            progress=False, threads=threads, device=device, data_on_device=data_on_device
        ),
        recipes=tuple(recipes),
        finished_only=finished_only,
    )
    rows = run_benchmark(bench, progress=progress, jobs=jobs)
    return BenchmarkResult(tuple(rows), bench.out)
