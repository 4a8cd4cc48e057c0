"""Model summaries: layer table, parameter count, FLOPs per pixel, printed summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mssfe.models import (
    count_parameters,
    create_model,
    flops_per_pixel,
    format_summary,
    layer_table,
)

INPUT = (1, 1, 30, 15, 15)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.set_num_threads(1)
    return create_model("ms2fenet", n_bands=30, n_classes=16)


def test_count_parameters_skips_frozen_ones() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert count_parameters(net) == 3 * 4 + 4 + 4 * 2 + 2
    net[0].requires_grad_(False)
    assert count_parameters(net) == 4 * 2 + 2


def test_layer_table_covers_every_parameter_and_ends_in_logits(model: nn.Module) -> None:
    rows = layer_table(model, (2, *INPUT[1:]))
    assert sum(r.n_params for r in rows) == count_parameters(model) == 371_314
    assert rows[0].name == "stem.0"
    assert rows[0].output_shape == (2, 8, 24, 13, 13)
    assert rows[-1].type == "Linear"
    assert rows[-1].output_shape == (2, 16)
    pools = [r.output_shape for r in rows if "Pool" in r.type]
    assert pools == [(2, 20, 12, 6, 6), (2, 50, 6, 2, 2), (2, 128, 3, 2, 2)]


def test_summaries_leave_the_training_mode_alone(model: nn.Module) -> None:
    model.train()
    layer_table(model, INPUT)
    assert model.training
    model.eval()
    flops_per_pixel(model, INPUT)
    assert not model.training


def test_flops_are_per_pixel_whatever_the_batch(model: nn.Module) -> None:
    flops = flops_per_pixel(model, INPUT)
    assert flops == pytest.approx(45.0e6, rel=0.01)
    assert flops_per_pixel(model, (8, *INPUT[1:])) == flops


def test_format_summary_shows_layers_and_totals(model: nn.Module) -> None:
    text = format_summary(model, INPUT)
    assert "features.2.mfc.fuses.2.conv" in text
    assert "trainable parameters: 371,314" in text
    assert "FLOPs per pixel" in text and "(45.0 M)" in text
