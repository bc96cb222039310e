"""Distributed data-parallel training with PyTorch's own engine (`torchrun`, DDP).

`torchrun --nproc_per_node=N -m rtmotion train ...` starts N processes with RANK, WORLD_SIZE,
LOCAL_RANK (and MASTER_ADDR/PORT) in their environment. `setup_distributed` reads them and joins
the process group: NCCL when training on CUDA (one GPU per process, cuda:LOCAL_RANK), gloo on
CPU. Without those variables it is a single process (world size 1) and every helper here is a
no-op, so the trainer has one code path.

Roles: rank 0 builds the caches, writes checkpoints, logs, samples and the bundle; the other
ranks wait at a barrier where rank 0 does file work, then read what it wrote.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_world() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) from torchrun's environment, or None outside torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    return rank, world, local


def setup_distributed(device_type: str) -> DistInfo:
    """Join the process group if launched by torchrun (world size > 1), else a single process.

    Args:
        device_type: "cuda" (NCCL, and this process takes cuda:LOCAL_RANK) or "cpu" (gloo).
    """
    env = env_world()
    if env is None or env[1] <= 1:
        return DistInfo()
    rank, world, local = env
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    log.info("distributed: rank %d of %d (local %d), backend %s", rank, world, local, backend)
    return DistInfo(rank, world, local, backend)


def cleanup_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_flag(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """True on every rank if `flag` is True on any rank (e.g. a time limit reached on rank 0)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across(info: DistInfo, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a dict of scalars over the ranks (for the logged losses)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= info.world_size
    return dict(zip(keys, t.tolist(), strict=True))
