"""CPU speed of MS²FENet: the authors' layers, the previous fast path and the pixel-major path,
against the machine's own FLOP limit.

Run:  .venv/bin/python benchmarks/speed_ms2fenet.py [--repeats 7] [--epochs 2] [--threads N]
      [--compile] [--out benchmarks/results/speed_ms2fenet.md]

Everything is measured in ONE process, the variants interleaved repeat by repeat, and
reported as the median; ratios are what to read on a shared machine (the load average at
start and end is printed with the numbers).

- FLOP limit: a float32 ``torch.matmul`` of two 2048 x 2048 matrices (large enough to
  saturate MKL's sgemm) is timed as one more interleaved variant; its GFLOP/s divided by the
  model's FLOPs per pixel (``mssfe.models.summary.flops_per_pixel``, the number ``mssfe info
  ms2fenet`` prints) is the px/s the model would reach if every FLOP ran at sgemm speed.
  "Share of FLOP limit" is a variant's px/s over that. Training uses the FLOPs of a forward +
  backward (``torch.utils.flop_counter``) per sample.
- inference: 256 Salinas-A patches (PCA 30, patch 15), eval mode, ``torch.inference_mode``.
  "authors' layers": ``fast_depthwise=False`` (plain ``nn.Conv3d``), in one forward and in
  sub-batches of 32; "previous path": the ``fast_depthwise`` depthwise conv in the authors'
  layer-by-layer forward (``MS2FENet.forward_layers``), sub-batches of 32 (what
  ``predict_dataset`` ran before the pixel-major path); "pixel-major": ``MS2FENet.forward``
  (mssfe.models.pixel_major) in sub-batches of ``cpu_forward_chunk``, as ``predict_dataset``
  runs it now, and in one forward.
- training: samples/s of one Adam step (forward, cross-entropy, backward, step) at batch 64.
- ``--compile``: also times ``torch.compile`` of the authors' layers (inductor, needs gcc);
  the compile time is reported.
- ``--clock cpu`` (with ``--threads 1``): times by the thread's CPU time instead of the wall
  clock, so that the time the process spends descheduled on a loaded machine is not counted
  (memory-bandwidth and cache contention still are). On a shared, oversubscribed machine this
  is the only stable figure; the 2-thread wall clock there mostly measures OpenMP barriers
  waiting for a descheduled thread.
- epoch: one training epoch on Salinas-A (``random:0.1`` split, batch 64, augmentation on),
  timed per phase (data, forward, backward, optimizer step), the variants interleaved.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mssfe.data.patches import PatchDataset, augment_batch
from mssfe.data.preprocess import fit_preprocessor
from mssfe.data.scenes import load_scene
from mssfe.data.splits import make_split
from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig
from mssfe.models.summary import flops_per_pixel
from mssfe.training.record import cpu_model

PATCH = 15
COMPONENTS = 30
PREVIOUS_CHUNK = 32  # predict_dataset's sub-batch before the pixel-major path
GEMM_SIZE = 2048
AUTHORS = "authors' layers, 256 in one forward"
PREVIOUS = f"previous path (fast depthwise conv, layer by layer), chunks of {PREVIOUS_CHUNK}"
SGEMM = f"sgemm {GEMM_SIZE}^3 (FLOP limit)"


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def machine_lines() -> list[str]:
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})",
        f"- load average at start (1/5/15 min): {load_avg()}",
    ]


def prepare(seed: int = 0) -> tuple[PatchDataset, PatchDataset, int, int]:
    """Salinas-A, PCA 30 fitted as the trainer does, patch 15, random:0.1 split."""
    scene = load_scene("SalinasA")
    split = make_split(scene.labels, "random:0.1", seed=seed, patch_size=PATCH)
    cube = scene.require_cube()
    pre = fit_preprocessor(cube, split.train, n_components=COMPONENTS, seed=seed)
    feats = pre.transform(cube)
    labels = scene.labels.ravel()
    train = PatchDataset(feats, split.train, labels[split.train] - 1, PATCH)
    test = PatchDataset(feats, split.test, labels[split.test] - 1, PATCH)
    return train, test, feats.shape[2], scene.n_classes


class LayerByLayer(nn.Module):
    """The previous fast path: ``model.forward_layers`` (its depthwise convs run by
    :class:`~mssfe.models.fast_ops.DepthwiseConv3d`), as a module a training step can call."""

    def __init__(self, model: MS2FENet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_layers(x)


def models(n_bands: int, n_classes: int) -> tuple[MS2FENet, nn.Module, MS2FENet]:
    """The authors' layers, the previous path and the pixel-major path, same weights."""
    torch.manual_seed(0)
    authors = MS2FENet(MS2FENetConfig(fast_depthwise=False), n_bands, n_classes)
    previous = MS2FENet(MS2FENetConfig(), n_bands, n_classes)
    pixel = MS2FENet(MS2FENetConfig(), n_bands, n_classes)
    previous.load_state_dict(authors.state_dict())
    pixel.load_state_dict(authors.state_dict())
    return authors, LayerByLayer(previous), pixel


def interleave(
    variants: dict[str, Callable[[], object]],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
    warmup: int = 1,
) -> dict[str, list[float]]:
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return times


def infer(model: nn.Module, x: torch.Tensor, chunk: int) -> Callable[[], object]:
    def run() -> object:
        model.eval()
        with torch.inference_mode():
            return torch.cat([model(part) for part in torch.split(x, chunk)])

    return run


def sgemm() -> Callable[[], object]:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=gen)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, generator=gen)
    return lambda: torch.matmul(a, b)


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], object]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> object:
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return run


def training_flops(n_bands: int, n_classes: int, x: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of one forward + backward of the authors' layers, per sample (convolutions and
    matrix products), on a throwaway model (the pass moves BatchNorm statistics)."""
    model = MS2FENet(MS2FENetConfig(fast_depthwise=False), n_bands, n_classes).train()
    counter = FlopCounterMode(display=False)
    with counter:
        nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / len(x)


PHASES = ("data", "forward", "backward", "step")


def epoch_phases(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    ds: PatchDataset,
    epoch: int,
    clock: Callable[[], float],
    batch: int = 64,
) -> dict[str, float]:
    """One training epoch as trainer.train runs it, with a timer per phase (seconds)."""
    gen = torch.Generator().manual_seed(epoch)
    order = torch.randperm(len(ds), generator=gen)
    chunks = [order[i : i + batch].tolist() for i in range(0, len(ds), batch)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-2].extend(chunks.pop())
    loss_fn = nn.CrossEntropyLoss()
    t = dict.fromkeys(PHASES, 0.0)
    model.train()
    for idx in chunks:
        t0 = clock()
        x, y = ds.get_batch(idx)
        x = augment_batch(x, gen)
        t1 = clock()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        t2 = clock()
        loss.backward()
        t3 = clock()
        opt.step()
        t4 = clock()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            t[name] += b - a
    return t


def med(v: list[float]) -> float:
    return statistics.median(v)


def throughput_table(
    title: str,
    unit: str,
    times: dict[str, list[float]],
    per_call: int,
    flops_per_item: float,
    reference: str,
    previous: str,
) -> list[str]:
    """Rows of px/s (or samples/s), ratios and share of the sgemm FLOP limit."""
    gemm = 2 * GEMM_SIZE**3 / med(times[SGEMM])
    limit = gemm / flops_per_item
    rows = [
        f"| {title} | s / call | {unit} | vs authors | vs previous | share of FLOP limit |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in times.items():
        if name == SGEMM:
            continue
        rate = per_call / med(v)
        rows.append(
            f"| {name} | {med(v):.3f} | {rate:.0f} | {med(times[reference]) / med(v):.2f}x "
            f"| {med(times[previous]) / med(v):.2f}x | {rate / limit:.1%} |"
        )
    rows += [
        "",
        f"sgemm: {gemm / 1e9:.1f} GFLOP/s ({SGEMM}; {flops_per_item / 1e6:.1f} MFLOP per "
        f"{'pixel' if unit == 'px/s' else 'sample'}) -> FLOP limit {limit:.0f} {unit}.",
    ]
    return rows


def run_epochs(
    variants: dict[str, nn.Module],
    train_ds: PatchDataset,
    epochs: int,
    clock: Callable[[], float],
) -> dict[str, list[dict[str, float]]]:
    runs = {
        name: (model, torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4))
        for name, model in variants.items()
    }
    for model, opt in runs.values():  # warm-up
        epoch_phases(model, opt, train_ds, 0, clock)
    prof: dict[str, list[dict[str, float]]] = {k: [] for k in runs}
    for e in range(epochs):
        for name, (model, opt) in runs.items():
            prof[name].append(epoch_phases(model, opt, train_ds, e + 1, clock))
    return prof


def epoch_table(prof: dict[str, list[dict[str, float]]], n_train: int, epochs: int) -> list[str]:
    names = list(prof)
    out = [
        "",
        "## One training epoch on Salinas-A",
        "",
        f"PCA {COMPONENTS}, patch {PATCH}, split random:0.1 seed 0: {n_train} training "
        f"patches, batch 64, augmentation on; median of {epochs} interleaved epochs each; "
        f"load average after: {load_avg()}. Seconds per epoch and share of the epoch.",
        "",
        "| phase | " + " | ".join(f"{k} s | share" for k in names) + " |",
        "|---|" + "---|---|" * len(names),
    ]
    tot = {k: sum(med([p[ph] for p in prof[k]]) for ph in PHASES) for k in names}
    for ph in PHASES:
        cells = []
        for k in names:
            sec = med([p[ph] for p in prof[k]])
            cells.append(f"{sec:.3f} | {sec / tot[k]:.1%}")
        out.append(f"| {ph} | " + " | ".join(cells) + " |")
    out.append("| total | " + " | ".join(f"{tot[k]:.3f} | " for k in names) + " |")
    first = names[0]
    out.append(
        "\nEpoch samples/s: "
        + ", ".join(f"{k} {n_train / tot[k]:.0f} ({tot[first] / tot[k]:.2f}x)" for k in names)
        + "."
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=2, help="profiled epochs per variant (0: none)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--out", default="benchmarks/results/speed_ms2fenet.md")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads first")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and torch.get_num_threads() != 1:
        ap.error("--clock cpu counts the calling thread's CPU time only: use it with --threads 1")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter

    lines = ["# MS²FENet CPU speed: authors' layers, previous path, pixel-major path", ""]
    lines += ["Command: `" + " ".join(["python", *sys.argv]) + "`", "", "## Machine", ""]
    lines += machine_lines()
    print("\n".join(lines), flush=True)

    train_ds, test_ds, n_bands, n_classes = prepare()
    authors, previous, pixel = models(n_bands, n_classes)
    chunk = pixel.cpu_forward_chunk or 256
    x_inf, _ = test_ds.get_batch(np.arange(256))
    x_tr, y_tr = train_ds.get_batch(np.arange(64))
    px_flops = float(flops_per_pixel(authors, (1, *authors.input_shape)))
    sample_flops = training_flops(n_bands, n_classes, x_tr, y_tr)

    # --- exactness on these batches ------------------------------------------------------------
    ref = cast(torch.Tensor, infer(authors, x_inf, 256)())
    got = cast(torch.Tensor, infer(pixel, x_inf, chunk)())
    rel = float((got - ref).abs().max() / ref.abs().max())

    # --- inference -----------------------------------------------------------------------------
    inf: dict[str, Callable[[], object]] = {
        AUTHORS: infer(authors, x_inf, 256),
        f"authors' layers, chunks of {PREVIOUS_CHUNK}": infer(authors, x_inf, PREVIOUS_CHUNK),
        PREVIOUS: infer(previous, x_inf, PREVIOUS_CHUNK),
        f"pixel-major, chunks of {chunk} (predict_dataset)": infer(pixel, x_inf, chunk),
    }
    for other in sorted({32, 128, 256} - {chunk}):
        name = "256 in one forward" if other == 256 else f"chunks of {other}"
        inf[f"pixel-major, {name}"] = infer(pixel, x_inf, other)
    inf[SGEMM] = sgemm()
    # --- training ------------------------------------------------------------------------------
    tr: dict[str, Callable[[], object]] = {
        "authors' layers": train_step(authors, x_tr, y_tr),
        "previous path": train_step(previous, x_tr, y_tr),
        "pixel-major": train_step(pixel, x_tr, y_tr),
        SGEMM: sgemm(),
    }
    compile_note = ""
    if args.compile:
        comp = MS2FENet(MS2FENetConfig(fast_depthwise=False), n_bands, n_classes)
        comp.load_state_dict(authors.state_dict())
        compiled: Any = torch.compile(comp)
        t0 = time.perf_counter()
        train_step(compiled, x_tr, y_tr)()
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        infer(compiled, x_inf, 256)()
        t_first = time.perf_counter() - t0
        compile_note = (
            f"torch.compile (inductor): first training step {t_train:.1f} s, "
            f"first inference {t_first:.1f} s (compilation included)"
        )
        print(compile_note, flush=True)
        tr["torch.compile (authors' layers)"] = train_step(compiled, x_tr, y_tr)
        inf["torch.compile (authors' layers, 256 in one forward)"] = infer(compiled, x_inf, 256)

    t_inf = interleave(inf, args.repeats, clock)
    t_tr = interleave(tr, args.repeats, clock)

    out = ["", "## Throughput (median of interleaved repeats)", ""]
    out += [f"Repeats: {args.repeats}; clock: {args.clock}; load average after: {load_avg()}", ""]
    out += throughput_table("inference, batch 256", "px/s", t_inf, 256, px_flops, AUTHORS, PREVIOUS)
    out += [""]
    out += throughput_table(
        "training, batch 64, Adam step",
        "samples/s",
        t_tr,
        64,
        sample_flops,
        "authors' layers",
        "previous path",
    )
    out += [
        "",
        f"Pixel-major logits vs the authors' layers on the 256 patches: max rel. {rel:.1e}.",
    ]
    if compile_note:
        out += ["", compile_note]
    print("\n".join(out), flush=True)
    lines += out

    if args.epochs > 0:
        authors_e, previous_e, pixel_e = models(n_bands, n_classes)
        prof = run_epochs(
            {"authors": authors_e, "previous": previous_e, "pixel-major": pixel_e},
            train_ds,
            args.epochs,
            clock,
        )
        out = epoch_table(prof, len(train_ds), args.epochs)
        print("\n".join(out), flush=True)
        lines += out
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
