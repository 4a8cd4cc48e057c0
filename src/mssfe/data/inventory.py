"""What `mssfe scenes` shows: every registered scene and whether its files are here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mssfe.data.embedded import embedded_dir
from mssfe.data.registry import RemoteFile
from mssfe.data.scenes import all_scene_infos
from mssfe.errors import ChecksumError, DataError


@dataclass(frozen=True)
class SceneStatus:
    name: str
    shape: tuple[int, int, int]
    n_classes: int
    n_labelled: int | None
    cube: str  # "embedded", "present", "missing", "bad checksum", "simulated"
    labels: str


def _status(remote: RemoteFile | None, data_dir: str | Path | None) -> str:
    from mssfe.data.download import locate_file

    if remote is None:
        return "simulated"
    if (embedded_dir() / remote.name).is_file():
        return "embedded"
    try:
        path = locate_file(remote, data_dir, download=False)
    except ChecksumError:
        return "bad checksum"
    except DataError:
        return "missing"
    return f"present ({path.parent})"


def scene_inventory(data_dir: str | Path | None = None) -> list[SceneStatus]:
    return [
        SceneStatus(
            name=info.name,
            shape=info.shape,
            n_classes=info.n_classes,
            n_labelled=info.n_labelled,
            cube=_status(info.cube, data_dir),
            labels=_status(info.labels, data_dir),
        )
        for info in all_scene_infos()
    ]


def format_inventory(rows: list[SceneStatus], data_dir: str | Path | None = None) -> str:
    from mssfe.data.download import search_dirs

    header = f"{'scene':16s} {'rows x cols':>12s} {'bands':>5s} {'classes':>7s} {'labelled':>8s}  cube / labels"
    lines = [header, "-" * len(header)]
    for r in rows:
        labelled = f"{r.n_labelled:,}" if r.n_labelled else "?"
        lines.append(
            f"{r.name:16s} {r.shape[0]:>5d} x {r.shape[1]:<5d} {r.shape[2]:>5d} {r.n_classes:>7d} "
            f"{labelled:>8s}  {r.cube} / {r.labels}"
        )
    dirs = ", ".join(str(d) for d in search_dirs(data_dir))
    lines += [
        "",
        f"searched: the package's embedded files, then {dirs}",
        "'-sim' scenes are simulated stand-ins (real label layouts, measured spectra), never real data.",
    ]
    return "\n".join(lines)
