"""Per-op CPU profile of MS²FENet (torch.profiler): where the time goes, op by op.

Run:  .venv/bin/python benchmarks/profile_ms2fenet.py [--threads N] [--rows 15]
      [--out benchmarks/results/profile_ms2fenet.md]

Profiles, on random patches of the authors' configuration ``(N, 1, 30, 15, 15)``:

- the eval forward of 256 patches, as ``predict_dataset`` runs it: the previous path (the
  ``fast_depthwise`` conv in the authors' layer-by-layer forward, sub-batches of 32) and the
  pixel-major path (``MS2FENet.forward``, sub-batches of ``cpu_forward_chunk``);
- one training step at batch 64 (forward, cross-entropy, backward; no optimizer step) on
  both paths.

Each table lists the ops with the largest self CPU time (summed over 3 runs after a warm-up),
their share of the total, calls per run, and, for the costliest shapes, the input shapes. The
profiler measures wall time: on a loaded machine read the shares, not the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig

RUNS = 3


def profile_table(fn: Callable[[], object], rows: int) -> list[str]:
    """Markdown rows of the ops with the most self CPU time while ``fn`` runs ``RUNS`` times."""
    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(RUNS):
            fn()
    by_op = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in by_op)
    out = [
        f"Total self CPU time: {total / 1e3 / RUNS:.1f} ms per run.",
        "",
        "| op | self ms / run | share | calls / run |",
        "|---|---|---|---|",
    ]
    for e in by_op[:rows]:
        out.append(
            f"| `{e.key}` | {e.self_cpu_time_total / 1e3 / RUNS:.1f} "
            f"| {e.self_cpu_time_total / total:.1%} | {e.count // RUNS} |"
        )
    by_shape = sorted(
        prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total
    )
    out += [
        "",
        "Costliest (op, input shapes):",
        "",
        "| op | input shapes | share |",
        "|---|---|---|",
    ]
    for e in by_shape[: rows // 2]:
        shapes = ", ".join(str(s) for s in e.input_shapes if s)
        out.append(f"| `{e.key}` | {shapes} | {e.self_cpu_time_total / total:.1%} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads first")
    ap.add_argument("--rows", type=int, default=15)
    ap.add_argument("--out", default="benchmarks/results/profile_ms2fenet.md")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MS2FENet(MS2FENetConfig(), 30, 16)
    chunk = model.cpu_forward_chunk or 256
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 30, 15, 15, generator=gen)
    y = torch.randint(0, 16, (64,), generator=gen)

    def infer(forward: Callable[[torch.Tensor], torch.Tensor], size: int) -> Callable[[], object]:
        def run() -> object:
            model.eval()
            with torch.inference_mode():
                return [forward(part) for part in torch.split(x, size)]

        return run

    def train(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], object]:
        def run() -> object:
            model.train()
            model.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(forward(x[:64]), y).backward()
            return None

        return run

    sections = {
        "Eval forward, 256 patches, previous path (chunks of 32)": infer(model.forward_layers, 32),
        f"Eval forward, 256 patches, pixel-major path (chunks of {chunk})": infer(model, chunk),
        "Training step (forward + backward), batch 64, previous path": train(model.forward_layers),
        "Training step (forward + backward), batch 64, pixel-major path": train(model),
    }
    lines = [
        "# MS²FENet CPU profile, op by op (torch.profiler)",
        "",
        "Command: `" + " ".join(["python", *sys.argv]) + "`",
        "",
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average at start "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}.",
    ]
    for title, fn in sections.items():
        lines += ["", f"## {title}", "", *profile_table(fn, args.rows)]
        print("\n".join(lines[-args.rows - 6 :]), flush=True)
    lines += ["", f"Load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}."]
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
