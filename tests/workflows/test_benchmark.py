"""`mssfe benchmark` on the real Salinas-A: shared splits, one table, resumable."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mssfe.cli import main
from mssfe.data.splits import Split
from mssfe.errors import ConfigError
from mssfe.evaluation.table import BenchmarkTable
from mssfe.utils.lock import directory_lock
from mssfe.workflows.benchmark import (
    ModelChoice,
    expand_models,
    expand_protocols,
    format_markdown,
)
from mssfe.workflows.benchmark_dir import BenchmarkDir

SMALL_NET = "ms2fenet:patch_size=9,n_components=12"


def _small_argv(out: Path, seeds: str = "2", *extra: str) -> list[str]:
    """The small table of these tests: SVM and a small MS²FENet, Salinas-A random:5."""
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", SMALL_NET]
    argv += ["--split", "random:5", "--seeds", seeds, "--epochs", "2", "--patience", "2"]
    return [*argv, "--threads", "1", "--no-progress", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    assert main(_small_argv(out)) == 0
    return out


def test_results_are_written_as_markdown_csv_and_json(bench_dir: Path) -> None:
    payload = json.loads((bench_dir / "results.json").read_text())
    rows = payload["rows"]
    assert {r["model"] for r in rows} == {"svm", "ms2fenet[patch_size=9,n_components=12]"}
    for row in rows:
        assert row["scene"] == "SalinasA" and row["simulated"] is False
        assert row["protocol"] == "random:5" and row["seeds"] == [0, 1]
        assert 0.0 <= row["oa_mean"] <= 1.0 and len(row["per_class_mean"]) == 6
        assert row["labelled_train_pixels"] == 30  # 5 per class, 6 classes
    svm = next(r for r in rows if r["model"] == "svm")
    assert svm["oa_mean"] > 0.9
    assert payload["meta"]["epoch_budget"] == {"max_epochs": 2, "patience": 2, "batch_size": None}
    md = (bench_dir / "results.md").read_text()
    assert "SalinasA (real), split `random:5`" in md
    net = next(line for line in md.splitlines() if line.startswith("| ms2fenet["))
    cells = [c.strip() for c in net.split("|")]
    assert (
        cells[8]
        == f"2 ({np.mean(next(r for r in rows if r['model'] != 'svm')['best_epochs']):.0f})"
    )
    assert (
        next(line for line in md.splitlines() if line.startswith("| svm |")).split("|")[8].strip()
        == "-"
    )
    assert (bench_dir / "results.csv").read_text().startswith("scene,simulated,protocol,model")


def test_every_model_sees_the_same_split_per_seed(bench_dir: Path) -> None:
    for seed in (0, 1):
        shared = Split.load(bench_dir / "splits" / f"SalinasA_random-5_seed{seed}.npz")
        for model in ("svm", "ms2fenet-patch_size-9-n_components-12"):
            used = Split.load(
                bench_dir / "SalinasA" / "random-5" / model / f"seed{seed}" / "split.npz"
            )
            np.testing.assert_array_equal(used.train, shared.train)
            np.testing.assert_array_equal(used.test, shared.test)


def test_a_rerun_keeps_finished_cells(bench_dir: Path) -> None:
    metrics = sorted(bench_dir.glob("SalinasA/*/*/seed*/metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in metrics}
    assert main(_small_argv(bench_dir)) == 0
    assert {p: p.stat().st_mtime_ns for p in metrics} == before


def test_finished_only_writes_the_table_of_finished_cells_and_trains_nothing(
    bench_dir: Path, tmp_path: Path
) -> None:
    """A table that takes days is committed as it grows: asked for 3 seeds with 2 finished,
    the table holds the 2, says which cells are missing, and no seed-2 cell is started."""
    out = tmp_path / "partial"
    shutil.copytree(bench_dir, out)
    assert main(_small_argv(out, "3", "--finished-only")) == 0
    assert not list(out.glob("SalinasA/*/*/seed2"))  # nothing trained, nothing started
    full = (out / "results.json").read_bytes()
    table = BenchmarkTable.from_json(json.loads((out / "partial" / "results.json").read_text()))
    assert all(row.seeds == (0, 1) for row in table.rows) and len(table.rows) == 2
    partial = table.meta.extra["partial"]
    assert partial["cells"] == 6 and len(partial["missing"]) == 2
    assert all(m.endswith("seed 2") for m in partial["missing"])
    text = (out / "partial" / "results.md").read_text()
    assert "**Partial table** (`--finished-only`): 4 of 6 cells finished" in text
    assert "| svm (seeds [0, 1]) |" in text
    assert (out / "results.json").read_bytes() == full  # the full table is left as it was
    assert not (out / "splits" / "SalinasA_random-5_seed2.npz").exists()  # nothing written
    # while a benchmark holds the directory, the table of its finished cells can be written
    with directory_lock(out, "benchmark directory"):
        assert main(_small_argv(out, "2", "--finished-only")) == 0
    text = (out / "partial" / "results.md").read_text()
    assert "Partial table" not in text and "| svm |" in text


def test_more_seeds_into_the_same_out_train_only_the_new_seeds(
    bench_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grown"
    shutil.copytree(bench_dir, out)
    kept = sorted(out.glob("SalinasA/*/*/seed*/metrics.json")) + sorted(out.glob("splits/*"))
    before = {p: p.stat().st_mtime_ns for p in kept}
    argv = _small_argv(out, "3")
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == before  # seeds 0-1 and their splits kept
    assert len(sorted(out.glob("SalinasA/*/*/seed2/metrics.json"))) == 2
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert all(r["seeds"] == [0, 1, 2] for r in rows)
    # the copy resumed although its split files moved; a split file with other pixels is refused
    splits = sorted(out.glob("splits/*seed*.npz"))
    shutil.copyfile(splits[1], splits[0])
    capsys.readouterr()
    assert main(argv) == 2
    assert "another configuration: data.split" in capsys.readouterr().err


def test_presets_and_model_options_expand() -> None:
    assert expand_protocols(["limited", "disjoint"]) == [
        "random:5",
        "random:10",
        "random:20",
        "disjoint",
    ]
    labels = [m.label for m in expand_models(["ablation"])]
    assert "ms2fenet[partitions=1]" in labels and "ms2fenet[depthwise=False]" in labels
    assert ModelChoice.parse("ms2fenet:partitions=2").args == (("partitions", 2),)
    with pytest.raises(ConfigError, match="did you mean"):
        ModelChoice.parse("ms2fenett")
    with pytest.raises(ConfigError):
        ModelChoice.parse("ms2fenet:partitionz=2")


def test_concurrent_cells_in_separate_processes_give_the_same_table(
    bench_dir: Path, tmp_path: Path
) -> None:
    argv = [
        "benchmark",
        "--scenes",
        "SalinasA",
        "--models",
        "svm",
        "--split",
        "random:5",
        "--seeds",
        "2",
        "--no-progress",
        "--jobs",
        "2",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    parallel = json.loads((tmp_path / "results.json").read_text())["rows"]
    serial = [
        r
        for r in json.loads((bench_dir / "results.json").read_text())["rows"]
        if r["model"] == "svm"
    ]
    assert len(parallel) == 1
    for key in ("oa_mean", "oa_std", "aa_mean", "kappa_mean", "per_class_mean"):
        assert parallel[0][key] == serial[0][key]


def test_max_test_tests_every_model_on_the_same_stratified_subset(
    bench_dir: Path, tmp_path: Path
) -> None:
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", "--split", "random:5"]
    argv += ["--seeds", "2", "--max-test", "600", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    (row,) = payload["rows"]
    assert payload["meta"]["max_test"] == 600 and row["test_pixels"] == 600
    full = Split.load(bench_dir / "splits" / "SalinasA_random-5_seed0.npz")
    sub = Split.load(tmp_path / "splits" / "SalinasA_random-5_seed0_test600.npz")
    np.testing.assert_array_equal(sub.train, full.train)
    assert sub.test.size == 600 and np.isin(sub.test, full.test).all()
    (full_svm,) = [
        r
        for r in json.loads((bench_dir / "results.json").read_text())["rows"]
        if r["model"] == "svm"
    ]
    assert abs(row["oa_mean"] - full_svm["oa_mean"]) < 0.04  # same models, a 600-pixel sample
    assert "at most 600 test pixels" in (tmp_path / "results.md").read_text()


def test_random_and_disjoint_results_are_shown_side_by_side(tmp_path: Path) -> None:
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm"]
    argv += ["--split", "random:0.1", "disjoint", "--seeds", "1", "--no-progress"]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 0
    md = (tmp_path / "results.md").read_text()
    header = "## SalinasA: `random:0.1` beside `disjoint` (random vs spatially disjoint sampling)"
    assert header in md
    rows = {r["protocol"]: r for r in json.loads((tmp_path / "results.json").read_text())["rows"]}
    gap = (rows["random:0.1"]["oa_mean"] - rows["disjoint"]["oa_mean"]) * 100
    line = md.split(header)[1].strip().splitlines()[4]
    assert line.startswith("| svm |") and f"| {gap:+.2f} |" in line and line.endswith("| 0.0% |")


def test_a_reused_out_with_another_budget_fails_before_any_training(
    bench_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(bench_dir.glob("SalinasA/*/*/seed*/*"))
    before = {p: p.stat().st_mtime_ns for p in files}
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", SMALL_NET]
    argv += ["--split", "random:5", "--seeds", "2", "--epochs", "3", "--patience", "2"]
    argv += ["--jobs", "2", "--no-progress", "--out", str(bench_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a run with another configuration" in err and "max_epochs" in err
    assert {
        p: p.stat().st_mtime_ns for p in sorted(bench_dir.glob("SalinasA/*/*/seed*/*"))
    } == before


def test_time_left_weights_cells_by_their_work(bench_dir: Path) -> None:
    from mssfe.data.scenes import load_scene
    from mssfe.workflows.benchmark import (
        _cell_config,
        _cell_work,
        _Eta,
        _model_cost,
        benchmark_config,
    )

    scene = load_scene("SalinasA")
    bench = benchmark_config(["SalinasA"], ["svm", SMALL_NET], ["random:5"], 1, bench_dir)
    split = bench_dir / "splits" / "SalinasA_random-5_seed0.npz"
    work = {}
    for choice in bench.models:
        config = _cell_config(bench, scene, choice, split, 0)
        work[choice.name] = _cell_work(config, _model_cost(choice, scene)[1], Split.load(split))
    flops = _model_cost(bench.models[1], scene)[1]
    # ms2fenet default budget 200 epochs, 24 train + 6 val + 5,318 test pixels
    assert work["ms2fenet"] == flops * (3 * 200 * 24 + 200 * 6 + 5318)
    assert work["svm"] < work["ms2fenet"]
    eta = _Eta({Path("a"): 1.0, Path("b"): 3.0})
    assert eta.left() == "time left: estimating"
    eta.done(Path("a"))
    assert eta.left().endswith("left (work-weighted)")
    eta.done(Path("b"))
    assert eta.left() == "done"


def test_every_model_is_compared_with_ms2fenet_seed_by_seed(bench_dir: Path) -> None:
    from mssfe.workflows.benchmark import format_markdown

    table = BenchmarkDir(bench_dir).read()
    # the small network stands in as the reference
    rows = [replace(r, model="ms2fenet" if r.model != "svm" else "svm") for r in table.rows]
    seeds = {}
    for seed in (0, 1):
        run = {}
        for name, folder in (("svm", "svm"), ("net", "ms2fenet-patch_size-9-n_components-12")):
            metrics = bench_dir / "SalinasA" / "random-5" / folder / f"seed{seed}" / "metrics.json"
            run[name] = json.loads(metrics.read_text())["metrics"]["oa"]
        seeds[seed] = (run["svm"] - run["net"]) * 100
    diff = np.array([seeds[0], seeds[1]])
    better = int((diff > 0).sum())
    expected = f"{diff.mean():+.2f} ± {diff.std(ddof=1):.2f} ({better}/2)"
    md = format_markdown(table.meta, rows)
    svm_line = next(line for line in md.splitlines() if line.startswith("| svm | "))
    net_line = next(line for line in md.splitlines() if line.startswith("| ms2fenet | "))
    assert svm_line.split("|")[3].strip() == expected
    assert net_line.split("|")[3].strip() == "-"


def test_one_batch_size_for_every_network(tmp_path: Path) -> None:
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", SMALL_NET, "cnn3d"]
    argv += ["--split", "random:5", "--seeds", "1", "--epochs", "1", "--batch-size", "8"]
    argv += ["--threads", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    for net in ("ms2fenet*", "cnn3d"):  # cnn3d's paper batch is 100, MS²FENet's 64
        (config,) = tmp_path.glob(f"SalinasA/random-5/{net}/seed0/config.toml")
        assert "batch_size = 8\n" in config.read_text()
    assert (
        json.loads((tmp_path / "results.json").read_text())["meta"]["epoch_budget"]["batch_size"]
        == 8
    )
    assert "batch size=8 (the same for every network)" in (tmp_path / "results.md").read_text()


def test_guard_patch_sizes_the_disjoint_split_and_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mssfe.data.scenes import load_scene
    from mssfe.data.splits import make_split

    out = tmp_path / "svm_only"
    base = ["benchmark", "--scenes", "SalinasA", "--split", "disjoint", "--seeds", "1"]
    base += ["--no-progress", "--out", str(out)]
    # the SVM alone (patch 1) tests on the pixels a table with a 9 x 9 patch network would use
    assert main([*base, "--models", "svm", "--guard-patch", "9"]) == 0
    saved = Split.load(out / "splits" / "SalinasA_disjoint_seed0.npz")
    labels = load_scene("SalinasA").labels
    assert saved.same_pixels(make_split(labels, "disjoint", seed=0, patch_size=9))
    assert not saved.same_pixels(make_split(labels, "disjoint", seed=0, patch_size=1))
    assert json.loads((out / "results.json").read_text())["meta"]["guard_patch"] == 9
    assert (
        "Disjoint guard band: 4 pixels (sized for a 9 x 9 patch)"
        in (out / "results.md").read_text()
    )
    capsys.readouterr()

    # the same out without the option would reuse splits whose guard band does not match
    assert main([*base, "--models", "svm"]) == 2
    assert "guard band was sized for a 9 x 9 patch, this run asks for 1 x 1" in (
        capsys.readouterr().err
    )
    # a guard band smaller than a compared model's patch would let its test patches leak
    small = ["benchmark", "--scenes", "SalinasA", "--split", "disjoint", "--seeds", "1"]
    small += ["--models", SMALL_NET, "--guard-patch", "5", "--no-progress"]
    assert main([*small, "--out", str(tmp_path / "small")]) == 2
    assert "--guard-patch 5: expected at least 9" in capsys.readouterr().err
    assert not list((tmp_path / "small").glob("SalinasA/*/*/seed*/*"))


def test_a_class_without_test_pixels_shows_a_dash_not_nan() -> None:
    """IndianPines-sim's disjoint split leaves four small classes without test pixels (the guard
    band removes them): their per-class cells read '–' with a note, never 'nan'."""
    table = Path(__file__).resolve().parents[2] / "benchmarks/results/issue6/ip/results.json"
    read = BenchmarkDir.of(table).read()
    text = format_markdown(read.meta, read.rows)
    random_part, disjoint_part = text.split("split `disjoint`")
    assert "nan" not in text
    assert "| Alfalfa | " + " | ".join(["–"] * 7) + " |" in disjoint_part
    assert "–: no test pixel of the class in any seed" in disjoint_part
    assert "no test pixel" not in random_part and "| Alfalfa | –" not in random_part


def test_two_recipes_run_side_by_side_on_the_same_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--recipe paper mssfe: one row per (model, recipe), each named with its SSL pool, each
    network paired with MS²FENet of its own recipe, and mssfe compare ranks within a recipe."""
    out = tmp_path / "bench"
    argv = ["benchmark", "--scenes", "SalinasA", "--models", "svm", SMALL_NET]
    argv += ["--split", "random:5", "--seeds", "1", "--epochs", "2", "--max-test", "300"]
    argv += ["--recipe", "paper", "mssfe@1:tta=false", "--threads", "1", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["model"], r["recipe"]) for r in rows] == [
        ("svm", "paper"),
        ("ms2fenet[patch_size=9,n_components=12]", "paper"),
        ("svm", "mssfe@1:tta=false"),
        ("ms2fenet[patch_size=9,n_components=12]", "mssfe@1:tta=false"),
    ]
    by_recipe = {(r["model"][:3], r["recipe"]): r for r in rows}
    net = by_recipe[("ms2", "mssfe@1:tta=false")]
    assert (net["recipe_version"], net["ssl_pool"], net["tta"]) == (
        "mssfe v1*",
        "transductive",
        False,
    )
    assert net["labelled_train_pixels"] == 30 and net["epochs"] == [2]
    assert (
        by_recipe[("svm", "mssfe@1:tta=false")]["ssl_pool"] == "none"
    )  # no SSL for a classic model
    assert by_recipe[("ms2", "paper")]["ssl_pool"] == "none"
    assert (out / "SalinasA/random-5/ms2fenet-patch_size-9-n_components-12/seed0").is_dir()
    # version 1 written out or not, its cells live where they always did (recipe_key)
    assert (out / "SalinasA/random-5/svm_mssfe-tta-false/seed0/metrics.json").is_file()
    md = (out / "results.md").read_text()
    assert "| model | recipe | SSL pool | OA % |" in md
    assert "| ms2fenet[patch_size=9,n_components=12] | mssfe v1* | transductive |" in md
    assert "| svm | paper v1 | none |" in md
    capsys.readouterr()
    assert main(["compare", str(out), "--reference", "ms2fenet[patch_size=9,n_components=12]"]) == 0
    text = capsys.readouterr().out
    assert "| SalinasA (real) | `random:5` | paper | none |" in text
    assert "| SalinasA (real) | `random:5` | mssfe@1:tta=false | transductive |" in text
    assert "Under recipe `mssfe@1:tta=false`: first in" in text
    assert main(["report", str(out), "--no-maps", "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| model | recipe | SSL pool | TTA |" in report
    assert (
        "| ms2fenet[patch_size=9,n_components=12] (mssfe@1:tta=false) | mssfe v1* | transductive | no |"
        in report
    )
    # a moved copy is reused, the mssfe cells too: their own split copy holds the validation
    # pixels as training pixels (a fixed schedule), which still matches the moved split file
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    metrics = sorted(moved.glob("SalinasA/*/*/seed0/metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in metrics}
    assert len(metrics) == 4 and main([*argv, "--out", str(moved)]) == 0
    assert {p: p.stat().st_mtime_ns for p in metrics} == before


def test_a_table_of_paper_rows_names_no_recipe() -> None:
    """Tables written before recipes (all paper) render as they did: no recipe column."""
    table = (
        Path(__file__).resolve().parents[2] / "benchmarks/results/issue6/sa_limited/results.json"
    )
    data = BenchmarkTable.from_json(json.loads(table.read_text()))
    text = format_markdown(data.meta, data.rows)
    assert "recipe" not in text.lower() and "SSL pool" not in text
    assert "| model | OA % | ΔOA vs ms2fenet" in text
