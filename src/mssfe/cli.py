"""The ``mssfe`` command line: a thin layer that parses, calls the library and prints."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from mssfe import __version__
from mssfe.errors import ConfigError, MssfeError
from mssfe.utils.validation import parse_key_value

Handler = Callable[[argparse.Namespace], int]

#: Per command, the config fields and workflow arguments its options set, as the user typed
#: them: an error about ``optim.lr`` from ``mssfe train`` names ``--lr``.
OPTION_NAMES: dict[str, dict[str, str]] = {
    "split": {
        "seed": "--seed",
        "patch_size": "--patch-size",
        "val_fraction": "--val-fraction",
    },
    "train": {
        "optim.lr": "--lr",
        "optim.max_epochs": "--epochs",
        "optim.patience": "--patience",
        "optim.batch_size": "--batch-size",
        "data.val_fraction": "--val-fraction",
        "data.cube": "--cube",
        "data.labels": "--labels",
        "runtime.threads": "--threads",
        "runtime.workers": "--workers",
        "runtime.data_on_device": "--data-on-device",
        "runtime.precision": "--precision",
        "data.max_test": "--max-test",
        "data.bands": "--bands",
        "seeds": "--seeds",
        "seed": "--seeds",
        "model": "--model",
        "model_args.patch_size": "--patch-size",
        "data.scene": "--scene",
        "data.split": "--split",
        "data.pca_fit": "--pca-fit",
        "data.var": "--var",
        "data.labels_var": "--labels-var",
        "data.nan_policy": "--nan-policy",
        "optim.augment": "--no-augment",
    },
    "evaluate": {"max_test": "--max-test"},
    "benchmark": {
        "seeds": "--seeds",
        "max_epochs": "--epochs",
        "patience": "--patience",
        "batch_size": "--batch-size",
        "max_test": "--max-test",
        "guard_patch": "--guard-patch",
        "threads": "--threads",
        "jobs": "--jobs",
        "recipes": "--recipe",
    },
    "predict": {"tile_rows": "--tile-rows", "batch_size": "--batch-size", "window": "--window"},
    "simulate": {
        "scale": "--scale",
        "noise_seed": "--seed",
        "scene_seed": "--scene-seed",
        "difficulty": "--difficulty",
    },
    "demo": {"max_epochs": "--epochs", "seed": "--seed"},
}


class _SeedsAction(argparse.Action):
    """``--seeds N`` (a count: seeds 0..N-1) and ``--seed S [S ...]`` (these seeds) set one
    value, the one given last; which of the two was typed is kept to name it in errors."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string == "--seeds":
            if len(values) != 1:  # the old spelling of a list: say what to type instead
                listed = " ".join(str(v) for v in values)
                parser.error(
                    f"--seeds takes one count N (trains seeds 0..N-1), got {listed}; "
                    f"to name the seeds, use --seed {listed}"
                )
            values = values[0]
        setattr(namespace, self.dest, values)
        namespace.seeds_option = option_string


def _add_seed_options(p: argparse.ArgumentParser, default: int | list[int]) -> None:
    p.add_argument(
        "--seeds",
        dest="seeds",
        type=int,
        nargs="+",
        action=_SeedsAction,
        metavar="N",
        help="how many seeds: 0, 1, ..., N-1 (one run each; mean ± std over them)",
    )
    p.add_argument(
        "--seed",
        dest="seeds",
        type=int,
        nargs="+",
        action=_SeedsAction,
        metavar="S",
        help=f"these seeds, e.g. --seed 3 or --seed 0 7 9 (default: --seeds/--seed {default})",
    )
    p.set_defaults(seeds=default, seeds_option=None)


def _global_options(*, after_command: bool) -> argparse.ArgumentParser:
    """``--debug`` and ``--data-dir``: accepted before the command (the top-level parser) and
    after it (each command's parser). After it their default is SUPPRESS, so a command's
    parser leaves the value given before the command as it is."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="show the full traceback on errors",
    )
    p.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS if after_command else None,
        help="directory searched first for scene files (then $MSSFE_DATA_DIR, then the user cache)",
    )
    return p


def _command(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A command's parser: its one-line summary, the global options and a runnable example
    (the epilog; tests/test_cli.py parses every one)."""
    return sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(after_command=True)],
    )


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-download", action="store_true", help="never download missing scene files")


def _add_user_cube_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cube", help="your own cube file (.mat, ENVI .hdr, GeoTIFF, .npy/.npz) instead of --scene"
    )
    p.add_argument("--labels", help="label raster for --cube (0 = unlabelled)")
    p.add_argument("--var", help="variable of the cube inside a .mat/.npz file")
    p.add_argument("--labels-var", help="variable of the labels inside a .mat/.npz file")
    p.add_argument(
        "--nan-policy",
        choices=["raise", "median"],
        default=None,
        help="NaN/inf in the cube: error (default) or replace with the band median",
    )


def cmd_scenes(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.data.inventory import format_inventory, scene_inventory

    print(format_inventory(scene_inventory(args.data_dir), args.data_dir))
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.data.scenes import load_scene
    from mssfe.data.splits import format_counts, make_split

    scene = load_scene(
        args.scene, data_dir=args.data_dir, download=not args.no_download, labels_only=True
    )
    split = make_split(
        scene.labels,
        args.split,
        seed=args.seed,
        patch_size=args.patch_size,
        val_fraction=args.val_fraction,
    )
    tag = " (simulated scene)" if scene.simulated else ""
    print(
        f"{scene.name}{tag}: split {split.protocol}, seed {split.seed}, patch size {split.patch_size}"
    )
    print(format_counts(split, scene.labels, scene.class_names))  # includes the split's notes
    if args.out:
        split.save(args.out)
        print(f"saved {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.data.scenes import find_scene_info
    from mssfe.models import Fit, create_model, get_model_spec, input_needs
    from mssfe.models.summary import format_summary

    info = find_scene_info(args.scene)
    spec = get_model_spec(args.model)
    if spec.fit is Fit.ESTIMATOR:
        print(f"{args.model}: {spec.paper}\nnot a neural network: no layer table or FLOPs")
        return 0
    model_args = _model_args(args)
    needs = input_needs(args.model, model_args)
    n_bands, patch = needs.n_components or info.shape[2], needs.patch_size
    model = create_model(args.model, n_bands=n_bands, n_classes=info.n_classes, **model_args)
    print(
        f"{args.model} for {info.name} ({info.n_classes} classes), input (1, 1, {n_bands}, {patch}, {patch})"
    )
    print(format_summary(model, (1, 1, n_bands, patch, patch)))
    return 0


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` options, with ``--patch-size N`` as ``patch_size=N``."""
    out = dict(parse_key_value(item, "--model-arg") for item in args.model_arg or [])
    if args.patch_size is not None:
        if out.get("patch_size", args.patch_size) != args.patch_size:
            raise ConfigError(
                "given twice, differently",
                field="--patch-size",
                expected=f"--model-arg patch_size={args.patch_size} or nothing",
                got=f"patch_size={out['patch_size']!r}",
            )
        out["patch_size"] = args.patch_size
    return out


def _train_config(args: argparse.Namespace, base: Any = None) -> Any:
    """The RunConfig ``mssfe train`` asks for: ``--config`` (or ``base``, a resumed run's
    stored configuration, or the defaults) with the options given on top, built by
    :func:`mssfe.workflows.train.run_config` as for Python callers (one mapping of options to
    config fields), plus the recipe parts ``--ssl``/``--tta``."""
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.training.config import with_overrides
    from mssfe.workflows.train import run_config

    config = run_config(
        args.config or base,
        model_args=_model_args(args),
        recipe=args.recipe,
        model=args.model,
        scene=args.scene,
        split=args.split,
        data_dir=args.data_dir,
        cube=args.cube,
        labels=args.labels,
        var=args.var,
        labels_var=args.labels_var,
        nan_policy=args.nan_policy,
        val_fraction=args.val_fraction,
        pca_fit=args.pca_fit,
        max_test=args.max_test,
        bands=args.bands,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=args.patience,
        device=args.device,
        precision=args.precision,
        workers=args.workers,
        data_on_device=args.data_on_device,
        threads=args.threads,
        download=False if args.no_download else None,
        augment=False if args.no_augment else None,
        keep_bad_bands=True if args.keep_bad_bands else None,
        progress=False if args.no_progress else None,
    )
    return with_overrides(config, {"recipe.ssl": args.ssl, "recipe.tta": args.tta})


def cmd_train(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.evaluation.metrics import format_pm
    from mssfe.training.rundir import GroupDir, RunDir, leakage_text
    from mssfe.training.trainer import train
    from mssfe.workflows.train import group_dir, train_seeds

    if args.resume:
        result = train(_resume_config(args), args.resume, resume=True)
        print(RunDir(result.run_dir).read_metrics().recipe_text())
        _print_metrics(result.metrics)
        return 0
    config = _train_config(args)
    out = args.out or "runs"
    results, summary = train_seeds(config, args.seeds, out)
    records = [RunDir(r.run_dir).read_metrics() for r in results]
    tag = " (simulated)" if records[0].simulated else ""
    seeds = [r.seed for r in records]
    print(f"{records[0].scene}{tag}, {config.model}, split {config.data.split}, seeds {seeds}")
    print(records[0].recipe_text())
    for note in records[0].split_notes:  # e.g. a class smaller than the requested count
        print(f"note: {note}")
    print(leakage_text(sum(r.leakage for r in records) / len(records)))
    for r in results:
        print(
            f"  {r.run_dir}: OA {r.metrics.oa * 100:.2f}  AA {r.metrics.aa * 100:.2f}  "
            f"kappa {r.metrics.kappa * 100:.2f}  (best epoch {r.best_epoch}/{r.epochs}, {r.train_seconds:.0f} s)"
        )
    m, s = summary.mean, summary.std
    print(
        f"OA {format_pm(m['oa'], s['oa'])}  AA {format_pm(m['aa'], s['aa'])}  "
        f"kappa {format_pm(m['kappa'], s['kappa'])}  over {summary.n_runs} seed(s)"
    )
    print(f"summary: {GroupDir(group_dir(out, config)).summary_markdown}")
    return 0


def _resume_config(args: argparse.Namespace) -> Any:
    """What ``--resume RUN_DIR`` is asked to continue with: the run's config.toml with the
    options given on top (the trainer applies those that extend the run, refuses the rest);
    None when the directory has no config.toml (the trainer says there is nothing to resume).
    """
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.training.config import load_config
    from mssfe.training.rundir import RunDir

    seeds = args.seeds if args.seeds_option else None  # --seeds/--seed given, not the default
    for option, value in (
        ("--out", args.out),
        (args.seeds_option or "--seeds", seeds),
        ("--config", args.config),
    ):
        if value is not None:
            raise ConfigError(
                f"cannot be given with --resume, which continues {args.resume} as it started "
                "(its directory, seed and config.toml)",
                field=option,
            )
    run = RunDir(args.resume)
    return _train_config(args, base=load_config(run.config_file)) if run.has_config() else None


def _print_metrics(metrics: Any) -> None:
    print(
        f"OA {metrics.oa * 100:.2f}  AA {metrics.aa * 100:.2f}  kappa {metrics.kappa * 100:.2f}  "
        f"({metrics.n_test} test pixels)"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.workflows.evaluate import evaluate

    done = evaluate(args.run_dir, tta=args.tta, max_test=args.max_test, data_dir=args.data_dir)
    print(done.record.recipe_text())
    _print_metrics(done.metrics)
    for name, acc in zip(done.class_names, done.metrics.per_class, strict=False):
        print(f"  {name:32s} {acc * 100:6.2f}")
    print(f"saved {done.json_path} and {done.markdown_path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.workflows.demo import DEMO_RECIPE, run_demo

    return run_demo(
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        recipe=args.recipe or DEMO_RECIPE,
        max_test=args.max_test,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.data.simulate import load_recipe, save_simulated, simulate, simulate_layout

    if args.recipe:  # a user's label raster with a user's class-to-material recipe
        # lazy: `mssfe --help` never loads torch or the readers
        from mssfe.data.readers import load_labels

        sim = simulate(
            load_labels(args.layout, args.labels_var),
            load_recipe(args.recipe),
            scene_seed=args.scene_seed,
            noise_seed=args.seed,
            difficulty=args.difficulty,
            scale=args.scale,
        )
    else:
        sim = simulate_layout(
            args.layout, noise_seed=args.seed, scale=args.scale, difficulty=args.difficulty
        )
    save_simulated(args.out, sim)
    print(
        f"{args.layout}-sim (simulator {sim.version}, scene seed {sim.scene_seed}, noise seed {sim.noise_seed}, "
        f"scale {sim.scale}): cube {sim.cube.shape} {sim.cube.dtype} -> {args.out}"
    )
    return 0


# --- predict / report (issue 7) ---------------------------------------------------------------


def cmd_predict(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.workflows.predict import describe_timings, run_predict

    done = run_predict(
        [args.run_dir, *(args.runs or [])],
        args.out,
        scene=args.scene,
        cube=args.cube,
        var=args.var,
        data_dir=args.data_dir,
        tile_rows=args.tile_rows,
        batch_size=args.batch_size,
        confidence=args.confidence,
        probabilities=args.probabilities,
        device=args.device,
        progress=not args.no_progress,
        tta=args.tta,
        window=args.window,
    )
    if done is None:  # a torchrun rank other than 0: rank 0 writes
        return 0
    tag = " (simulated scene)" if done.simulated else ""
    tta = "on (8 flips/rotations averaged)" if done.tta else "off"
    print(
        f"{done.scene_name}{tag}: {len(done.runs)} run(s), test-time augmentation {tta}; "
        f"{describe_timings(done.timings)}"
    )
    for path in done.paths.values():
        print(f"saved {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.workflows.report import write_report

    html_path, md_path = write_report(args.path, args.out, with_maps=not args.no_maps)
    print(f"saved {html_path}\nsaved {md_path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.workflows.compare import compare

    text, written = compare(
        args.tables, args.reference, out=args.out, figure=args.figure, best=args.best_of
    )
    print(text, end="")
    for path in written:
        print(f"saved {path}")
    return 0


RUN_EXAMPLE = "runs/SalinasA/ms2fenet/random-5/seed0"


def _add_predict_report_parsers(sub: Any) -> None:
    p = _command(
        sub,
        "predict",
        "classify every pixel of a scene or cube with trained run(s)",
        f"mssfe predict {RUN_EXAMPLE} --cube my_cube.hdr --out my_map --confidence",
    )
    p.add_argument("run_dir", help="a run directory (config.toml, preprocessor.npz, best.pt)")
    p.add_argument(
        "--runs", nargs="+", metavar="RUN_DIR", help="more runs: probabilities are averaged"
    )
    p.add_argument("--scene", help="registered scene (default: the run's own scene)")
    p.add_argument(
        "--cube",
        help="your own cube file instead of --scene (its CRS is kept; the run's bands are taken)",
    )
    p.add_argument("--var", help="variable of the cube inside a .mat/.npz file")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tile-rows", type=int, default=32, help="rows per streamed tile")
    p.add_argument(
        "--window",
        metavar="ROW0:ROW1,COL0:COL1",
        help="classify only this region of the scene (ends excluded); the cube is read window "
        "by window and the GeoTIFFs are georeferenced to the region",
    )
    p.add_argument("--batch-size", type=int, default=256, help="patches per forward pass")
    p.add_argument(
        "--confidence", action="store_true", help="also write the max-probability raster"
    )
    p.add_argument(
        "--probabilities",
        action="store_true",
        help="also write per-class probabilities (probabilities.tif, one band per class)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_tta_option(p)
    p.set_defaults(func=cmd_predict)

    p = _command(
        sub,
        "report",
        "HTML + Markdown report of a run, seed group or benchmark",
        "mssfe report runs/SalinasA/ms2fenet/random-5 --no-maps --out report",
    )
    p.add_argument("path", help="run directory, directory with summary.json, or with results.json")
    p.add_argument("--out", help="output directory (default: PATH/report)")
    p.add_argument("--no-maps", action="store_true", help="skip the full-scene classification maps")
    p.set_defaults(func=cmd_report)

    p = _command(
        sub,
        "compare",
        "where one model wins and loses across benchmark tables (paired by seed)",
        "mssfe compare bench_random bench_disjoint --reference ms2fenet --figure paired.png",
    )
    p.add_argument("tables", nargs="+", help="benchmark --out directories or their results.json")
    p.add_argument("--reference", default="ms2fenet", help="the model whose standing is shown")
    p.add_argument("--out", help="also write the Markdown here")
    p.add_argument("--figure", help="PNG: every model's paired OA difference, row by row")
    p.add_argument(
        "--best-of",
        action="store_true",
        help="the tables are one grid under several training budgets (e.g. --epochs 30 and each "
        "model's paper budget): every other model at its better budget, the reference as in "
        "the first table",
    )
    p.set_defaults(func=cmd_compare)


def _add_tta_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average the 8 flips/rotations of every patch (default: as the run's recipe says)",
    )


RECIPE_HELP = (
    "training recipe: paper (the authors' layers, early stopping on validation pixels) or "
    "mssfe (ours, version 1: docs/recipes.md; NAME@N picks a version, e.g. mssfe@2, which is "
    "not the default), optionally with parts changed, e.g. mssfe:ssl=none"
)


def cmd_benchmark(args: argparse.Namespace) -> int:
    # lazy: `mssfe --help` never loads torch or the readers
    from mssfe.training.config import RuntimeConfig
    from mssfe.workflows.benchmark import benchmark_config, run_benchmark
    from mssfe.workflows.benchmark_dir import BenchmarkDir

    bench = benchmark_config(
        args.scenes,
        args.models,
        args.split,
        args.seeds,
        args.out,
        max_epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        max_test=args.max_test,
        guard_patch=args.guard_patch,
        data_dir=args.data_dir,
        runtime=RuntimeConfig(
            progress=False,
            threads=args.threads,
            device=args.device or "auto",
            data_on_device=args.data_on_device or "auto",
        ),
        recipes=tuple(args.recipe),
        finished_only=args.finished_only,
    )
    rows = run_benchmark(bench, progress=not args.no_progress, jobs=args.jobs)
    markdown, csv, table = BenchmarkDir.table_of(bench.out, partial=bench.finished_only).files()
    print(markdown.read_text())
    print(f"{len(rows)} rows -> {markdown}, {csv.name}, {table.name}")
    return 0


MAX_TEST_HELP = (
    "test on a stratified random subset of at most N test pixels (every class keeps its share; "
    "the seed draws it; recorded with the metrics; default: all test pixels)"
)


def _add_data_on_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-on-device",
        choices=["auto", "on", "off"],
        help="cut and augment training patches on the device from one copy of the padded cube "
        "there (auto: on for cuda/mps, off on cpu; same batches, docs/speed.md)",
    )


def _add_benchmark_parser(sub: Any) -> None:
    p = _command(
        sub,
        "benchmark",
        "every (scene, model, seed) under one protocol, one table",
        "mssfe benchmark --scenes SalinasA --models svm ms2fenet --split random:5 disjoint "
        "--seeds 3 --max-test 2000 --out bench",
    )
    p.add_argument("--scenes", nargs="+", required=True, help="registered scene names")
    p.add_argument(
        "--models",
        nargs="+",
        default=["all"],
        help="'all', 'ablation' (MS²FENet switches), or names with options: ms2fenet:partitions=2",
    )
    p.add_argument(
        "--split",
        nargs="+",
        default=["random:0.1"],
        help="protocols or presets: standard, pavia, limited (random:5/10/20), disjoint",
    )
    _add_seed_options(p, 5)
    p.add_argument(
        "--recipe",
        nargs="+",
        default=["paper"],
        metavar="RECIPE",
        help=RECIPE_HELP + "; several run side by side on the same splits",
    )
    p.add_argument("--out", default="benchmark", help="output directory of the table and runs")
    p.add_argument("--epochs", type=int, help="max epochs, the same for every network")
    p.add_argument(
        "--patience", type=int, help="early-stopping patience, the same for every network"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="one batch size for every network (default: each model's paper value)",
    )
    p.add_argument(
        "--max-test",
        type=int,
        help=MAX_TEST_HELP + "; per (scene, split, seed), the same pixels for every model",
    )
    p.add_argument(
        "--guard-patch",
        type=int,
        help="size the disjoint guard band for an N x N patch (default: the largest patch of "
        "the compared models); lets a table of some models test on the pixels of a full table",
    )
    p.add_argument("--threads", type=int, help="torch threads per cell (default: all cores)")
    p.add_argument("--device", help="auto | cpu | cuda | mps")
    _add_data_on_device_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cells run concurrently as separate processes (one per GPU, or sharing the CPU cores)",
    )
    p.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: write the table of the cells already finished in --out and list "
        "the missing ones (commit a long table as it grows, while its command runs on)",
    )
    p.set_defaults(func=cmd_benchmark)


def _add_train_parser(sub: Any) -> None:
    p = _command(
        sub,
        "train",
        "train and evaluate a model over one or more seeds",
        "mssfe train --scene SalinasA --model ms2fenet --split random:5 --seeds 5 --recipe mssfe",
    )
    p.add_argument("--config", help="TOML config file; command-line options override it")
    p.add_argument("--scene", help="registered scene name (mssfe scenes lists them)")
    p.add_argument("--model", help="model name (mssfe info MODEL describes one)")
    p.add_argument(
        "--model-arg", action="append", metavar="KEY=VALUE", help="model option, e.g. partitions=2"
    )
    p.add_argument("--patch-size", type=int, help="the model's patch side (= patch_size=N)")
    p.add_argument("--split", help=SPLIT_HELP)
    _add_seed_options(p, [0])
    p.add_argument("--out", help="root directory of run directories (default: runs)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run; --epochs and --patience extend it, runtime options "
        "(--threads, --device ...) apply, options that change the run are refused",
    )
    p.add_argument("--epochs", type=int, help="max epochs (default: the model's)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, help="training batch size (default: the model's)")
    p.add_argument(
        "--val-fraction",
        type=float,
        help="share of each class's labelled pixels held out to validate (default 0.1)",
    )
    p.add_argument(
        "--pca-fit",
        choices=["scene", "train"],
        help="fit the PCA on every pixel of the scene (default) or on the training pixels",
    )
    p.add_argument("--max-test", type=int, help=MAX_TEST_HELP)
    p.add_argument(
        "--bands",
        metavar="SPEC",
        help="the cube's bands to use: positions 0:100,120:150 (half-open, as in Python) or "
        "wavelengths 400nm:1300nm,1500nm:1800nm (from an ENVI header); recorded in config.toml, "
        "so evaluate and predict take the same bands (default: all)",
    )
    p.add_argument(
        "--keep-bad-bands",
        action="store_true",
        help="keep the bands an ENVI header's bad-band list (bbl) marks 0 (default: dropped)",
    )
    p.add_argument("--no-augment", action="store_true", help="no random flips/rotations")
    p.add_argument("--recipe", help=RECIPE_HELP)
    p.add_argument(
        "--ssl",
        choices=["none", "inductive", "transductive"],
        help="unlabelled pool of semi-supervised training (default: the recipe's)",
    )
    _add_tta_option(p)
    p.add_argument("--device", help="auto | cpu | cuda | mps")
    p.add_argument(
        "--precision", choices=["32", "bf16", "16"], help="float precision on GPU (default 32)"
    )
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument(
        "--workers",
        type=int,
        help="DataLoader worker processes (default: 0 on CPU, up to 4 on GPU)",
    )
    _add_data_on_device_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_options(p)
    _add_user_cube_options(p)
    p.set_defaults(func=cmd_train)


SPLIT_HELP = (
    "random:RATIO | random:N (N labelled pixels per class, validation included: README) | "
    "disjoint[:RATIO] | file:PATH"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mssfe",
        description="Hyperspectral image classification with MS²FENet and baselines.",
        epilog="--debug and --data-dir go before or after the command; "
        "mssfe COMMAND --help shows a command's options and an example",
        parents=[_global_options(after_command=False)],
    )
    parser.add_argument("--version", action="version", version=f"mssfe {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="what to do (mssfe COMMAND --help: its options)"
    )

    p = _command(
        sub,
        "scenes",
        "list known scenes and whether their files are present",
        "mssfe scenes --data-dir ~/hsi-data",
    )
    p.set_defaults(func=cmd_scenes)

    p = _command(
        sub,
        "split",
        "make a train/validation/test split and print per-class counts",
        "mssfe split --scene IndianPines --split random:10 --seed 0 --out split.npz",
    )
    p.add_argument("--scene", required=True, help="registered scene name")
    p.add_argument("--split", default="random:0.1", help=SPLIT_HELP)
    p.add_argument("--seed", type=int, default=0, help="the seed that draws the split")
    p.add_argument(
        "--patch-size",
        type=int,
        default=15,
        help="patch size for the leakage measure and disjoint guard band",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of each class's labelled pixels held out to validate",
    )
    p.add_argument("--out", help="save the split (.npz)")
    _add_data_options(p)
    p.set_defaults(func=cmd_split)

    p = _command(
        sub,
        "info",
        "layer table, parameter count and FLOPs per pixel of a model",
        "mssfe info ms2fenet --scene PaviaU --patch-size 11",
    )
    p.add_argument("model", help="model name, e.g. ms2fenet, ssftt, svm")
    p.add_argument(
        "--scene", default="IndianPines", help="scene whose bands and classes size the model"
    )
    p.add_argument(
        "--model-arg", action="append", metavar="KEY=VALUE", help="model option, e.g. partitions=2"
    )
    p.add_argument("--patch-size", type=int, help="the model's patch side (= patch_size=N)")
    p.set_defaults(func=cmd_info)

    _add_train_parser(sub)
    _add_benchmark_parser(sub)

    p = _command(
        sub,
        "evaluate",
        "recompute test metrics of a run from its checkpoint and split",
        f"mssfe evaluate {RUN_EXAMPLE} --max-test 2000",
    )
    p.add_argument("run_dir", help="a finished run directory (config.toml, best.pt, split.npz)")
    p.add_argument("--max-test", type=int, help=MAX_TEST_HELP)
    _add_tta_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = _command(
        sub,
        "simulate",
        "simulate a scene on a real label layout with measured spectra",
        "mssfe simulate --layout IndianPines --seed 1 --out ip-sim.npz",
    )
    p.add_argument(
        "--layout",
        required=True,
        help="IndianPines | PaviaU | Salinas, or a label raster file with --recipe",
    )
    p.add_argument("--recipe", help="TOML class-to-material recipe for a user's label raster")
    p.add_argument("--labels-var", help="variable of the labels inside a .mat/.npz layout file")
    p.add_argument(
        "--scene-seed", type=int, default=0, help="scene seed of a user layout (endmembers, fields)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="noise seed (the scene seed is fixed per layout)"
    )
    p.add_argument(
        "--scale",
        type=int,
        default=1,
        help="tile and jitter the layout into a K-times larger scene",
    )
    p.add_argument("--difficulty", type=float, help="override the calibrated difficulty")
    p.add_argument("--out", required=True, help="output file (.npz)")
    p.set_defaults(func=cmd_simulate)

    p = _command(
        sub,
        "demo",
        "train MS²FENet on the embedded Salinas-A with 5 labelled pixels per class",
        "mssfe demo --epochs 5 --max-test 500 --out runs/demo",
    )
    p.add_argument("--out", default="runs/demo", help="run directory")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the split and training")
    p.add_argument(
        "--recipe", help=RECIPE_HELP + " (default: mssfe, the better recipe of the tables)"
    )
    p.add_argument("--max-test", type=int, help=MAX_TEST_HELP)
    p.set_defaults(func=cmd_demo)
    _add_predict_report_parsers(sub)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"mssfe: warning: {message}", file=file or sys.stderr)


def _as_typed(exc: MssfeError, args: argparse.Namespace) -> MssfeError:
    """The error naming the option the user typed (``--lr``) rather than its config field."""
    names = dict(OPTION_NAMES.get(args.command, {}))
    if getattr(args, "seeds_option", None):  # --seeds N or --seed S ...: the one typed
        names["seeds"] = names["seed"] = args.seeds_option
    if isinstance(exc, ConfigError) and exc.field in names and exc.file is None:
        return exc.renamed(names[exc.field])
    return exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        handler: Handler = args.func
        with warnings.catch_warnings():
            if not args.debug:  # one line per warning, as errors are; --debug keeps the source
                warnings.showwarning = _show_warning
            return handler(args)
    except MssfeError as exc:
        if args.debug:
            raise
        print(f"mssfe: error: {_as_typed(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "mssfe: interrupted; a training run can be continued with --resume RUN_DIR",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
