"""Peak memory of ``mssfe predict`` on cubes larger than memory, under a 2 GiB address-space cap.

Writes simulated cubes of two sizes (default 2 and 8.25 GiB on disk, int16, 204 bands: the
Salinas-A scene tiled over a 1024-pixel-wide flight line, each 256-row strip shifted so no
two strips are the same) as ENVI (BIL) and as a tiled, uncompressed BigTIFF, trains a cheap
run (ms2fenet, patch 9, 10 PCA components, 1 epoch on Salinas-A), then runs
``mssfe predict --cube CUBE --window ...`` on a window in the middle of each cube in a
subprocess under ``prlimit --as=2147483648`` and records its peak resident memory
(``ru_maxrss`` of that process, from ``wait4``) and wall time. The window (128 rows x 512
columns) keeps each prediction to about a minute on two CPU cores; the reads still go through
the whole width of the cube, half way into its file. As a control, the whole-cube reader
(``load_cube``) is run on the larger ENVI cube under the same cap.

Usage: python benchmarks/predict_memory.py [--sizes-gib 2 8.25] [--work DIR] [--out FILE]

The cubes are deleted when done (``--keep`` keeps them). Check ``df -h`` first: the larger
ENVI and GeoTIFF cubes are written one format at a time, so about 2 x the largest size is
needed at once.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

WIDTH, BANDS = 1024, 204
STRIP = 256  # rows written at a time
AS_LIMIT = 2 * 2**30
WINDOW_ROWS, WINDOW_COLS = 128, (256, 768)
REPO = Path(__file__).resolve().parent.parent


def _base_strip() -> np.ndarray:
    """STRIP rows of Salinas-A tiled to WIDTH columns ``(STRIP, WIDTH, BANDS)`` int16."""
    from mssfe.data.scenes import load_scene

    scene = load_scene("SalinasA").require_cube().astype(np.int16)  # (83, 86, 204)
    reps = (-(-STRIP // scene.shape[0]), -(-WIDTH // scene.shape[1]), 1)
    return np.ascontiguousarray(np.tile(scene, reps)[:STRIP, :WIDTH])


def _strips(n_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(row0, rows)`` strips of at most STRIP rows, each rolled by its own number of
    columns so that no two are the same; one strip in memory at a time."""
    base = _base_strip()
    for k, r0 in enumerate(range(0, n_rows, STRIP)):
        yield r0, np.roll(base, shift=7 * k, axis=1)[: min(STRIP, n_rows - r0)]


def write_envi(path: Path, n_rows: int, width: int = WIDTH) -> Path:
    """An ENVI BIL int16 cube (header + .img), written strip by strip."""
    header = path.with_suffix(".hdr")
    header.write_text(
        "ENVI\ndescription = {mssfe predict_memory benchmark}\n"
        f"samples = {width}\nlines = {n_rows}\nbands = {BANDS}\nheader offset = 0\n"
        "file type = ENVI Standard\ndata type = 2\ninterleave = bil\nbyte order = 0\n"
    )
    with open(path.with_suffix(".img"), "wb") as handle:
        for _, strip in _strips(n_rows):
            rows = strip[:, :width]
            handle.write(np.ascontiguousarray(rows.transpose(0, 2, 1)).astype("<i2").tobytes())
    return header


def write_geotiff(path: Path, n_rows: int) -> Path:
    """A tiled (256 x 256), uncompressed, pixel-interleaved BigTIFF, written strip by strip."""
    import rasterio
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "height": n_rows, "width": WIDTH, "count": BANDS, "dtype": "int16",
        "tiled": True, "blockxsize": 256, "blockysize": 256, "interleave": "pixel",
        "BIGTIFF": "YES", "crs": "EPSG:32610",
        "transform": rasterio.transform.from_origin(588000.0, 4_140_000.0, 3.7, 3.7),
    }  # fmt: skip
    with rasterio.Env(GDAL_CACHEMAX=256), rasterio.open(path, "w", **profile) as dataset:
        for r0, rows in _strips(n_rows):
            window = Window(0, r0, WIDTH, rows.shape[0])
            dataset.write(np.moveaxis(rows, -1, 0), window=window)
    return path


def train_cheap_run(work: Path) -> Path:
    import mssfe

    group = mssfe.train(
        scene="SalinasA", model="ms2fenet", model_args={"patch_size": 9, "n_components": 10},
        split="random:10", epochs=1, out=work / "run", progress=False, device="cpu",
    )  # fmt: skip
    return Path(group.run_dirs[0])


def measured(cmd: list[str], work: Path) -> tuple[int, float, float, str]:
    """Exit status, peak RSS (MiB) and wall seconds of ``cmd`` run under the AS cap.

    GNU time forks the command from its own small process: a child forked from this Python
    (torch loaded, a model trained) would inherit its high-water RSS in ``ru_maxrss``."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    report = work / "time.txt"
    timed = ["/usr/bin/time", "-f", "%M %e %x", "-o", str(report)]
    capped = ["prlimit", f"--as={AS_LIMIT}", "--", *timed, *cmd]
    done = subprocess.run(capped, env=env, capture_output=True, text=True, check=False)
    fields = report.read_text().split()[-3:]  # "Command exited with non-zero status" first
    max_kib, wall, code = int(fields[0]), float(fields[1]), int(fields[2])
    return code, max_kib / 1024, wall, done.stdout + done.stderr


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), platform.processor())  # fmt: skip
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    import rasterio
    import torch

    return (f"{platform.node()}: {cpu}, {os.cpu_count()} logical CPUs, {mem / 2**20:.1f} GiB "
            f"RAM; Linux {platform.release()}; Python {platform.python_version()}, torch "
            f"{torch.__version__}, GDAL {rasterio.__gdal_version__}, rasterio "
            f"{rasterio.__version__}")  # fmt: skip


def predict_whole(
    args: argparse.Namespace, run_dir: Path, mssfe: list[str]
) -> tuple[list[str], list[str]]:
    """Predict whole narrow ENVI cubes (no window): table rows and commands."""
    rows_out, commands = [], []
    for n_rows in args.whole_rows:
        header = write_envi(args.work / f"narrow-{n_rows}", n_rows, width=128)
        out = args.work / f"pred-narrow-{n_rows}"
        cmd = [*mssfe, "predict", str(run_dir), "--cube", str(header), "--out", str(out),
               "--device", "cpu", "--no-progress", "--confidence"]  # fmt: skip
        code, rss, wall, output = measured(cmd, args.work)
        print(output[-2000:], flush=True)
        commands.append("prlimit --as=2147483648 -- " + " ".join(cmd[2:]))
        rows_out.append(f"| {n_rows} x 128 x {BANDS} int16 | {n_rows * 128:,} | "
                        f"{-(-n_rows // 32)} | {code} | {rss:.0f} | {wall:.0f} |")  # fmt: skip
        print(rows_out[-1], flush=True)
        shutil.rmtree(out, ignore_errors=True)
        header.unlink()
        header.with_suffix(".img").unlink()
    return rows_out, commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-gib", type=float, nargs="+", default=[2.0, 8.25])
    parser.add_argument("--formats", nargs="+", default=["envi", "geotiff"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mssfe-predict-memory"))
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks/results/issue17/predict_memory.md")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the cubes")
    parser.add_argument("--whole-rows", type=int, nargs="*", default=[512, 2048],
                        help="also predict whole narrow ENVI cubes of these many rows")  # fmt: skip
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.work).free / 2**30
    need = 1.05 * max(args.sizes_gib) * 2
    if free < need:
        raise SystemExit(f"{args.work}: {free:.1f} GiB free, need about {need:.1f} GiB")
    run_dir = train_cheap_run(args.work)
    mssfe = [sys.executable, "-m", "mssfe"]
    rows_out: list[str] = []
    commands: list[str] = []
    control = ""
    for fmt in args.formats:
        written: list[Path] = []
        for size in sorted(args.sizes_gib):
            n_rows = int(size * 2**30 // (WIDTH * BANDS * 2))
            stem = args.work / f"cube-{size:g}GiB".replace(".", "_")
            t0 = time.perf_counter()
            path = write_envi(stem, n_rows) if fmt == "envi" else write_geotiff(
                stem.with_suffix(".tif"), n_rows)  # fmt: skip
            data = path.with_suffix(".img") if fmt == "envi" else path
            written += [path, data]
            write_s = time.perf_counter() - t0
            on_disk = data.stat().st_size / 2**30
            row0 = n_rows // 2 - WINDOW_ROWS // 2
            window = f"{row0}:{row0 + WINDOW_ROWS},{WINDOW_COLS[0]}:{WINDOW_COLS[1]}"
            out = args.work / f"pred-{fmt}-{size:g}"
            cmd = [*mssfe, "predict", str(run_dir), "--cube", str(path), "--window", window,
                   "--out", str(out), "--device", "cpu", "--no-progress", "--confidence"]  # fmt: skip
            code, rss, wall, output = measured(cmd, args.work)
            print(output[-2000:], flush=True)
            commands.append("prlimit --as=2147483648 -- " + " ".join(cmd[2:]).replace(
                sys.executable, "python"))  # fmt: skip
            rows_out.append(
                f"| {fmt} | {on_disk:.2f} GiB ({data.stat().st_size / 1e9:.2f} GB) | "
                f"{n_rows} x {WIDTH} x {BANDS} int16 | {window} | {code} | {rss:.0f} | "
                f"{wall:.0f} | {write_s:.0f} |"
            )
            print(rows_out[-1], flush=True)
            shutil.rmtree(out, ignore_errors=True)
        if fmt == "envi":
            code = f"from mssfe.data.readers import load_cube; load_cube({str(written[-2])!r})"
            status, rss, wall, output = measured([sys.executable, "-c", code], args.work)
            last = output.strip().splitlines()[-1] if output.strip() else ""
            control = (f"Control: the whole-cube reader (`load_cube`, a memory map of the "
                       f"whole file) on the {written[-1].stat().st_size / 2**30:.2f} GiB ENVI "
                       f"cube under the same cap: exit {status} after {wall:.0f} s, peak RSS "
                       f"{rss:.0f} MiB: `{last[:200]}`.")  # fmt: skip
        if not args.keep:
            for path in written:
                path.unlink(missing_ok=True)
    whole_rows, whole_commands = predict_whole(args, run_dir, mssfe)
    text = "\n".join(
        [
            "# Predicting cubes larger than memory (issue 17, item 4)",
            "",
            "`python benchmarks/predict_memory.py` "
            f"(sizes {', '.join(f'{s:g}' for s in sorted(args.sizes_gib))} GiB). Machine: "
            f"{machine()}. The machine was shared with other jobs while this ran; wall times "
            "are indicative only.",
            "",
            "Each prediction runs in its own process under `prlimit --as=2147483648` (a hard 2 GiB "
            "address-space cap: torch, GDAL and the model included); peak RSS is that process's "
            "`ru_maxrss`. Model: ms2fenet, patch 9, 10 PCA components, trained 1 epoch on "
            "Salinas-A (a cheap run: the numbers are about memory, not accuracy). The window "
            f"({WINDOW_ROWS} rows x {WINDOW_COLS[1] - WINDOW_COLS[0]} columns, 65,536 pixels, "
            "in the middle of the cube) keeps each run to about a minute; the tiles are read "
            "through the cube's whole width, half way into the file.",
            "",
            "| format | cube on disk | shape | --window | exit | peak RSS (MiB) | wall (s) "
            "| writing the cube (s) |",
            "|---|---|---|---|---|---|---|---|",
            *rows_out,
            "",
            control,
            "",
            "Whole cubes, no window: narrow ENVI cubes (128 columns) of two heights, every "
            "pixel classified and every tile written (class map and confidence GeoTIFFs and "
            ".npy), under the same cap. Peak memory does not grow with the tiles written.",
            "",
            "| cube | pixels | tiles of 32 rows | exit | peak RSS (MiB) | wall (s) |",
            "|---|---|---|---|---|---|",
            *whole_rows,
            "",
            "Commands (the run directory and cubes under the work directory):",
            "",
            "```",
            *commands,
            *whole_commands,
            "```",
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
