"""Pixel-major CPU kernels for MS²FENet: one memory layout from the stem to the head.

The authors' layers keep activations as ``(N, C, D, H, W)``; on CPU that costs a third of
the inference time in memory traffic (partition ``cat``, ``NCDHW <-> NDHWC`` copies around
every depthwise conv, a copy inside ``avg_pool3d``), and oneDNN's depthwise kernels for the
MFC's 2-8 channels per partition waste most of their vector lanes. Here every activation is
a contiguous ``(B, H, W, D, C, G)`` tensor: ``N = B * G`` samples in blocks of ``G = 16``,
pixel outermost, the block's samples innermost. In that layout

- a depthwise 3-D conv is one oneDNN channels-last conv over ``C * G`` "channels" (the
  weight repeated per sample): every lane busy, no layout copy;
- the MFC's Fuse (a 1x1 conv over ``C * D`` maps) is, at each pixel, the matrix product
  ``W (C'D, CD) @ X_p (CD, G)``: one batched GEMM over the pixels, no reshaping copy;
- BatchNorm sees ``(B*H*W*D, C, G)``, pooling sees channels-last 2-D views: no copies either.

The weights stay the modules' own tensors (same ``state_dict``); only their index order is
permuted on the fly, a few KB per call. Autograd: the convolutions and the per-pixel GEMM
have hand-written backwards (see :func:`pixel_depthwise_conv3d`, :func:`pixel_stem_conv3d`,
:func:`pixel_linear`); everything else is differentiated by PyTorch. ``docs/speed.md`` has
the measurements.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from mssfe.models.blocks import SpectralFuse, Triple

_convolution_backward = torch.ops.aten.convolution_backward


# ---------------------------------------------------------------------------------------------
# Layout

#: Samples per block: the innermost dimension, one AVX-512 vector of float32. Convs then see
#: ``C * 16`` channels per block (all of a pixel's channels stay in L2), GEMMs 16 columns.
BLOCK = 16


def block_size(samples: int) -> int:
    """Samples per block for a batch of ``samples``: :data:`BLOCK` when it divides the batch,
    else the whole batch in one block."""
    return BLOCK if samples % BLOCK == 0 else samples


def to_pixel_major(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, D, H, W)`` -> contiguous ``(B, H, W, D, C, G)`` with ``N = B * G`` (one copy)."""
    n, c, d, h, w = x.shape
    g = block_size(n)
    return x.reshape(n // g, g, c, d, h, w).permute(0, 4, 5, 3, 2, 1).contiguous()


def conv_view(t: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, D, C, G)`` -> the same memory as a channels-last-3d ``(B, C*G, H, W, D)``."""
    b, h, w, d, c, g = t.shape
    return t.view(b, h, w, d, c * g).permute(0, 4, 1, 2, 3)


def from_conv_view(y: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of :func:`conv_view`: ``(B, C*G, H, W, D)`` -> contiguous ``(B, H, W, D, C, G)``,
    free for a channels-last-3d ``y`` (a copy otherwise, e.g. float64 convs)."""
    b, cg, h, w, d = y.shape
    return y.permute(0, 2, 3, 4, 1).contiguous().view(b, h, w, d, channels, cg // channels)


def flatten_samples(z: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, D, C, G)`` -> ``(H*W*D*C, N)``: each column one sample's features."""
    b, h, w, d, c, g = z.shape
    return z.permute(1, 2, 3, 4, 0, 5).reshape(h * w * d * c, b * g)


# ---------------------------------------------------------------------------------------------
# Depthwise 3-D convolution


def _per_sample_weight(weight: torch.Tensor, samples: int) -> torch.Tensor:
    """``(C, 1, kd, kh, kw)`` -> ``(C*G, 1, kh, kw, kd)``: one copy per sample, (H, W, D) order."""
    return weight.permute(0, 1, 3, 4, 2).repeat_interleave(samples, dim=0)


def _hwd(padding: Triple) -> tuple[int, int, int]:
    return (padding[1], padding[2], padding[0])


def _pad_copy(out: torch.Tensor, x: torch.Tensor, start: Triple) -> None:
    """Copy ``x`` ``(B, H, W, D, C, G)`` into ``out`` at offsets ``start`` along (H, W, D) and
    zero the rest of ``out``: each element written once (a zero-filled buffer plus a copy
    writes the interior twice)."""
    inner = out
    for dim, (lo, size) in enumerate(zip(start, x.shape[1:4], strict=True), start=1):
        inner.narrow(dim, 0, lo).zero_()
        inner.narrow(dim, lo + size, inner.shape[dim] - lo - size).zero_()
        inner = inner.narrow(dim, lo, size)
    inner.copy_(x)


def _depthwise_weight_grad(
    grad: torch.Tensor, x: torch.Tensor, kernel: Triple, padding: Triple
) -> torch.Tensor:
    """Weight gradient ``(C, 1, kd, kh, kw)`` of :func:`pixel_depthwise_conv3d`.

    oneDNN has no depthwise kernel for the 3-D weight gradient (it runs its generic grouped
    conv, which pads every 1-channel group to 16: ~2 GFLOP/s here), but a fast one for 2-D.
    So the spectral taps are peeled off: for tap ``kd`` the gradient is the 2-D (H, W)
    depthwise weight gradient over ``D * C * G`` channels between ``grad`` and the input
    shifted by ``kd`` along D. The input is copied once, zero-padded in H, W and D (the 2-D
    kernel also falls back to the slow path when it has to pad a 2-pixel-wide map itself);
    the shift is then a storage offset (channel ``(d, c, g)`` of the view is
    ``x_pad[.., d + kd, c, g]``), and ``grad`` is zero-padded to the same depth so that reads
    past a pixel's last band are multiplied by 0.
    """
    b, h, w, d, c, g = x.shape
    h2, w2 = grad.shape[1:3]
    kd, kh, kw = kernel
    pd, ph, pw = padding
    hp, wp, dp = h + 2 * ph, w + 2 * pw, d + 2 * pd  # dp = d2 + kd - 1
    cg = c * g
    channels = dp * cg
    x_pad = x.new_empty(b * hp * wp * channels + (kd - 1) * cg)
    _pad_copy(x_pad[: b * hp * wp * channels].view(b, hp, wp, dp, c, g), x, (ph, pw, pd))
    x_pad[b * hp * wp * channels :].zero_()
    g_pad = grad.new_empty(b, h2, w2, dp, c, g)
    _pad_copy(g_pad, grad, (0, 0, 0))
    g_view = g_pad.view(b, h2, w2, channels).permute(0, 3, 1, 2)
    shape = grad.new_zeros(1).expand(channels, 1, kh, kw)  # read for its sizes only
    strides = (hp * wp * channels, 1, wp * channels, channels)
    taps = []
    for k in range(kd):
        x_view = x_pad.as_strided((b, channels, hp, wp), strides, k * cg)
        grad_2d = _convolution_backward(
            g_view,
            x_view,
            shape,
            None,
            [1, 1],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            channels,
            [False, True, False],
        )[1]
        taps.append(grad_2d.view(dp, c, g, kh, kw).sum((0, 2)))
    return torch.stack(taps, dim=1).unsqueeze(1)


class _PixelDepthwise(torch.autograd.Function):
    """Depthwise 3-D conv on pixel-major tensors; see :func:`pixel_depthwise_conv3d`."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: Triple
    ) -> torch.Tensor:
        c, g = x.shape[4:]
        per_sample_bias = None if bias is None else bias.repeat_interleave(g)
        y = F.conv3d(
            conv_view(x), _per_sample_weight(weight, g), per_sample_bias, 1, _hwd(padding), 1, c * g
        )
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return from_conv_view(y, c).detach()  # not a view: callers may ReLU it in place

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        x, weight = ctx.saved_tensors
        padding = ctx.padding
        kd, kh, kw = weight.shape[2:]
        kernel = (kd, kh, kw)
        c, g = x.shape[4:]
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # stride 1: the transposed conv is the conv with the flipped kernel, padding k-1-p
            full = (kd - 1 - padding[0], kh - 1 - padding[1], kw - 1 - padding[2])
            flipped = _per_sample_weight(weight.flip(2, 3, 4), g)
            grad_x = F.conv3d(conv_view(grad), flipped, None, 1, _hwd(full), 1, c * g)
            grad_x = from_conv_view(grad_x, c)
        if ctx.needs_input_grad[1]:
            grad_w = _depthwise_weight_grad(grad, x, kernel, padding)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 1, 2, 3, 5))
        return grad_x, grad_w, grad_b, None


def pixel_depthwise_conv3d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: Triple
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, padding=padding, groups=C)`` in the pixel-major layout.

    ``x`` is ``(B, H, W, D, C, G)``, ``weight`` the usual ``(C, 1, kd, kh, kw)``, ``padding``
    ``(pd, ph, pw)``; the result is ``(B, H', W', D', C, G)``. Stride 1.
    """
    out: torch.Tensor = _PixelDepthwise.apply(x.contiguous(), weight, bias, tuple(padding))
    return out


class _PixelStem(torch.autograd.Function):
    """One-input-channel conv on pixel-major tensors; see :func:`pixel_stem_conv3d`."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: Triple
    ) -> torch.Tensor:
        g = x.shape[5]
        samples = conv_view(x)  # (B, G, H, W, D): the samples are the conv's channels
        maps = []
        for o in range(weight.shape[0]):
            b = None if bias is None else bias[o : o + 1].repeat(g)
            y = F.conv3d(
                samples, _per_sample_weight(weight[o : o + 1], g), b, 1, _hwd(padding), 1, g
            )
            maps.append(y.permute(0, 2, 3, 4, 1))
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return torch.stack(maps, dim=4)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        # as the depthwise conv of the input repeated once per output channel
        x, weight = ctx.saved_tensors
        padding = ctx.padding
        c, _, kd, kh, kw = weight.shape
        b, h, w, d, _, g = x.shape
        x_rep = x.expand(b, h, w, d, c, g).contiguous()
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            full = (kd - 1 - padding[0], kh - 1 - padding[1], kw - 1 - padding[2])
            flipped = _per_sample_weight(weight.flip(2, 3, 4), g)
            grad_rep = F.conv3d(conv_view(grad), flipped, None, 1, _hwd(full), 1, c * g)
            grad_x = from_conv_view(grad_rep, c).sum(4, keepdim=True)
        if ctx.needs_input_grad[1]:
            grad_w = _depthwise_weight_grad(grad, x_rep, (kd, kh, kw), padding)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 1, 2, 3, 5))
        return grad_x, grad_w, grad_b, None


def pixel_stem_conv3d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: Triple
) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, padding=padding)`` for a one-channel input, pixel-major.

    ``x`` is ``(B, H, W, D, 1, G)``, ``weight`` ``(C, 1, kd, kh, kw)``; the result is
    ``(B, H', W', D', C, G)``. One depthwise conv over the G samples per output channel,
    stacked: cheaper than copying the input C times for one conv (6.4 vs 8.4 ms at batch 64),
    or than a grouped conv with C outputs per sample, whose ``(G, C)`` output order must then
    be transposed (10.0 ms).
    """
    out: torch.Tensor = _PixelStem.apply(x.contiguous(), weight, bias, tuple(padding))
    return out


# ---------------------------------------------------------------------------------------------
# Per-pixel linear map (the MFC's Fuse)


class _PixelLinear(torch.autograd.Function):
    """``out[p] = weight @ u[p] + bias``; see :func:`pixel_linear`."""

    @staticmethod
    def forward(
        ctx: Any, u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        p, _, n = u.shape
        rows = weight.shape[0]
        out = torch.baddbmm(bias.view(1, rows, 1).expand(p, rows, n), weight.expand(p, -1, -1), u)
        ctx.save_for_backward(u, weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        u, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_u = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # bmm with the weight broadcast: matmul would fold (P, G) by copying grad
            grad_u = torch.bmm(weight.t().expand(grad.shape[0], -1, -1), grad)
        if ctx.needs_input_grad[1]:
            # sum over pixels and samples of grad_p @ u_p^T: one GEMM on (K, P*N) copies
            rows, cols = weight.shape
            grad_w = (
                grad.transpose(0, 1).reshape(rows, -1) @ u.transpose(0, 1).reshape(cols, -1).t()
            )
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return grad_u, grad_w, grad_b


def pixel_linear(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The same linear map at every pixel: ``u`` ``(P, K, N)`` -> ``(P, K', N)``.

    ``weight`` is ``(K', K)``, ``bias`` ``(K',)``. The forward is one batched GEMM (the weight
    broadcast over pixels). A hand-written backward because autograd's for a broadcast
    weight would materialise one ``(K', K)`` gradient per pixel before summing them.
    """
    out: torch.Tensor = _PixelLinear.apply(u.contiguous(), weight, bias)
    return out


def pixel_fuse(fuse: SpectralFuse, u: torch.Tensor) -> torch.Tensor:
    """:class:`SpectralFuse` on a pixel-major ``(B, H, W, D, c, G)`` tensor, same shape out.

    The module's ``Conv2d(c*D, c*D, 1)`` indexes maps as ``c*D + d``; pixel-major rows are
    ``d*c + c``, so the weight's rows and columns are permuted to match (a few KB).
    """
    b, h, w, d, c, g = u.shape
    weight = fuse.conv.weight.view(c, d, c, d).permute(1, 0, 3, 2).reshape(d * c, d * c)
    bias = fuse.conv.bias
    bias = weight.new_zeros(d * c) if bias is None else bias.view(c, d).t().reshape(d * c)
    return pixel_linear(u.view(b * h * w, d * c, g), weight, bias).view(b, h, w, d, c, g)


# ---------------------------------------------------------------------------------------------
# BatchNorm and pooling


def batch_norm_affine(bn: nn.BatchNorm3d) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-channel ``(scale, shift)`` with ``bn(y) == y * scale + shift``, when ``bn`` uses its
    running statistics (eval mode); ``None`` otherwise. Folded into the conv before it, it
    saves a pass over the activations. Computed per call from the current tensors: the
    module and its state_dict are left as they are."""
    if bn.training or bn.running_mean is None or bn.running_var is None:
        return None
    scale = bn.running_var.add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def batch_norm_mode(bn: nn.BatchNorm3d) -> tuple[bool, float]:
    """``(use batch statistics, running-average factor)`` for one forward of ``bn``.

    Mirrors ``nn.modules.batchnorm._BatchNorm.forward`` (including the ``num_batches_tracked``
    increment), so that a module normalised in pieces by :func:`pixel_batch_norm` ends in the
    same state as after one ordinary forward. Call once per forward.
    """
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    return use_batch, factor


def pixel_batch_norm(
    y: torch.Tensor, bn: nn.BatchNorm3d, start: int, mode: tuple[bool, float]
) -> torch.Tensor:
    """``bn`` restricted to its channels ``start : start + C`` on a pixel-major ``y``.

    ``mode`` comes from :func:`batch_norm_mode`. Running statistics are updated in place on
    the slices, as BatchNorm over the concatenated channels would.
    """
    b, h, w, d, c, g = y.shape
    part = slice(start, start + c)
    track = not bn.training or bn.track_running_stats
    mean = bn.running_mean[part] if track and bn.running_mean is not None else None
    var = bn.running_var[part] if track and bn.running_var is not None else None
    weight = bn.weight[part] if bn.weight is not None else None
    bias = bn.bias[part] if bn.bias is not None else None
    out = F.batch_norm(y.view(-1, c, g), mean, var, weight, bias, mode[0], mode[1], bn.eps)
    return out.view(b, h, w, d, c, g)


def pixel_avg_pool3d(z: torch.Tensor, kernel: Triple, stride: Triple) -> torch.Tensor:
    """``AvgPool3d(kernel, stride)`` (no padding) on a pixel-major ``(B, H, W, D, C, G)``.

    A box average is separable: (H, W) first, as a channels-last 2-D pool over ``D*C*G``
    channels (it shrinks the data most), then D, as a 2-D pool of width ``(1, kd)``.
    """
    b, h, w, d, c, g = z.shape
    kd, kh, kw = kernel
    sd, sh, sw = stride
    planes = F.avg_pool2d(z.view(b, h, w, d * c * g).permute(0, 3, 1, 2), (kh, kw), (sh, sw))
    h2, w2 = planes.shape[2:]
    bands = planes.permute(0, 2, 3, 1).reshape(b, h2 * w2, d, c * g).permute(0, 3, 1, 2)
    out = F.avg_pool2d(bands, (1, kd), (1, sd))
    return out.permute(0, 2, 3, 1).reshape(b, h2, w2, -1, c, g)


def pixel_adaptive_avg_pool3d(z: torch.Tensor, output_size: Triple) -> torch.Tensor:
    """``AdaptiveAvgPool3d(output_size)`` on a pixel-major tensor (separable like the above)."""
    b, h, w, d, c, g = z.shape
    od, oh, ow = output_size
    planes = F.adaptive_avg_pool2d(z.view(b, h, w, d * c * g).permute(0, 3, 1, 2), (oh, ow))
    bands = planes.permute(0, 2, 3, 1).reshape(b, oh * ow, d, c * g).permute(0, 3, 1, 2)
    out = F.adaptive_avg_pool2d(bands, (oh * ow, od))
    return out.permute(0, 2, 3, 1).reshape(b, oh, ow, od, c, g)
