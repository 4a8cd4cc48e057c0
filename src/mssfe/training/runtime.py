"""Seeds, devices, threads and precision: the run's execution environment."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from mssfe.errors import ConfigError


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; ask torch for deterministic kernels.

    ``warn_only`` keeps CUDA runs going where a kernel (e.g. avg_pool3d backward) has no
    deterministic version; on CPU every op used here is deterministic.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    name = name.lower()
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name.startswith("cuda") and not cuda:
        raise ConfigError("device 'cuda' requested but torch sees no CUDA device")
    if name == "mps" and not mps:
        raise ConfigError("device 'mps' requested but torch sees no MPS device")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ConfigError(f"unknown device '{name}': expected auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


def uses_device_data(data_on_device: str, device: torch.device) -> bool:
    """Whether training batches are cut on ``device`` (:class:`~mssfe.data.device_patches.
    DevicePatches`): ``on``/``off`` as asked, ``auto`` on a GPU (cuda, mps) only. On CPU the
    host path is the same work without the extra copy of the cube."""
    if data_on_device == "auto":
        return device.type in ("cuda", "mps")
    return data_on_device == "on"


def set_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"runtime.threads: expected >= 1, got {threads}")
        torch.set_num_threads(threads)


PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    try:
        return PRECISIONS[str(precision)]
    except KeyError:
        raise ConfigError(
            f"runtime.precision: expected one of 32, bf16, 16, got {precision!r}"
        ) from None


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Mixed precision where asked; a no-op for fp32."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        yield
        return
    if device.type == "cpu" and dtype is torch.float16:
        raise ConfigError("precision 16 needs a GPU; use bf16 on CPU")
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
