"""Paired differences between benchmark cells of one table (an ablation, seed by seed).

Each cell is a ``MODEL[_RECIPE-KEY]`` folder of one (scene, split) under a benchmark's
``--out``, holding ``seedN`` run directories. Every cell is compared with the reference cell on
the seeds both finished: mean ± std of its OA, the paired OA difference (mean ± std, and on how
many seeds it was higher) and the per-seed OAs. A cell may also be given as
``LABEL=CELL:evaluation`` to read ``evaluation.json`` (``mssfe evaluate``, e.g. ``--no-tta``)
instead of the run's own ``metrics.json``.

    python benchmarks/paired_cells.py OUT/SalinasA/disjoint ms2fenet_mssfe \\
        "paper=ms2fenet" "ssl=none=ms2fenet_mssfe-ssl-none" --out FILE.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from mssfe.evaluation.compare import paired_by_seed
from mssfe.utils.atomic import atomic_write_text


def cell_oas(root: Path, spec: str) -> dict[int, float]:
    """OA (a fraction) per seed of a cell, from metrics.json (or evaluation.json with
    ``:evaluation``)."""
    cell, _, source = spec.partition(":")
    name = "evaluation.json" if source == "evaluation" else "metrics.json"
    if source not in ("", "evaluation"):
        raise SystemExit(f"{spec}: expected CELL or CELL:evaluation")
    oas = {}
    for run in sorted((root / cell).glob("seed*")):
        path = run / name
        if path.exists():
            oas[int(run.name.removeprefix("seed"))] = json.loads(path.read_text())["metrics"]["oa"]
    if not oas:
        raise SystemExit(f"{root / cell}: no finished seed with {name}")
    return oas


def paired_row(label: str, oas: dict[int, float], ref: dict[int, float]) -> str:
    paired = paired_by_seed(oas, ref, scale=100)
    if paired is None:
        raise SystemExit(f"{label}: no seed in common with the reference ({sorted(ref)})")
    x = 100 * np.array([oas[s] for s in sorted(set(oas) & set(ref))])
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return (
        f"| {label} | {x.mean():.2f} ± {std:.2f} | {paired} | {', '.join(f'{v:.1f}' for v in x)} |"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("root", type=Path, help="OUT/SCENE/SPLIT folder of a benchmark")
    p.add_argument("reference", help="the cell the others are paired against")
    p.add_argument("cells", nargs="+", help="LABEL=CELL[:evaluation] (or CELL)")
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args(argv)
    ref = cell_oas(args.root, args.reference)
    lines = [
        f"Paired against `{args.reference}` (seeds {sorted(ref)}): OA % mean ± std; ΔOA = cell "
        "minus reference on the same split and test pixels, mean ± std (seeds higher).",
        "",
        "| variant | OA % | ΔOA, paired (seeds higher) | OA per seed |",
        "|---|---|---|---|",
        paired_row(f"`{args.reference}` (reference)", ref, ref),
    ]
    for spec in args.cells:
        label, _, cell = spec.rpartition("=")
        lines.append(paired_row(label or cell, cell_oas(args.root, cell), ref))
    text = (
        "\n".join(lines) + f"\n\nCommand: `python benchmarks/paired_cells.py {shlex.join(argv)}`\n"
    )
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
