"""Checkpoints that survive interruption and refuse foreign or corrupt files.

Saved atomically (temporary file, fsync, rename), loaded with ``weights_only=True`` so no
pickle from an untrusted file is ever executed. RNG states travel as tensors / plain lists.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mssfe.errors import CheckpointError
from mssfe.utils.atomic import atomic_save

FORMAT = "mssfe-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    atomic_save(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(
    path: str | Path, *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; anything else is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable mssfe checkpoint (corrupt, truncated or foreign file): {reason}"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path}: field 'format': expected '{FORMAT}', got {got!r}")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: field 'format_version': expected {FORMAT_VERSION}, "
            f"got {state.get('format_version')!r}"
        )
    return state


def capture_rng_state() -> dict[str, Any]:
    """RNG states of torch, numpy and python, in a weights_only-loadable form."""
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_s = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np_s["keys"].numpy().astype(np.uint32),
            np_s["pos"],
            np_s["has_gauss"],
            np_s["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
