"""Keep a benchmark's finished cells in the repository, without their weights, and put them back.

Why: a result table takes longer than one working session, and these machines keep nothing but
the git repository between sessions. ``save`` copies every *finished* cell (its metrics.json is
written) of a benchmark directory, with the shared split files, minus the checkpoints (``*.pt``)
and lock files: what ``mssfe benchmark --finished-only`` needs to render the table, and what the
same benchmark command needs to skip the cell when it resumes (a cell's config names its split
file by path, and a moved benchmark directory is matched by the split's pixels, not its path).
``restore`` copies them into a benchmark directory, which then resumes with only the missing
cells to train. Unfinished cells are not kept: they start again.

    python benchmarks/keep_cells.py save OUT benchmarks/results/issue16/cells/NAME
    python benchmarks/keep_cells.py restore benchmarks/results/issue16/cells/NAME OUT
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

LEFT_OUT = ("*.pt", ".mssfe.lock", "partial")


def finished_cells(root: Path) -> list[Path]:
    """The run directories under ``root`` whose metrics are written, in a stable order."""
    return sorted(p.parent for p in root.rglob("metrics.json") if "partial" not in p.parts)


def _copy_tree(src: Path, dest: Path) -> int:
    """Copy ``src`` into ``dest`` without weights or locks; return the number of files copied."""
    copied = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or any(rel.match(p) or p in rel.parts for p in LEFT_OUT):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied += 1
    return copied


def save(out: Path, dest: Path) -> int:
    """Copy the finished cells and the split files of benchmark directory ``out`` to ``dest``."""
    if not out.is_dir():
        raise SystemExit(f"{out}: no such benchmark directory")
    copied = 0
    splits = out / "splits"
    if splits.is_dir():
        copied += _copy_tree(splits, dest / "splits")
    cells = finished_cells(out)
    for cell in cells:
        copied += _copy_tree(cell, dest / cell.relative_to(out))
    print(f"{len(cells)} finished cells ({copied} files) of {out} -> {dest}")
    return len(cells)


def restore(src: Path, out: Path) -> int:
    """Copy kept cells back into benchmark directory ``out``; a cell already there is left alone."""
    if not src.is_dir():
        raise SystemExit(f"{src}: no kept cells here")
    restored = 0
    for cell in finished_cells(src):
        target = out / cell.relative_to(src)
        if (target / "metrics.json").exists():
            continue
        if target.exists():  # an unfinished run of the same cell: the kept result replaces it
            shutil.rmtree(target)
        _copy_tree(cell, target)
        restored += 1
    if (src / "splits").is_dir():
        for split in sorted((src / "splits").iterdir()):
            if not (out / "splits" / split.name).exists():
                (out / "splits").mkdir(parents=True, exist_ok=True)
                shutil.copy2(split, out / "splits" / split.name)
    print(f"{restored} finished cells restored from {src} -> {out}")
    return restored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("save", "restore"))
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    (save if args.action == "save" else restore)(args.source, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
