"""torchrun / DDP plumbing: process group set-up and the device each process uses."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from signprep.configs import ConfigError

__all__ = ["DistInfo", "init_distributed", "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """'auto' -> this process's CUDA device when CUDA is present, else the CPU."""
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training configuration: device: 'cuda' requested but no CUDA device is available")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device_choice: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (`WORLD_SIZE` > 1), else run single-process.

    The backend follows the device: NCCL for CUDA, gloo for CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_choice, local_rank)
    if world_size <= 1:
        return DistInfo(), device
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL init, so each process owns one GPU
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    info = DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)
    return info, device
