"""Running one training loop in several processes (``torchrun``), or in one.

Under ``torchrun`` (env WORLD_SIZE/RANK/LOCAL_RANK) the trainer wraps the
model in DistributedDataParallel (gloo on CPU, nccl on CUDA), each rank sees
its DistributedSampler shard, rank 0 validates, writes files and emits
events, and every decision that ends or shortens the run is agreed on by all
ranks, so no rank is left waiting in a collective. With one process every
helper here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Dist", "pick_device_for", "seed_for"]


@dataclass
class Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
        return cls(world, rank, local)

    def init(self, device: torch.device) -> None:
        import torch.distributed as dist

        if not self.enabled or dist.is_initialized():
            return
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        self.owns_group = True

    def close(self) -> None:
        import torch.distributed as dist

        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def any(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Element-wise OR of per-rank flags, so every rank takes the same branch."""
        if not self.enabled:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def from_main(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Rank 0's decision, on every rank."""
        if not self.enabled:
            return flags
        import torch.distributed as dist

        t = torch.tensor([float(f) for f in flags], device=device)
        dist.broadcast(t, src=0)
        return [bool(v) for v in t.tolist()]

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.enabled:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def pick_device_for(preference: str, d: Dist) -> torch.device:
    """The device for this rank: its own GPU under torchrun, else the preference."""
    from spinegui.ml.device import pick_device

    device = pick_device(preference)
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def seed_for(*parts: int) -> int:
    """A 32-bit seed derived from (seed, epoch, rank, ...): every draw is reproducible."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])
