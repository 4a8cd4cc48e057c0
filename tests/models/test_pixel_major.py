"""The pixel-major CPU path computes the authors' MS²FENet: kernels alone, then the model.

Each kernel is checked against the PyTorch op it replaces (forward and gradients, float32 at
rtol ~1e-5 of the largest value; gradcheck in float64). The model is checked against the
authors' layers (``fast_depthwise=False``): logits in train and eval mode, every gradient
against a float64 run, BatchNorm running statistics, the state_dict, FLOPs and determinism.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mssfe.models import flops_per_pixel, layer_table
from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig
from mssfe.models.pixel_major import (
    batch_norm_mode,
    block_size,
    conv_view,
    from_conv_view,
    pixel_adaptive_avg_pool3d,
    pixel_avg_pool3d,
    pixel_batch_norm,
    pixel_depthwise_conv3d,
    pixel_linear,
    to_pixel_major,
)

INPUT = (1, 30, 15, 15)


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _from_pixel_major(t: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, D, C, G)`` -> ``(N, C, D, H, W)``."""
    b, h, w, d, c, g = t.shape
    return t.permute(0, 5, 4, 3, 1, 2).reshape(b * g, c, d, h, w)


# ---------------------------------------------------------------------------------------------
# Layout


@pytest.mark.parametrize(("n", "blocks"), [(32, 2), (16, 1), (20, 1), (1, 1)])
def test_layout_round_trip_and_blocks(n: int, blocks: int) -> None:
    x = torch.randn(n, 3, 4, 5, 6)
    pm = to_pixel_major(x)
    assert pm.shape == (blocks, 5, 6, 4, 3, n // blocks) and pm.is_contiguous()
    assert block_size(n) == n // blocks
    torch.testing.assert_close(_from_pixel_major(pm), x, rtol=0, atol=0)
    view = conv_view(pm)
    assert view.is_contiguous(memory_format=torch.channels_last_3d)
    assert view.data_ptr() == pm.data_ptr()
    assert torch.equal(from_conv_view(view, 3), pm)


# ---------------------------------------------------------------------------------------------
# Depthwise conv

DW_CASES = [
    # (batch, channels, depth, height, width, kernel, padding)
    (32, 8, 24, 13, 13, (5, 3, 3), (2, 1, 1)),  # module 1, two blocks of 16
    (6, 14, 6, 2, 2, (3, 3, 3), (1, 1, 1)),  # module 3: maps narrower than the kernel
    (20, 5, 12, 6, 6, (5, 3, 3), (2, 1, 1)),  # batch not a multiple of 16: one block
    (16, 8, 30, 15, 15, (7, 3, 3), (0, 0, 0)),  # the stem: no padding
    (3, 2, 7, 5, 4, (1, 3, 5), (0, 1, 2)),
]


@pytest.mark.parametrize(("n", "c", "d", "h", "w", "kernel", "padding"), DW_CASES)
def test_depthwise_matches_conv3d(n, c, d, h, w, kernel, padding) -> None:
    gen = torch.Generator().manual_seed(n + c)
    x = torch.randn(n, c, d, h, w, generator=gen, requires_grad=True)
    weight = torch.randn(c, 1, *kernel, generator=gen, requires_grad=True)
    bias = torch.randn(c, generator=gen, requires_grad=True)
    ref = F.conv3d(x, weight, bias, padding=padding, groups=c)
    grad = torch.randn(ref.shape, generator=gen)
    ref_grads = torch.autograd.grad(ref, (x, weight, bias), grad)
    pm = to_pixel_major(x.detach()).requires_grad_()
    out = pixel_depthwise_conv3d(pm, weight, bias, padding)
    assert out.shape[1:5] == (ref.shape[3], ref.shape[4], ref.shape[2], c)
    assert _max_rel(_from_pixel_major(out), ref) < 1e-5
    got = torch.autograd.grad(out, (pm, weight, bias), to_pixel_major(grad))
    assert _max_rel(_from_pixel_major(got[0]), ref_grads[0]) < 1e-5
    assert _max_rel(got[1], ref_grads[1]) < 1e-5
    assert _max_rel(got[2], ref_grads[2]) < 1e-5


def test_depthwise_gradcheck_float64() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 2, 3, 2, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, 1, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, k, c: pixel_depthwise_conv3d(a, k, c, (1, 1, 0)), (x, w, b)
    )


# ---------------------------------------------------------------------------------------------
# Per-pixel linear map


def test_pixel_linear_matches_einsum_and_gradcheck() -> None:
    gen = torch.Generator().manual_seed(4)
    u = torch.randn(7, 12, 16, generator=gen, requires_grad=True)
    w = torch.randn(10, 12, generator=gen, requires_grad=True)
    b = torch.randn(10, generator=gen, requires_grad=True)
    ref = torch.einsum("ok,pkn->pon", w, u) + b.view(1, -1, 1)
    out = pixel_linear(u, w, b)
    assert _max_rel(out, ref) < 1e-6
    grad = torch.randn(ref.shape, generator=gen)
    for a, r in zip(
        torch.autograd.grad(out, (u, w, b), grad),
        torch.autograd.grad(ref, (u, w, b), grad),
        strict=True,
    ):
        assert _max_rel(a, r) < 1e-5
    args = (
        u.double().detach().requires_grad_(),
        w.double().detach().requires_grad_(),
        b.double().detach().requires_grad_(),
    )
    assert torch.autograd.gradcheck(pixel_linear, args)


# ---------------------------------------------------------------------------------------------
# Pooling and BatchNorm


@pytest.mark.parametrize("n", [32, 5])
def test_pools_match_pytorch(n: int) -> None:
    x = torch.randn(n, 6, 24, 13, 13, requires_grad=True)
    pm = to_pixel_major(x)
    ref = F.avg_pool3d(x, (2, 3, 3), (2, 2, 2))
    got = _from_pixel_major(pixel_avg_pool3d(pm, (2, 3, 3), (2, 2, 2)))
    assert _max_rel(got, ref) < 1e-6
    grad = torch.randn(ref.shape)
    assert (
        _max_rel(torch.autograd.grad(got, x, grad)[0], torch.autograd.grad(ref, x, grad)[0]) < 1e-6
    )
    small = torch.randn(n, 6, 7, 2, 3)
    ref = F.adaptive_avg_pool3d(small, (3, 2, 2))
    got = _from_pixel_major(pixel_adaptive_avg_pool3d(to_pixel_major(small), (3, 2, 2)))
    assert _max_rel(got, ref) < 1e-6


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_in_pieces_equals_batch_norm_of_the_whole(training: bool) -> None:
    torch.manual_seed(0)
    whole, pieces = nn.BatchNorm3d(7), nn.BatchNorm3d(7)
    with torch.no_grad():
        whole.weight.uniform_(0.5, 1.5)
        whole.bias.normal_()
        whole.running_mean.normal_()
        whole.running_var.uniform_(0.5, 2.0)
    pieces.load_state_dict(whole.state_dict())
    whole.train(training)
    pieces.train(training)
    x = torch.randn(32, 7, 6, 5, 4)
    ref = whole(x)
    pm = to_pixel_major(x)
    mode = batch_norm_mode(pieces)
    outs = [
        pixel_batch_norm(part, pieces, start, mode)
        for part, start in ((pm[..., :3, :], 0), (pm[..., 3:, :], 3))
    ]
    got = _from_pixel_major(torch.cat(outs, dim=4))
    assert _max_rel(got, ref) < 1e-5
    for name, buffer in whole.named_buffers():
        torch.testing.assert_close(dict(pieces.named_buffers())[name], buffer, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# The model


def _pair(**kwargs: object) -> tuple[MS2FENet, MS2FENet]:
    """The authors' layers and the default (pixel-major) model with the same weights."""
    torch.manual_seed(0)
    ref = MS2FENet(MS2FENetConfig(fast_depthwise=False, **kwargs), 30, 16)  # type: ignore[arg-type]
    fast = MS2FENet(MS2FENetConfig(**kwargs), 30, 16)  # type: ignore[arg-type]
    fast.load_state_dict(ref.state_dict())
    with torch.no_grad():  # BatchNorm statistics away from their initial 0 / 1
        for a, b in zip(ref.modules(), fast.modules(), strict=True):
            if isinstance(a, nn.BatchNorm3d):
                for t in (a, b):
                    t.running_mean.copy_(torch.linspace(-0.2, 0.2, a.num_features))
                    t.running_var.copy_(torch.linspace(0.5, 2.0, a.num_features))
                    t.weight.copy_(torch.linspace(0.7, 1.3, a.num_features))
    return ref, fast


CONFIGS = [
    {},
    {"partitions": 1},
    {"partitions": 2, "hierarchical": False},
    {"partitions": 8},
    {"fusion": False},
    {"fusion": False, "hierarchical": False},
]


@pytest.mark.parametrize(
    ("kwargs", "batch"), [*itertools.product(CONFIGS[:1], (32, 6)), *((k, 16) for k in CONFIGS[1:])]
)
def test_same_logits_gradients_and_statistics_as_the_authors_layers(
    kwargs: dict, batch: int
) -> None:
    ref, fast = _pair(**kwargs)
    truth = MS2FENet(MS2FENetConfig(fast_depthwise=False, **kwargs), 30, 16).double()  # type: ignore[arg-type]
    truth.load_state_dict(ref.state_dict())
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, *INPUT, generator=gen)
    y = torch.randint(0, 16, (batch,), generator=gen)
    logits = {}
    for name, model in (("ref", ref), ("fast", fast), ("truth", truth)):
        model.train()
        out = model(x.to(next(model.parameters()).dtype))
        F.cross_entropy(out, y).backward()
        logits[name] = out.detach().float()
    assert fast._runs_pixel_major(x)
    assert _max_rel(logits["fast"], logits["ref"]) < 1e-5
    # Gradients against float64: each within 1e-5 of its own largest entry, or of 1e-3 of
    # the model's largest gradient for those that are ~0 (BatchNorm-fed biases, and some
    # BatchNorm weights when a layer's output is symmetric).
    scale = max(float(p.grad.abs().max()) for p in truth.parameters())
    for (name, p_true), (_, p_fast) in zip(
        truth.named_parameters(), fast.named_parameters(), strict=True
    ):
        err = float((p_fast.grad.double() - p_true.grad).abs().max())
        assert err <= 1e-5 * float(p_true.grad.abs().max()) + 1e-6 * scale, name
    for (name, b_ref), (_, b_fast) in zip(ref.named_buffers(), fast.named_buffers(), strict=True):
        torch.testing.assert_close(b_fast, b_ref, rtol=1e-5, atol=1e-6, msg=name)
    ref.eval()
    fast.eval()
    with torch.inference_mode():
        assert _max_rel(fast(x), ref(x)) < 1e-5


def test_state_dict_is_the_authors_and_eval_leaves_it_untouched() -> None:
    ref, fast = _pair()
    assert {k: v.shape for k, v in fast.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    before = {k: v.clone() for k, v in fast.state_dict().items()}
    fast.eval()
    with torch.inference_mode():
        fast(torch.randn(4, *INPUT))  # the BatchNorm fold must not write into the modules
    for key, value in fast.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_hooks_autocast_and_other_dtypes_take_the_layer_path() -> None:
    _, fast = _pair()
    x = torch.randn(2, *INPUT)
    assert fast._runs_pixel_major(x) and fast._runs_pixel_major(x.double())
    assert not fast._runs_pixel_major(x.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fast._runs_pixel_major(x)
    handle = fast.features[0].register_forward_hook(lambda *_: None)
    assert not fast._runs_pixel_major(x)
    handle.remove()
    rows = layer_table(fast, (2, *INPUT))  # registers hooks: every layer is seen
    assert sum(r.n_params for r in rows) == 371_314


class _SyncedBatchNorm(nn.BatchNorm3d):
    """Stands in for the distributed trainer's BatchNorm, whose forward reduces over ranks."""


def test_a_replaced_batch_norm_takes_the_layer_path() -> None:
    """The pixel-major path calls the BatchNorm function itself: a BatchNorm subclass (the
    distributed trainer's synchronised one) must keep running its own forward."""
    _, fast = _pair()
    x = torch.randn(2, *INPUT)
    assert fast._runs_pixel_major(x)
    module = fast.features[1]
    synced = _SyncedBatchNorm(module.bn.num_features)
    synced.load_state_dict(module.bn.state_dict())
    module.bn = synced
    assert not fast._runs_pixel_major(x)


def test_flops_per_pixel_are_the_authors() -> None:
    ref, fast = _pair()
    shape = (1, *INPUT)
    assert (
        flops_per_pixel(fast, shape)
        == flops_per_pixel(ref, shape)
        == pytest.approx(45.0e6, rel=0.01)
    )
    assert flops_per_pixel(fast, (32, *INPUT)) == flops_per_pixel(ref, shape)


def test_float64_model_matches() -> None:
    ref, fast = _pair()
    ref.double().eval()
    fast.double().eval()
    x = torch.randn(3, *INPUT, dtype=torch.float64)
    with torch.no_grad():
        assert _max_rel(fast(x), ref(x)) < 1e-12


def _train_steps(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = MS2FENet(MS2FENetConfig(), 30, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(2):
        x = torch.randn(16, *INPUT, generator=gen)
        y = torch.randint(0, 16, (16,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_is_deterministic_under_deterministic_algorithms() -> None:
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first, second = _train_steps(5), _train_steps(5)
    finally:
        torch.use_deterministic_algorithms(previous)
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


def test_eval_mode_with_autograd_on_matches_and_backpropagates() -> None:
    """Eval mode folds BatchNorms into convs and ReLUs their outputs in place: that must not
    trip autograd's view checks when gradients are on (e.g. saliency in eval mode)."""
    ref, fast = _pair()
    ref.eval()
    fast.eval()
    x = torch.randn(16, *INPUT, requires_grad=True)
    out = fast(x)
    assert _max_rel(out, ref(x)) < 1e-5
    (grad,) = torch.autograd.grad(out.sum(), x)
    (ref_grad,) = torch.autograd.grad(ref(x).sum(), x)
    assert _max_rel(grad, ref_grad) < 1e-5
