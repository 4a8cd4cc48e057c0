"""Pair the cells of two benchmark tables run on different devices, seed by seed.

The same (scene, protocol, seed) gives the same split and test pixels on any device, so a
cell's OA on the GPU can be set beside its OA on the CPU: the difference is what the device
(kernels, summation order) does to training, seen against what the seed does.

    python benchmarks/compare_devices.py CPU_results.json GPU_results.json --labels CPU GPU
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mssfe.evaluation.table import BenchmarkRow
from mssfe.workflows.benchmark_dir import BenchmarkDir


def load_rows(path: Path) -> dict[tuple[str, str, str], BenchmarkRow]:
    """Rows of a benchmark results.json keyed by (scene, protocol, model)."""
    return {(r.scene, r.protocol, r.model): r for r in BenchmarkDir.of(path).read().rows}


def pair(a: BenchmarkRow, b: BenchmarkRow) -> list[tuple[int, float, float]]:
    """(seed, OA in a, OA in b) in points, over the seeds both rows hold."""
    oa_a = dict(zip(a.seeds, a.oa_per_seed or (), strict=True))
    oa_b = dict(zip(b.seeds, b.oa_per_seed or (), strict=True))
    return [(s, 100 * oa_a[s], 100 * oa_b[s]) for s in sorted(oa_a.keys() & oa_b.keys())]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--labels", nargs=2, default=["A", "B"])
    args = parser.parse_args()
    la, lb = args.labels
    rows_a, rows_b = load_rows(args.a), load_rows(args.b)
    print(
        f"| scene | protocol | model | OA % per seed ({la} / {lb}) | max abs ΔOA | "
        f"train s {la} (mean of its seeds) | train s {lb} |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in [k for k in rows_b if k in rows_a]:
        pairs = pair(rows_a[key], rows_b[key])
        if not pairs:
            continue
        cells = ", ".join(f"{s}: {x:.2f} / {y:.2f}" for s, x, y in pairs)
        worst = max(abs(x - y) for _, x, y in pairs)
        ta, tb = rows_a[key].train_seconds, rows_b[key].train_seconds
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | {cells} | {worst:.2f} | "
            f"{_seconds(ta)} | {_seconds(tb)} |"
        )


if __name__ == "__main__":
    main()
