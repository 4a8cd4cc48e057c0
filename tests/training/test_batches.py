"""Pieces of the recipes' training loop: class-balanced epochs, loss weights, weight average."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mssfe.training.averaging import WeightAverage
from mssfe.training.batches import balanced_order
from mssfe.training.trainer import class_weights


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_balanced_epoch_gives_every_class_an_equal_share() -> None:
    targets = np.array([0] * 2 + [1] * 10 + [2] * 4)
    order = balanced_order(targets, _gen())
    assert order.numel() == targets.size
    counts = np.bincount(targets[order.numpy()], minlength=3)
    assert sorted(counts.tolist()) == [5, 5, 6]  # 16 places over 3 classes
    large = order[torch.from_numpy(targets[order.numpy()] == 1)]
    assert large.unique().numel() == large.numel()  # a large class is subsampled, not repeated
    small = order[torch.from_numpy(targets[order.numpy()] == 0)]
    assert set(small.tolist()) == {0, 1}  # a small class cycles through all its pixels
    assert torch.equal(order, balanced_order(targets, _gen()))


def test_a_balanced_epoch_of_equal_classes_is_a_permutation() -> None:
    targets = np.repeat(np.arange(6), 5)  # random:5 on a 6-class scene
    order = balanced_order(targets, _gen(3))
    assert sorted(order.tolist()) == list(range(30))


def test_loss_weights_are_inverse_to_class_counts() -> None:
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([2 / 3, 2.0, 0.0])


def test_the_weight_average_warms_up_then_follows_its_decay() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    average = WeightAverage(model, 0.99)
    assert average.current_decay() == pytest.approx(0.1)  # first update: mostly the new weights
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    model[1].num_batches_tracked.fill_(7)
    before = average.model[0].weight.clone()
    average.update(model)
    expected = 0.1 * before + 0.9 * torch.ones_like(before)
    torch.testing.assert_close(average.model[0].weight, expected)
    assert int(average.model[1].num_batches_tracked) == 7  # integer buffers are copied
    for _ in range(2000):
        average.updates += 1
    assert average.current_decay() == 0.99
    restored = WeightAverage(model, 0.99)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == average.updates
    assert torch.equal(restored.model[0].weight, average.model[0].weight)
    assert not any(p.requires_grad for p in average.model.parameters())
