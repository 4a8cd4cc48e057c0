"""CPU speed of MS²FENet: the authors' layers (plain eager fp32) against the fastest shipped path.

Run:  .venv/bin/python benchmarks/speed_ms2fenet.py [--repeats 5] [--epochs 2] [--compile]
      [--out benchmarks/results/speed_ms2fenet.md]

Everything is measured in ONE process, baseline and fast path interleaved repeat by repeat,
and reported as the median; the ratio is what to read on a shared machine (the load average
at start and end is printed with the numbers).

- inference: pixels/s for a 256-patch batch of real Salinas-A patches. Baseline: the authors'
  layers (``fast_depthwise=False``, plain ``nn.Conv3d``), ``torch.no_grad``, the 256 patches in
  one forward. Fast: ``fast_depthwise=True`` (mssfe.models.fast_ops), ``torch.inference_mode``,
  the forward on sub-batches of ``trainer.CPU_FORWARD_CHUNK``, as ``predict_dataset`` does.
- training: samples/s of one Adam step (forward, cross-entropy, backward, step) at batch 64.
- threads: both are also timed with 1 thread (torch.set_num_threads). On a shared machine
  (load average above the core count) 1 thread wins by far: OpenMP's 2-thread barriers
  stall when a thread is descheduled; on an idle one 2 threads win.
- ``--compile``: also times ``torch.compile`` of the baseline model (inductor, needs gcc);
  the compile time is reported.
- profile: one training epoch on Salinas-A (PCA 30, patch 15, ``random:0.1`` split, batch 64,
  augmentation on), timed per phase: data (get_batch + augment_batch), forward (+ loss),
  backward, optimizer step; baseline and fast epochs interleaved.
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
from typing import Any

import numpy as np
import torch
from torch import nn

from mssfe.data.patches import PatchDataset, augment_batch
from mssfe.data.preprocess import fit_preprocessor
from mssfe.data.scenes import load_scene
from mssfe.data.splits import make_split
from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig
from mssfe.training.record import cpu_model

PATCH = 15
CPU_FORWARD_CHUNK = 32  # MS2FENet.cpu_forward_chunk with fast_depthwise, used by predict_dataset
COMPONENTS = 30


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


def pair(n_bands: int, n_classes: int) -> tuple[MS2FENet, MS2FENet]:
    torch.manual_seed(0)
    base = MS2FENet(MS2FENetConfig(fast_depthwise=False), n_bands, n_classes)
    fast = MS2FENet(MS2FENetConfig(fast_depthwise=True), n_bands, n_classes)
    fast.load_state_dict(base.state_dict())
    return base, fast


def with_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(old)

    return run


def interleave(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def infer_one(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        model.eval()
        with torch.no_grad():
            return model(x)

    return run


def infer_chunked(model: nn.Module, x: torch.Tensor, chunk: int) -> Callable[[], object]:
    def run() -> object:
        model.eval()
        with torch.inference_mode():
            return torch.cat([model(part) for part in torch.split(x, chunk)])

    return run


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


PHASES = ("data", "forward", "backward", "step")


def epoch_phases(
    model: nn.Module, opt: torch.optim.Optimizer, ds: PatchDataset, epoch: int, batch: int = 64
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
        t0 = time.perf_counter()
        x, y = ds.get_batch(idx)
        x = augment_batch(x, gen)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            t[name] += b - a
    return t


def med(v: list[float]) -> float:
    return statistics.median(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2, help="profiled epochs per variant")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--out", default="benchmarks/results/speed_ms2fenet.md")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads first")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    lines = ["# MS²FENet CPU speed: authors' layers vs the fastest shipped path", ""]
    lines += ["Command: `" + " ".join(["python", *sys.argv]) + "`", "", "## Machine", ""]
    lines += machine_lines()
    print("\n".join(lines), flush=True)
    threads = torch.get_num_threads()

    train_ds, test_ds, n_bands, n_classes = prepare()
    base, fast = pair(n_bands, n_classes)
    assert fast.cpu_forward_chunk == CPU_FORWARD_CHUNK and base.cpu_forward_chunk is None
    x_inf, _ = test_ds.get_batch(np.arange(256))
    x_tr, y_tr = train_ds.get_batch(np.arange(64))

    # --- exactness on this batch (logits) -----------------------------------------------------
    with torch.no_grad():
        base.eval()
        fast.eval()
        ref = base(x_inf)
        got = infer_chunked(fast, x_inf, CPU_FORWARD_CHUNK)()
    rel = float((got - ref).abs().max() / ref.abs().max())

    # --- inference ----------------------------------------------------------------------------
    inf: dict[str, Callable[[], object]] = {
        "baseline (256 in one forward, no_grad)": infer_one(base, x_inf),
        "baseline layers, sub-batched": infer_chunked(base, x_inf, CPU_FORWARD_CHUNK),
        f"fast (fast_depthwise, chunks of {CPU_FORWARD_CHUNK}, inference_mode)": infer_chunked(
            fast, x_inf, CPU_FORWARD_CHUNK
        ),
        "fast, chunks of 64": infer_chunked(fast, x_inf, 64),
        "fast, chunks of 16": infer_chunked(fast, x_inf, 16),
        "fast, 256 in one forward": infer_chunked(fast, x_inf, 256),
    }
    if threads > 1:
        inf["baseline, 1 thread"] = with_threads(1, infer_one(base, x_inf))
        inf["fast, 1 thread"] = with_threads(1, infer_chunked(fast, x_inf, CPU_FORWARD_CHUNK))
        inf["fast, 1 thread, 256 in one forward"] = with_threads(1, infer_chunked(fast, x_inf, 256))
    # --- training -----------------------------------------------------------------------------
    tr: dict[str, Callable[[], object]] = {
        "baseline (nn.Conv3d)": train_step(base, x_tr, y_tr),
        "fast (fast_depthwise)": train_step(fast, x_tr, y_tr),
    }
    if threads > 1:
        tr["baseline, 1 thread"] = with_threads(1, train_step(base, x_tr, y_tr))
        tr["fast, 1 thread"] = with_threads(1, train_step(fast, x_tr, y_tr))
    compile_note = ""
    if args.compile:
        comp = MS2FENet(MS2FENetConfig(fast_depthwise=False), n_bands, n_classes)
        comp.load_state_dict(base.state_dict())
        compiled: Any = torch.compile(comp)
        t0 = time.perf_counter()
        train_step(compiled, x_tr, y_tr)()
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        infer_chunked(compiled, x_inf, 256)()
        t_first = time.perf_counter() - t0
        compile_note = (
            f"torch.compile (inductor): first training step {t_train:.1f} s, "
            f"first inference {t_first:.1f} s (compilation included)"
        )
        print(compile_note, flush=True)
        tr["torch.compile (baseline layers)"] = train_step(compiled, x_tr, y_tr)
        inf["torch.compile (baseline layers, 256 in one forward)"] = infer_chunked(
            compiled, x_inf, 256
        )

    t_inf = interleave(inf, args.repeats)
    t_tr = interleave(tr, args.repeats)
    base_inf = med(t_inf["baseline (256 in one forward, no_grad)"])
    base_tr = med(t_tr["baseline (nn.Conv3d)"])

    out = ["", "## Throughput (median of interleaved repeats)", ""]
    out += [f"Repeats: {args.repeats}; load average after: {load_avg()}", ""]
    out += ["| inference, batch 256 | s / batch | pixels/s | vs baseline |", "|---|---|---|---|"]
    for name, v in t_inf.items():
        out.append(f"| {name} | {med(v):.3f} | {256 / med(v):.0f} | {base_inf / med(v):.2f}x |")
    out += ["", "| training, batch 64, Adam step | s / step | samples/s | vs baseline |"]
    out += ["|---|---|---|---|"]
    for name, v in t_tr.items():
        out.append(f"| {name} | {med(v):.3f} | {64 / med(v):.0f} | {base_tr / med(v):.2f}x |")
    out += ["", f"Fast-path logits vs baseline on the 256 patches: max rel. difference {rel:.1e}."]
    if compile_note:
        out += ["", compile_note]
    print("\n".join(out), flush=True)
    lines += out

    # --- profile of one epoch -------------------------------------------------------------------
    base1, fast1 = pair(n_bands, n_classes)
    variants = {  # name -> (model, threads)
        "baseline": (base, threads),
        "fast": (fast, threads),
        "baseline, 1 thread": (base1, 1),
        "fast, 1 thread": (fast1, 1),
    }
    if threads == 1:
        del variants["fast, 1 thread"], variants["baseline, 1 thread"]
    runs = {
        name: (model, torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4), n)
        for name, (model, n) in variants.items()
    }

    def one_epoch(name: str, epoch: int) -> dict[str, float]:
        model, opt, n = runs[name]
        return with_threads(n, lambda: epoch_phases(model, opt, train_ds, epoch))()  # type: ignore[return-value]

    for name in runs:  # warm-up
        one_epoch(name, 0)
    prof: dict[str, list[dict[str, float]]] = {k: [] for k in runs}
    for e in range(args.epochs):
        for name in runs:
            prof[name].append(one_epoch(name, e + 1))
    out = ["", "## One training epoch on Salinas-A", ""]
    out += [
        f"PCA {COMPONENTS}, patch {PATCH}, split random:0.1 seed 0: {len(train_ds)} training "
        f"patches, batch 64, augmentation on; median of {args.epochs} interleaved epochs each; "
        f"load average after: {load_avg()}. Seconds per epoch and share of the epoch.",
        "",
        "| phase | " + " | ".join(f"{k} s | share" for k in runs) + " | speed-up (best fast) |",
        "|---|" + "---|---|" * len(runs) + "---|",
    ]
    tot = {k: sum(med([p[ph] for p in prof[k]]) for ph in PHASES) for k in prof}
    best = min((k for k in runs if k.startswith("fast")), key=lambda k: tot[k])
    for ph in PHASES:
        cells = []
        for k in runs:
            sec = med([p[ph] for p in prof[k]])
            cells.append(f"{sec:.3f} | {sec / tot[k]:.1%}")
        b = med([p[ph] for p in prof["baseline"]])
        f = med([p[ph] for p in prof[best]])
        out.append(f"| {ph} | " + " | ".join(cells) + f" | {b / f:.2f}x |")
    out.append(
        "| total | "
        + " | ".join(f"{tot[k]:.3f} | " for k in runs)
        + f" | {tot['baseline'] / tot[best]:.2f}x |"
    )
    out.append(
        "\nEpoch samples/s: "
        + ", ".join(f"{k} {len(train_ds) / tot[k]:.0f}" for k in runs)
        + f"; best fast variant: {best}."
    )
    if "fast, 1 thread" in tot:
        out.append(
            f"Same thread count, fast / baseline epoch speed-up: {threads} threads "
            f"{tot['baseline'] / tot['fast']:.2f}x, 1 thread "
            f"{tot['baseline, 1 thread'] / tot['fast, 1 thread']:.2f}x."
        )
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
