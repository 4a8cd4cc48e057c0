"""An exponential moving average of a network's weights (the evaluated model and SSL teacher).

Why: with a handful of labelled pixels the weights of any single step are noisy, and choosing
an epoch on one validation pixel per class is a coin toss. The average over the last steps of
a fixed schedule is a smoother model that needs no validation pixels; it also makes a steadier
teacher for pseudo-labels (a "mean teacher").
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class WeightAverage:
    """``average = d * average + (1 - d) * weights`` after every optimiser step.

    The decay warms up as ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so a
    short run (a 5-pixels-per-class split trains one step per epoch) is not dominated by its
    random initial weights. Floating-point buffers (batch-norm statistics) are averaged
    alike, integer ones copied. The average is a full copy of the model (``.model``), kept in
    eval mode; its state travels in ``last.pt`` so a resumed run continues it exactly.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model`` (the unwrapped training network)."""
        d = self.current_decay()
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            new = source[name].detach()
            if value.is_floating_point():
                value.mul_(d).add_(new.to(value.dtype), alpha=1 - d)
            else:
                value.copy_(new)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
