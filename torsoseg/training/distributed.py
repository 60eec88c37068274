"""DistributedDataParallel set-up under ``torchrun`` (gloo on CPU, NCCL on CUDA).

``torchrun`` is detected through ``torch.distributed.is_torchelastic_launched()`` and the process group
reads its rank and world size itself (``init_method="env://"``), so torsoseg reads no environment here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and whether a process group is active."""

    rank: int = 0
    world_size: int = 1
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_torchelastic_launched()


def init_distributed(device: torch.device) -> DistInfo:
    """Joins the ``torchrun`` process group (once); a single process when not launched by torchrun.

    On CUDA each rank uses GPU ``rank % device_count`` (one node).
    """
    import torch.distributed as dist

    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank, world, world > 1)


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device of this rank (CUDA: one GPU per local rank)."""
    if device.type == "cuda" and info.active and device.index is None:
        d = torch.device("cuda", info.rank % torch.cuda.device_count())
        torch.cuda.set_device(d)
        return d
    return device


def wrap_model(model: torch.nn.Module, device: torch.device, info: DistInfo) -> Any:
    """``DistributedDataParallel(model)`` when distributed, else ``model``."""
    if not info.active:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def barrier(info: DistInfo) -> None:
    if info.active:
        import torch.distributed as dist

        dist.barrier()


def shutdown(info: DistInfo) -> None:
    import torch.distributed as dist

    if info.active and dist.is_initialized():
        dist.destroy_process_group()
