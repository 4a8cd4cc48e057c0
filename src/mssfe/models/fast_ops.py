"""Exact-math fast kernels for the CPU hot spots of MS²FENet.

The MFC layers are depthwise 3-D convolutions (``groups = channels``). On CPU, PyTorch's
built-in path for them is slow: the oneDNN kernels it picks for the ``NCDHW`` layout are
several times slower than for the channels-last-3d layout (``NDHWC``), and its backward
is ~10x its forward. :func:`depthwise_conv3d` computes the same function with the same
weight tensor, only faster:

- forward: ``F.conv3d(x, w, padding, groups=C)`` on a channels-last-3d copy of ``x``; the
  output is returned in the ordinary contiguous layout, so the rest of the model is
  untouched;
- backward, grad of the input: the transposed convolution of a stride-1 'same' conv is the
  conv with the spatially flipped kernel, so ``F.conv3d(grad_out, flip(w), padding,
  groups=C)`` (channels-last);
- backward, grad of the weight: PyTorch's own ``convolution_backward`` restricted to the
  weight (``output_mask = [False, True, False]``), fed channels-last tensors.

Nothing is approximated: every result is a sum of the same products as the reference, in
another order, so it equals the reference within float32 rounding (see
``tests/models/test_fast_ops.py`` for the tolerances, and a float64 ground truth). First-order
gradients only (the backward is ``once_differentiable``): training never needs more.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

Triple = tuple[int, int, int]

_CL = torch.channels_last_3d


def _check(x: torch.Tensor, weight: torch.Tensor, padding: Triple) -> None:
    if x.dim() != 5 or weight.dim() != 5:
        raise ValueError(
            f"depthwise_conv3d: expected a 5-D input and weight, got {tuple(x.shape)} and "
            f"{tuple(weight.shape)}"
        )
    c = x.shape[1]
    if weight.shape[0] != c or weight.shape[1] != 1:
        raise ValueError(
            f"depthwise_conv3d: weight must be (C, 1, kd, kh, kw) with C = {c} input channels, "
            f"got {tuple(weight.shape)}"
        )
    kernel = tuple(weight.shape[2:])
    if any(k % 2 == 0 or p != k // 2 for k, p in zip(kernel, padding, strict=True)):
        raise ValueError(
            f"depthwise_conv3d: needs odd kernels with 'same' padding (k // 2), got kernel "
            f"{kernel} and padding {tuple(padding)}"
        )


class DepthwiseConv3dFunction(torch.autograd.Function):
    """Depthwise 'same' Conv3d (stride 1, no bias, ``groups = C``) with a faster backward.

    ``apply(x, weight, padding)`` with ``x`` ``(N, C, D, H, W)``, ``weight``
    ``(C, 1, kd, kh, kw)`` (odd sizes) and ``padding = (kd // 2, kh // 2, kw // 2)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, padding: Triple) -> torch.Tensor:
        x_cl = x.contiguous(memory_format=_CL)
        ctx.save_for_backward(x_cl, weight)
        ctx.padding = tuple(padding)
        out = F.conv3d(x_cl, weight, None, 1, padding, 1, x.shape[1])
        ctx.compute_dtype = out.dtype  # bf16/fp16 under autocast
        return out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        x_saved, w_saved = ctx.saved_tensors
        padding = ctx.padding
        channels = x_saved.shape[1]
        # Under autocast the forward ran in a lower precision: so does the backward, as
        # PyTorch's own would; the gradients come back in the inputs' dtypes.
        dtype = ctx.compute_dtype
        x_cl, weight = x_saved.to(dtype), w_saved.to(dtype)
        g = grad_out.to(dtype).contiguous(memory_format=_CL)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(2, 3, 4)
            grad_x = F.conv3d(g, flipped, None, 1, padding, 1, channels)
            grad_x = grad_x.to(x_saved.dtype).contiguous()
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                g,
                x_cl,
                weight,
                None,
                [1, 1, 1],
                list(padding),
                [1, 1, 1],
                False,
                [0, 0, 0],
                channels,
                [False, True, False],
            )[1].to(w_saved.dtype)
        return grad_x, grad_w, None


def depthwise_conv3d(x: torch.Tensor, weight: torch.Tensor, padding: Triple) -> torch.Tensor:
    """``F.conv3d(x, weight, padding=padding, groups=C)`` for a depthwise 'same' conv, faster.

    Same function, same ``(C, 1, kd, kh, kw)`` weight as ``nn.Conv3d(C, C, k, padding=k // 2,
    groups=C, bias=False)``; see the module docstring for what changes (layouts and the
    backward's algorithms, not the math).
    """
    padding = (int(padding[0]), int(padding[1]), int(padding[2]))
    _check(x, weight, padding)
    out: torch.Tensor = DepthwiseConv3dFunction.apply(x, weight, padding)
    return out


class DepthwiseConv3d(nn.Conv3d):
    """``nn.Conv3d(C, C, k, padding=k // 2, groups=C, bias=False)`` run by :func:`depthwise_conv3d`.

    A drop-in for the plain module: same constructor arguments' effect, same initialisation
    (so the same seed gives the same weights), same ``weight`` parameter and state_dict, and
    still a module (forward hooks, layer tables and ``isinstance(m, nn.Conv3d)`` see it).
    """

    def __init__(self, channels: int, kernel: Triple) -> None:
        super().__init__(
            channels,
            channels,
            kernel,
            padding=(kernel[0] // 2, kernel[1] // 2, kernel[2] // 2),
            groups=channels,
            bias=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":  # the faster backward is a CPU finding; GPUs keep cuDNN's
            return super().forward(x)
        return depthwise_conv3d(x, self.weight, self.padding)  # type: ignore[arg-type]
