"""Spectral augmentation and same-class mixing of training patches."""

from __future__ import annotations

import pytest
import torch

from mssfe.data.augment import mix_same_class, spectral_augment
from mssfe.errors import DataError

N, C, P = 12, 6, 5


def _patches(seed: int = 0) -> torch.Tensor:
    return torch.randn((N, 1, C, P, P), generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_spectral_augmentation_is_deterministic_and_keeps_the_shape() -> None:
    x, scale = _patches(), torch.ones(C)
    a = spectral_augment(x, scale, 1.0, _gen())
    b = spectral_augment(x, scale, 1.0, _gen())
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, spectral_augment(x, scale, 1.0, _gen(2)))


def test_spectral_augmentation_strength_scales_the_change() -> None:
    x, scale = _patches(), torch.ones(C)
    assert spectral_augment(x, scale, 0.0, _gen()) is x  # off: nothing drawn, nothing changed
    weak = (spectral_augment(x, scale, 0.5, _gen()) - x).abs().mean()
    strong = (spectral_augment(x, scale, 2.0, _gen()) - x).abs().mean()
    assert 0 < weak < strong


def test_offsets_and_noise_follow_each_band_scale() -> None:
    """A band with no spread over the scene gets no offset and no noise, only gains."""
    x = torch.zeros((N, 1, C, P, P))
    scale = torch.ones(C)
    scale[2] = 0.0
    out = spectral_augment(x, scale, 1.0, _gen())
    assert torch.all(out[:, :, 2] == 0)  # zero signal times any gain, plus nothing
    assert torch.all(out[:, :, 3].abs().sum((1, 2, 3)) > 0)


def test_spectral_augmentation_checks_its_inputs() -> None:
    with pytest.raises(DataError, match="band_scale"):
        spectral_augment(_patches(), torch.ones(C + 1), 1.0, _gen())
    with pytest.raises(DataError, match=r"\(N, 1, C, p, p\)"):
        spectral_augment(torch.zeros(3, C, P, P), torch.ones(C), 1.0, _gen())


def test_mixing_blends_only_patches_of_the_same_class() -> None:
    """Class 0 patches are 0 or 1, class 1 patches 10: a mix stays in its class's range."""
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2])
    x = torch.zeros((9, 1, C, P, P))
    x[[1, 3]] = 1.0
    x[4:8] = 10.0
    x[8] = -5.0  # the only patch of class 2: nobody to mix with
    out = mix_same_class(x, y, 1.0, _gen())
    assert torch.all((out[:4] >= 0) & (out[:4] <= 1))
    assert not torch.equal(out[:4], x[:4])  # some pairs of 0 and 1 blended
    assert torch.all(out[4:8] == 10.0)
    assert torch.all(out[8] == -5.0)
    own_share = 1 - (out[:4] - x[:4]).abs().amax((1, 2, 3, 4))
    assert torch.all(own_share >= 0.5)  # the patch's own spectrum stays the larger part


def test_mixing_share_zero_changes_nothing() -> None:
    x = _patches()
    assert mix_same_class(x, torch.zeros(N, dtype=torch.long), 0.0, _gen()) is x
