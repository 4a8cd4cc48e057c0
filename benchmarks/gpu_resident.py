"""Host-fed vs device-resident data path on one GPU: training samples/s, prediction px/s,
GPU utilisation, for the authors' layers and ours (issue 17, item 3).

For each layer set (``authors``: ``ms2fenet:fast_depthwise=false``, the layer-by-layer
network; ``ours``: ``ms2fenet`` with its fast paths), each precision and each data path
(``host``: patches cut on the CPU and copied per batch, ``--data-on-device off``; ``device``:
the padded cube on the GPU, patches gathered and augmented there, ``--data-on-device on``,
and row tiles streamed through pinned buffers for prediction), it trains a few epochs with
the real trainer (``mssfe.training.trainer.train``) and predicts the whole scene with the
real ``predict_scene``. Training samples/s = training pixels / median epoch seconds of epochs
2..N (epoch 1 warms CUDA up); prediction px/s = the scene's pixels / end-to-end seconds
(preprocessing, copies, patches and forward: what ``mssfe predict`` waits for), after a
warm-up on a crop. GPU utilisation (%) is sampled every 50 ms during each phase (NVML, else
``nvidia-smi``). One process, about 2-4 minutes on an H100/H200 with the defaults:

    python benchmarks/gpu_resident.py --out benchmarks/results/gpu_resident.md

Without CUDA it says so and runs a tiny CPU smoke of the same code (for the tests), exit 0.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mssfe.data.scenes import Scene, load_scene
from mssfe.training.config import DataConfig, OptimConfig, RunConfig, RuntimeConfig
from mssfe.training.rundir import RunDir
from mssfe.training.trainer import train
from mssfe.workflows.predict import load_run, predict_scene

LAYERS = {"authors": {"fast_depthwise": False}, "ours": {}}
PATHS = ("host", "device")


class UtilisationSampler:
    """GPU utilisation (%) sampled in a thread: NVML if pynvml imports, else nvidia-smi."""

    def __init__(self, device: torch.device, interval: float = 0.05) -> None:
        self.device, self.interval = device, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _reader(self) -> Callable[[], float] | None:
        if self.device.type != "cuda":
            return None
        index = self.device.index if self.device.index is not None else 0
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # no pynvml, or no NVML library: ask nvidia-smi
            smi = shutil.which("nvidia-smi")
            if smi is None:
                return None
            query = [smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            query += ["-i", str(index)]
            return lambda: float(subprocess.run(query, capture_output=True, text=True).stdout)

    def _run(self) -> None:
        read = self._reader()
        if read is None:
            return
        while not self._stop.is_set():
            try:
                self.samples.append(read())
            except (ValueError, OSError):
                return
            time.sleep(self.interval)

    def __enter__(self) -> UtilisationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


@dataclass(frozen=True)
class Row:
    layers: str
    path: str
    precision: str
    n_train: int
    train_samples_per_s: float
    train_util: float | None
    predict_px_per_s: float
    predict_util: float | None


@dataclass(frozen=True)
class Settings:
    device: torch.device
    split: str
    epochs: int
    batch_size: int | None
    predict_batch: int
    tile_rows: int
    model_args: dict[str, int]
    crop: tuple[int, int] | None  # predict on the top-left rows x cols only (smoke)
    deterministic: bool = True  # the trainer's default (cuDNN autotuning off)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_cell(
    scene: Scene, layers: str, path: str, precision: str, s: Settings, run_dir: Path
) -> tuple[int, float, float | None]:
    config = RunConfig(
        model="ms2fenet",
        model_args={**LAYERS[layers], **s.model_args},
        data=DataConfig(scene=scene.name, split=s.split, max_test=64),
        optim=OptimConfig(max_epochs=s.epochs, patience=s.epochs + 1, batch_size=s.batch_size),
        runtime=RuntimeConfig(
            device=str(s.device),
            precision=precision,
            progress=False,
            data_on_device="on" if path == "device" else "off",
            deterministic=s.deterministic,
        ),
        seed=0,
    )
    with UtilisationSampler(s.device) as sampler:
        train(config, run_dir, scene=scene)
    run = RunDir(run_dir)
    log, metrics = run.read_log(), run.read_metrics()
    steady = statistics.median([e.seconds for e in log[1:]] or [log[0].seconds])
    return metrics.n_train, metrics.n_train / steady, sampler.mean


def _predict_cell(
    cube: np.ndarray, path: str, s: Settings, run_dir: Path
) -> tuple[float, float | None]:
    loaded = load_run(run_dir, s.device)
    on_device = path == "device"
    kwargs = {"tile_rows": s.tile_rows, "batch_size": s.predict_batch, "progress": False}
    predict_scene([loaded], cube[: 2 * s.tile_rows], on_device=on_device, **kwargs)  # warm-up
    _sync(s.device)
    with UtilisationSampler(s.device) as sampler:
        t0 = time.perf_counter()
        result = predict_scene([loaded], cube, on_device=on_device, **kwargs)
        _sync(s.device)
        seconds = time.perf_counter() - t0
    return result.timings.pixels / seconds, sampler.mean


def measure(
    scene: Scene, precisions: list[str], layer_sets: list[str], s: Settings, workdir: Path
) -> list[Row]:
    cube = np.ascontiguousarray(scene.require_cube())
    if s.crop is not None:
        cube = np.ascontiguousarray(cube[: s.crop[0], : s.crop[1]])
    rows = []
    for layers in layer_sets:
        for precision in precisions:
            for path in PATHS:
                run_dir = workdir / f"{layers}-{precision}-{path}"
                n_train, train_rate, train_util = _train_cell(
                    scene, layers, path, precision, s, run_dir
                )
                px_rate, predict_util = _predict_cell(cube, path, s, run_dir)
                row = Row(
                    layers, path, precision, n_train, train_rate, train_util, px_rate, predict_util
                )
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _util(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _line(r: Row) -> str:
    return (
        f"| {r.layers} | {r.path} | {'fp32' if r.precision == '32' else r.precision} "
        f"| {r.train_samples_per_s:,.0f} | {_util(r.train_util)} "
        f"| {r.predict_px_per_s:,.0f} | {_util(r.predict_util)} |"
    )


def table(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| layers | data path | precision | train samples/s | train GPU util % "
        "| predict px/s | predict GPU util % |",
        "|---|---|---|---|---|---|---|",
        *(_line(r) for r in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default="PaviaU-sim", help="scene to train and predict")
    parser.add_argument("--split", default="random:0.1", help="training split of the scene")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per cell (median of 2..N)")
    parser.add_argument("--precision", nargs="+", default=["32", "bf16"], help="32 / bf16 / 16")
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--batch-size", type=int, help="training batch (default: the model's)")
    parser.add_argument("--predict-batch", type=int, default=1024, help="patches per forward")
    parser.add_argument("--tile-rows", type=int, default=64, help="rows per prediction tile")
    parser.add_argument("--out", help="write the Markdown table here too")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument(
        "--nondeterministic",
        action="store_true",
        help="runtime.deterministic = false (cuDNN may autotune; default: the trainer's default)",
    )
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    cuda = torch.cuda.is_available()
    if cuda:
        device = torch.device(args.device)
        s = Settings(
            device, args.split, args.epochs, args.batch_size, args.predict_batch,
            args.tile_rows, {}, None, not args.nondeterministic,
        )  # fmt: skip
        scene_name, precisions = args.scene, args.precision
        what = f"GPU **{torch.cuda.get_device_name(device)}**"
    else:
        print("no CUDA device: nothing to measure on a GPU; a tiny CPU smoke run of the same code")
        device = torch.device("cpu")
        small = {"patch_size": 9, "n_components": 12}
        s = Settings(device, "random:5", 2, 16, 256, 8, small, (24, 40))
        scene_name, precisions = "SalinasA", ["32"]
        what = "**CPU smoke run (no CUDA device): not a GPU measurement**"
    header = (
        f"Device-resident vs host-fed data path: {what}, PyTorch {torch.__version__}; scene "
        f"{scene_name} split {s.split}, {s.epochs} epochs per cell, prediction batch "
        f"{s.predict_batch}, tiles of {s.tile_rows} rows, deterministic {s.deterministic}"
        + (f", crop {s.crop[0]} x {s.crop[1]}" if s.crop else ", whole scene")
        + ". Command: `python benchmarks/gpu_resident.py"
        + "".join(" " + a for a in given)
        + "`"
    )
    print(header, flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(load_scene(scene_name), precisions, args.layers, s, Path(tmp))
    text = table(rows, header) + f"\nWall time {time.perf_counter() - t0:.0f} s.\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
