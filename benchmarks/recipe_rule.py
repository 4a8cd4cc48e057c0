"""Apply the rule of docs/recipes.md that decides whether the bare name ``mssfe`` means v1 or v2.

The rule was written down before its evidence existed: five rows (MS²FENet, Salinas-A
``random:5`` over seeds 0-9 and the disjoint rows of Salinas-A, PaviaU-sim, Salinas-sim and
IndianPines-sim), each the paired OA difference v2 - v1 seed by seed; a row counts for a version
when that mean is larger than its standard error (std / sqrt(seeds)), else it is a tie; v2
becomes the default only if it wins more rows than v1, and v1 stays while a row is missing.

It reads benchmark tables (``results.json``; a row's seeds may be spread over several tables,
as seeds 0-4 and the fresh 5-9), so the decision can be checked by anyone from the committed
tables:

    python benchmarks/recipe_rule.py benchmarks/results/issue16/*/results.json --out FILE.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mssfe.evaluation.compare import Paired, paired_by_seed
from mssfe.utils.atomic import atomic_write_text

MODEL = "ms2fenet"
OLD, NEW = "mssfe v1", "mssfe v2"  # exact versions: a starred (changed) recipe is not either
#: (scene, split, seeds the row needs): the rule's five rows
ROWS = (
    ("SalinasA", "random:5", tuple(range(10))),
    ("SalinasA", "disjoint", tuple(range(5))),
    ("PaviaU-sim", "disjoint:0.01:block=5", tuple(range(5))),
    ("Salinas-sim", "disjoint:0.01:block=5", tuple(range(5))),
    ("IndianPines-sim", "disjoint", tuple(range(5))),
)


@dataclass(frozen=True)
class Verdict:
    scene: str
    split: str
    seeds: tuple[int, ...]  # the seeds both versions finished
    missing: tuple[int, ...]  # seeds the rule needs that one version has not finished
    paired: Paired | None  # v2 - v1 in OA points on ``seeds`` (None: no seed in common)

    @property
    def winner(self) -> str:
        if self.missing or self.paired is None:
            return "missing"
        if abs(self.paired.mean) <= self.paired.sem:
            return "tie"
        return "v2" if self.paired.mean > 0 else "v1"


def per_seed_oa(tables: Iterable[Path]) -> dict[tuple[str, str, str], dict[int, float]]:
    """(scene, split, version) -> {seed: OA} of MS²FENet over every table given."""
    found: dict[tuple[str, str, str], dict[int, float]] = {}
    for path in tables:
        for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
            if row["model"] != MODEL or row["recipe_version"] not in (OLD, NEW):
                continue
            oas = found.setdefault((row["scene"], row["protocol"], row["recipe_version"]), {})
            for seed, oa in zip(row["seeds"], row["oa_per_seed"], strict=True):
                if seed in oas and oas[seed] != oa:
                    raise SystemExit(
                        f"{path}: {row['scene']} {row['protocol']} {row['recipe_version']} seed "
                        f"{seed} has OA {oa} here and {oas[seed]} in another table"
                    )
                oas[seed] = oa
    return found


def verdicts(found: dict[tuple[str, str, str], dict[int, float]]) -> list[Verdict]:
    out = []
    for scene, split, needed in ROWS:
        old = found.get((scene, split, OLD), {})
        new = found.get((scene, split, NEW), {})
        both = tuple(s for s in needed if s in old and s in new)
        missing = tuple(s for s in needed if s not in both)
        paired = paired_by_seed({s: new[s] for s in both}, {s: old[s] for s in both}, scale=100)
        out.append(Verdict(scene, split, both, missing, paired))
    return out


def decision(found: list[Verdict]) -> str:
    wins = {v: sum(x.winner == v for x in found) for v in ("v1", "v2", "tie", "missing")}
    if wins["missing"]:
        return f"v1 stays: {wins['missing']} of {len(found)} rows not complete yet"
    if wins["v2"] > wins["v1"]:
        return f"v2 becomes the default ({wins['v2']} rows won against {wins['v1']}, {wins['tie']} ties)"
    return f"v1 stays ({wins['v2']} rows won by v2 against {wins['v1']} by v1, {wins['tie']} ties)"


def format_markdown(found: list[Verdict], command: str) -> str:
    lines = [
        "# Which version `mssfe` means: the rule of docs/recipes.md applied",
        "",
        "MS²FENet, OA % on each row's test pixels, v2 minus v1 on the same splits, seed by seed; "
        "a row counts for a version when |mean| > std / sqrt(seeds), else it is a tie.",
        "",
        "| scene | split | seeds | v2 - v1 (mean ± std) | std error | v2 higher on | counts for |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in found:
        if v.paired is None:
            diff = se = higher = "-"
        else:
            diff, se = f"{v.paired.mean:+.2f} ± {v.paired.std:.2f}", f"{v.paired.sem:.2f}"
            higher = f"{v.paired.better}/{v.paired.n}"
        seeds = ", ".join(map(str, v.seeds)) or "none"
        if v.missing:
            seeds += f" (missing: {', '.join(map(str, v.missing))})"
        lines.append(
            f"| {v.scene} | `{v.split}` | {seeds} | {diff} | {se} | {higher} | {v.winner} |"
        )
    lines += ["", f"**Decision: {decision(found)}.**", "", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tables", nargs="+", type=Path, help="results.json of benchmark tables")
    p.add_argument("--out", type=Path, help="write the table here (markdown) too")
    args = p.parse_args(argv)
    command = "python benchmarks/recipe_rule.py " + shlex.join(argv)
    text = format_markdown(verdicts(per_seed_oa(args.tables)), command)
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
