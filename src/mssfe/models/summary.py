"""Model summaries: a per-layer table, the trainable parameter count and FLOPs per pixel.

Used by ``mssfe info MODEL --scene S`` and by the reports, so that every result table can state
a model's size and cost. FLOPs come from ``torch.utils.flop_counter`` (convolutions and matrix
products; normalisation, pooling and activations are not counted), on one patch, i.e. the cost
of classifying one pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class LayerRow:
    """One call of a leaf module during a forward pass."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    n_params: int  # trainable parameters owned by this module (counted on its first call)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _example_input(model: nn.Module, input_shape: Sequence[int], batch: int | None) -> torch.Tensor:
    """Random input of ``input_shape`` (``(N, 1, B, H, W)``) on the model's device and dtype."""
    shape = list(input_shape)
    if batch is not None:
        shape[0] = batch
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None else torch.float32
    return torch.randn(shape, device=device, dtype=dtype)


def _run_eval(model: nn.Module, x: torch.Tensor) -> None:
    """One forward pass in eval mode without gradients; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)


def layer_table(model: nn.Module, input_shape: Sequence[int]) -> list[LayerRow]:
    """Rows for every leaf-module call, in execution order, for an input ``(N, 1, B, H, W)``."""
    rows: list[LayerRow] = []
    seen: set[int] = set()

    def hook_for(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, _inputs: object, output: object) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            first_call = id(module) not in seen
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
            rows.append(LayerRow(name, type(module).__name__, shape, params if first_call else 0))

        return hook

    leaves = [(n, m) for n, m in model.named_modules() if n and not any(m.children())]
    handles = [m.register_forward_hook(hook_for(n)) for n, m in leaves]
    try:
        _run_eval(model, _example_input(model, input_shape, None))
    finally:
        for handle in handles:
            handle.remove()
    return rows


def flops_per_pixel(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass on a batch of one patch ``(1, 1, B, H, W)``."""
    x = _example_input(model, input_shape, batch=1)
    counter = FlopCounterMode(display=False)
    with counter:
        _run_eval(model, x)
    return int(counter.get_total_flops())


def format_summary(model: nn.Module, input_shape: Sequence[int]) -> str:
    """A readable table of layers, output shapes and parameters, with totals."""
    rows = layer_table(model, input_shape)
    header = ("layer", "type", "output shape", "params")
    body = [(r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.n_params:,}") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]

    def line(cells: Sequence[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*left, cells[-1].rjust(widths[-1])])

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    total = sum(p.numel() for p in model.parameters())
    trainable = count_parameters(model)
    flops = flops_per_pixel(model, input_shape)
    shape = "x".join(map(str, input_shape))
    lines = [f"{type(model).__name__}  input {shape}", rule, line(header), rule]
    lines += [line(r) for r in body]
    lines += [
        rule,
        f"trainable parameters: {trainable:,}",
        f"non-trainable parameters: {total - trainable:,}",
        f"FLOPs per pixel: {flops:,} ({flops / 1e6:.1f} M)",
    ]
    return "\n".join(lines)
