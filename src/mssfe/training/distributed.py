"""Data-parallel training on PyTorch's own engine: torchrun, torch.distributed and DDP.

The same command runs on one CPU, one GPU or under ``torchrun --nproc_per_node N`` (and
``--nnodes``/``--rdzv-*`` for several machines): :func:`init_distributed` reads the environment
torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). Backend ``nccl`` on GPUs, ``gloo`` on
CPUs. Only rank 0 writes files.

Batch semantics: ``batch_size`` is the *global* batch. Every rank draws the same epoch order
and the same augmentation, and trains on its contiguous slice of each global batch; the loss is
weighted so that DDP's gradient average equals the single-process gradient of the global batch.
Batch normalisation is synchronised across ranks (``torch.nn.SyncBatchNorm`` on GPUs; on CPUs,
where that class refuses to run, :class:`CpuSyncBatchNorm` all-reduces the batch statistics with
the differentiable ``torch.distributed.nn`` collectives), so a 2-rank run matches a 1-rank run
with the same global batch up to floating-point rounding. The learning rate is not rescaled:
the global batch is unchanged, so the single-process learning rate applies as is.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from mssfe.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """This process's place in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_slice(self, n: int) -> slice:
        """This rank's contiguous part of ``n`` items (sizes differ by at most one)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of a few numbers over ranks."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, array: np.ndarray) -> np.ndarray:
        """Concatenate every rank's ``local_slice`` part back into the full array, in order."""
        if not self.enabled:
            return array
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, array)
        return np.concatenate(parts)

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (a list of one without torchrun)."""
        if not self.enabled:
            return [obj]
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, obj)
        return parts

    def broadcast_object(self, obj: Any) -> Any:
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 in a plain run), before any group is joined."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun set up; a plain run is a world of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        # A group left to the interpreter's teardown can abort a rank at exit ("terminate called
        # without an active exception"), which torchrun reports as a failed job after a run that
        # finished; the group this call created is destroyed before the process ends instead.
        atexit.register(end_process_group)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def local_device(device: torch.device, ctx: DistContext) -> torch.device:
    """One GPU per process under torchrun (cuda:LOCAL_RANK)."""
    if device.type == "cuda" and ctx.enabled:
        return torch.device("cuda", ctx.local_rank)
    return device


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled:
        end_process_group()


def end_process_group() -> None:
    """Destroy this process's default group, if it has one (idempotent)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are taken over the global batch of all ranks.

    Same parameters, buffers and state_dict keys as ``BatchNorm{1,2,3}d``, so checkpoints move
    freely between single-process and distributed runs.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        import warnings

        import torch.distributed.nn.functional as dist_fn

        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        with warnings.catch_warnings():  # deprecated in favour of a non-differentiable API
            warnings.simplefilter("ignore", FutureWarning)
            total = dist_fn.all_reduce(local)
        c = x.shape[1]
        n = total[-1]
        mean = total[:c] / n
        var = total[c : 2 * c] / n - mean * mean
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                momentum = 0.1 if self.momentum is None else self.momentum
                unbiased = var.detach() * n / max(float(n) - 1.0, 1.0)
                assert self.running_mean is not None and self.running_var is not None
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm by its synchronised form (torch's on GPUs, ours on CPUs)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, CpuSyncBatchNorm
    ):
        out = CpuSyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child))
    return out


def wrap_ddp(model: nn.Module, device: torch.device, ctx: DistContext) -> nn.Module:
    """DistributedDataParallel around a model whose batch norms are synchronised."""
    if not ctx.enabled:
        return model
    model = convert_sync_batchnorm(model, device)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def check_world(batch_size: int, ctx: DistContext) -> None:
    if ctx.enabled and batch_size < 2 * ctx.world_size:
        raise ConfigError(
            f"optim.batch_size {batch_size} is the global batch; with {ctx.world_size} ranks it "
            f"must be at least {2 * ctx.world_size} (batch norm needs 2 samples per rank)"
        )
