"""The fast depthwise Conv3d equals F.conv3d and its autograd, alone and inside MS2FENet.

Tolerances: the forward and grad_input are the same products summed in another order
(float32, <= 9 * 5 taps per output): compared at rtol 1e-5 of the largest value. The weight
gradient sums N * D * H * W products per tap (up to ~10^5 here): compared at 1e-5 of the
largest value, and checked against a float64 ground truth to be no less accurate than
PyTorch's own backward. gradcheck runs in float64 on tiny inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mssfe.models.fast_ops import DepthwiseConv3d, DepthwiseConv3dFunction, depthwise_conv3d
from mssfe.models.ms2fenet import MS2FENet, MS2FENetConfig


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|: the error relative to the tensor's scale."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _reference(x: torch.Tensor, w: torch.Tensor, pad: tuple[int, int, int], go: torch.Tensor):
    x = x.detach().requires_grad_()
    w = w.detach().requires_grad_()
    out = F.conv3d(x, w, padding=pad, groups=x.shape[1])
    gx, gw = torch.autograd.grad(out, (x, w), go)
    return out.detach(), gx, gw


def _fast(x: torch.Tensor, w: torch.Tensor, pad: tuple[int, int, int], go: torch.Tensor):
    x = x.detach().requires_grad_()
    w = w.detach().requires_grad_()
    out = depthwise_conv3d(x, w, pad)
    gx, gw = torch.autograd.grad(out, (x, w), go)
    return out.detach(), gx, gw


CASES = [
    # (batch, channels, depth, height, width, kernel)
    (2, 1, 5, 4, 4, (3, 3, 3)),
    (4, 3, 9, 7, 6, (5, 3, 3)),
    (8, 8, 24, 13, 13, (5, 3, 3)),
    (3, 14, 6, 2, 2, (3, 3, 3)),
    (5, 6, 7, 5, 5, (1, 3, 3)),
    (2, 5, 8, 6, 6, (7, 1, 5)),
    (16, 20, 12, 6, 6, (5, 3, 3)),
]


@pytest.mark.parametrize(("n", "c", "d", "h", "w", "kernel"), CASES)
def test_forward_and_backward_match_conv3d(n, c, d, h, w, kernel):
    gen = torch.Generator().manual_seed(n * 100 + c)
    pad = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
    x = torch.randn(n, c, d, h, w, generator=gen)
    weight = torch.randn(c, 1, *kernel, generator=gen)
    go = torch.randn(n, c, d, h, w, generator=gen)
    ref = _reference(x, weight, pad, go)
    fast = _fast(x, weight, pad, go)
    for name, a, b in zip(("output", "grad_input", "grad_weight"), fast, ref, strict=True):
        assert a.shape == b.shape, name
        assert a.dtype == b.dtype, name
        assert a.is_contiguous(), name
        assert _max_rel(a, b) < 1e-5, (name, _max_rel(a, b))


def test_weight_grad_as_accurate_as_pytorch_float64_truth():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(32, 6, 24, 13, 13, generator=gen)
    weight = torch.randn(6, 1, 5, 3, 3, generator=gen)
    go = torch.randn(32, 6, 24, 13, 13, generator=gen)
    pad = (2, 1, 1)
    truth = _reference(x.double(), weight.double(), pad, go.double())
    ref = _reference(x, weight, pad, go)
    fast = _fast(x, weight, pad, go)
    for i in range(3):
        err_fast = _max_rel(fast[i].double(), truth[i])
        err_ref = _max_rel(ref[i].double(), truth[i])
        assert err_fast < 1e-5
        assert err_fast <= 4 * err_ref + 1e-7  # same order as PyTorch's own rounding


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(3, 1, 3, 3, 1, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: DepthwiseConv3dFunction.apply(a, b, (1, 1, 0)), (x, w)
    )


def test_only_requested_grads_and_non_contiguous_input():
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(3, 10, 6, 5, 5, generator=gen)
    x = base[:, 2:6]  # a channel slice: not contiguous, like torch.split in the MFC
    weight = torch.randn(4, 1, 3, 3, 3, generator=gen, requires_grad=True)
    out = depthwise_conv3d(x, weight, (1, 1, 1))
    torch.testing.assert_close(out, F.conv3d(x, weight, padding=1, groups=4))
    out.sum().backward()
    assert weight.grad is not None and x.grad is None


def test_rejects_non_depthwise_or_non_same():
    x = torch.randn(1, 4, 5, 5, 5)
    with pytest.raises(ValueError, match="weight must be"):
        depthwise_conv3d(x, torch.randn(4, 2, 3, 3, 3), (1, 1, 1))
    with pytest.raises(ValueError, match="'same' padding"):
        depthwise_conv3d(x, torch.randn(4, 1, 3, 3, 3), (0, 1, 1))
    with pytest.raises(ValueError, match="odd kernels"):
        depthwise_conv3d(x, torch.randn(4, 1, 2, 3, 3), (1, 1, 1))


def _pair(**kwargs) -> tuple[MS2FENet, MS2FENet]:
    torch.manual_seed(0)
    ref = MS2FENet(MS2FENetConfig(fast_depthwise=False, **kwargs), 30, 16)
    fast = MS2FENet(MS2FENetConfig(fast_depthwise=True, **kwargs), 30, 16)
    fast.load_state_dict(ref.state_dict())  # same layout: checkpoints are interchangeable
    return ref, fast


def test_default_is_fast_and_parameters_unchanged():
    assert MS2FENetConfig().fast_depthwise is True
    ref, fast = _pair()
    count = sum(p.numel() for p in fast.parameters() if p.requires_grad)
    assert count == sum(p.numel() for p in ref.parameters()) == 371_314
    assert list(ref.state_dict()) == list(fast.state_dict())
    torch.manual_seed(0)
    again = MS2FENet(MS2FENetConfig(fast_depthwise=True), 30, 16)
    for a, b in zip(ref.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)  # same initialisation for the same seed
    convs = [m for m in fast.modules() if isinstance(m, DepthwiseConv3d)]
    assert len(convs) == 12 and all(isinstance(m, nn.Conv3d) for m in convs)


@pytest.mark.parametrize("kwargs", [{}, {"partitions": 2, "hierarchical": False}])
def test_full_model_same_logits_and_parameter_gradients(kwargs):
    ref, fast = _pair(**kwargs)
    truth = MS2FENet(MS2FENetConfig(fast_depthwise=False, **kwargs), 30, 16).double()
    truth.load_state_dict(ref.state_dict())
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 1, 30, 15, 15, generator=gen)
    y = torch.randint(0, 16, (12,), generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    logits = {}
    for name, model in (("ref", ref), ("fast", fast), ("truth", truth)):
        model.train()
        out = model(x.to(next(model.parameters()).dtype))
        loss_fn(out, y).backward()
        logits[name] = out.detach()
    assert _max_rel(logits["fast"], logits["ref"]) < 1e-5
    # Gradients are compared with a float64 run of the authors' layers: the float32 reference
    # is itself off by up to ~1e-5 of the largest entry (stem.0.weight sums ~10^5 products,
    # and its rounding depends on the thread count). Each gradient of the fast path is within
    # 1e-5 of its own largest entry, except the stem's bias: it feeds a BatchNorm, its true
    # gradient is 0 and both versions return rounding noise, held to 1e-6 of the model's
    # largest gradient.
    scale = max(float(p.grad.abs().max()) for p in truth.parameters())
    for (name, p_true), (_, p_fast) in zip(
        truth.named_parameters(), fast.named_parameters(), strict=True
    ):
        err = float((p_fast.grad.double() - p_true.grad).abs().max())
        if name == "stem.0.bias":
            assert err <= 1e-6 * scale, name
        else:
            assert err <= 1e-5 * float(p_true.grad.abs().max()), name
    ref.eval()
    fast.eval()
    with torch.inference_mode():
        assert _max_rel(fast(x), ref(x)) < 1e-5


def test_full_depthwise_false_ignores_fast_switch():
    ref, fast = _pair(depthwise=False, kernels=((3, 3, 3), (3, 3, 3), (3, 3, 3)))
    x = torch.randn(3, 1, 30, 15, 15)
    ref.eval()
    fast.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), ref(x))


def test_predict_dataset_sub_batches_give_the_same_outputs():
    from mssfe.data.patches import PatchDataset
    from mssfe.training.inference import predict_dataset

    ref, fast = _pair()
    assert fast.cpu_forward_chunk == 128 and ref.cpu_forward_chunk is None
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((12, 10, 30)).astype(np.float32)
    ds = PatchDataset(cube, np.arange(70), None, 15)
    cpu = torch.device("cpu")
    pred_whole, prob_whole = predict_dataset(fast, ds, cpu, batch_size=50, forward_chunk=50)
    # chunks of 16, 16, 16 and 2 (the model's own chunk, 128, would take the batch whole)
    pred_chunked, prob_chunked = predict_dataset(fast, ds, cpu, batch_size=50, forward_chunk=16)
    pred_ref, prob_ref = predict_dataset(ref, ds, cpu, batch_size=50)
    np.testing.assert_allclose(prob_chunked, prob_whole, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(prob_chunked, prob_ref, rtol=1e-5, atol=1e-7)
    assert prob_chunked.shape == (70, 16)
    assert (pred_chunked == pred_whole).all() and (pred_chunked == pred_ref).all()


def test_bf16_autocast_forward_and_backward_match():
    ref, fast = _pair()
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 1, 30, 15, 15, generator=gen)
    y = torch.randint(0, 16, (6,), generator=gen)
    outs = []
    for model in (ref, fast):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
            loss = nn.functional.cross_entropy(out.float(), y)
        loss.backward()
        outs.append(out.detach().float())
    assert _max_rel(outs[1], outs[0]) < 1e-2  # bf16 has 8 bits of mantissa
    for (name, p_ref), (_, p_fast) in zip(
        ref.named_parameters(), fast.named_parameters(), strict=True
    ):
        assert p_fast.grad.dtype == p_ref.grad.dtype == torch.float32, name
        if "convs" in name:
            assert _max_rel(p_fast.grad, p_ref.grad) < 2e-2, name
