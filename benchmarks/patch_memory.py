"""Memory of on-demand patches: iterate a Pavia-University-sized scene without materialising it.

Builds a seeded random cube (610 x 340 x 103 float32), a PatchDataset over ALL 207,400 pixels
with 15 x 15 patches, and iterates it once through a DataLoader. Materialising every patch
would need 207,400 * 103 * 225 * 4 bytes (~19 GB); the dataset holds the padded cube only, so
the peak RSS should grow by about the cube's own size plus a few batches.

    python benchmarks/patch_memory.py [--batch-size 256] [--patch-size 15] [--default-collate]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import numpy as np
import psutil
import torch
from torch.utils.data import DataLoader

from mssfe.data.patches import PatchDataset
from mssfe.training.record import cpu_model

GIB = 1024**3
MIB = 1024**2


def peak_rss_bytes() -> int:
    """Peak resident set of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def print_machine() -> None:
    memory = psutil.virtual_memory()
    print(f"machine : {platform.platform()}")
    print(
        f"cpu     : {cpu_model()}, {psutil.cpu_count(logical=False)} cores "
        f"({psutil.cpu_count()} logical), torch threads {torch.get_num_threads()}"
    )
    print(f"ram     : {memory.total / GIB:.1f} GiB total, {memory.available / GIB:.1f} GiB free")
    print(
        f"versions: python {platform.python_version()}, numpy {np.__version__}, "
        f"torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=610)
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--bands", type=int, default=103)
    parser.add_argument("--patch-size", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--default-collate",
        action="store_true",
        help="use torch's default collate instead of PatchDataset.collate",
    )
    args = parser.parse_args(argv)
    print_machine()
    process = psutil.Process(os.getpid())

    cube = np.random.default_rng(args.seed).standard_normal(
        (args.height, args.width, args.bands), dtype=np.float32
    )
    n_pixels = args.height * args.width
    p = args.patch_size
    all_patches = n_pixels * args.bands * p * p * 4
    print(f"cube    : {cube.shape} float32, {cube.nbytes / MIB:.1f} MiB")
    print(f"all {n_pixels} patches materialised would need {all_patches / GIB:.1f} GiB")
    rss_before, peak_before = process.memory_info().rss, peak_rss_bytes()
    print(f"before  : rss {rss_before / MIB:.1f} MiB, peak (ru_maxrss) {peak_before / MIB:.1f} MiB")

    dataset = PatchDataset(cube, np.arange(n_pixels), np.zeros(n_pixels, dtype=np.int64), p)
    collate = None if args.default_collate else PatchDataset.collate
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(args.seed),
    )
    seen, checksum, max_rss = 0, 0.0, 0
    start = time.perf_counter()
    for patches, _ in loader:
        seen += patches.shape[0]
        checksum += float(patches[:, 0, 0, p // 2, p // 2].sum())
        max_rss = max(max_rss, process.memory_info().rss)
    elapsed = time.perf_counter() - start
    peak_after = peak_rss_bytes()
    increase = peak_after - peak_before
    print(
        f"after   : rss {process.memory_info().rss / MIB:.1f} MiB, sampled max rss "
        f"{max_rss / MIB:.1f} MiB, peak (ru_maxrss) {peak_after / MIB:.1f} MiB"
    )
    print(
        f"patches : {seen} of shape (1, {args.bands}, {p}, {p}), batch {args.batch_size}, "
        f"{'default' if args.default_collate else 'PatchDataset.collate'} collate, "
        f"checksum {checksum:.3f}"
    )
    print(
        f"peak RSS increase: {increase / MIB:.1f} MiB = {increase / cube.nbytes:.2f} x cube "
        f"(materialising: {all_patches / cube.nbytes:.0f} x cube)"
    )
    print(f"speed   : {seen / elapsed:,.0f} patches/s ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
