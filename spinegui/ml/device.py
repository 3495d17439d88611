"""Where the network runs, and in which precision.

"auto" prefers CUDA, then Apple's MPS, then the CPU, so the same command is
fast on a workstation and still works on a laptop. An explicit choice that is
not available is an error rather than a silent fallback: someone who asked
for the GPU and got a 50x slower CPU run would wait hours without knowing why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from spinegui.core.errors import SpineguiError

CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """Resolve "auto", "cpu", "cuda", "cuda:N" or "mps" to an available device."""
    pref = (preference or "auto").strip().lower()
    kind, _, index = pref.partition(":")
    if kind not in CHOICES or (index and (kind != "cuda" or not index.isdigit())):
        raise SpineguiError(
            f"Unknown device {preference!r}.",
            "Use auto, cpu, cuda (or cuda:N for the N-th GPU) or mps.",
        )
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise SpineguiError(
                "No CUDA GPU is available to this installation of PyTorch.",
                "Use --device cpu, or install a CUDA build of torch and an NVIDIA driver.",
            )
        if index and int(index) >= torch.cuda.device_count():
            raise SpineguiError(
                f"There is no GPU {index}; this machine has "
                f"{torch.cuda.device_count()} (numbered from 0).",
                "Pick an existing GPU or use --device cuda.",
            )
        return torch.device(pref)
    if kind == "mps":
        if not _mps_available():
            raise SpineguiError(
                "Apple's Metal (MPS) backend is not available here.",
                "It needs Apple silicon and macOS 12.3 or later; use --device cpu.",
            )
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision type used on this device, or None for full float32.

    bf16 where the GPU supports it (no loss scaling needed), else fp16, which
    needs a ``torch.amp.GradScaler`` in training. CPU and MPS stay in float32,
    where predictable results are worth more than the modest, hardware-
    dependent speed-up mixed precision might give.
    """
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device | str) -> Iterator[None]:
    """Mixed precision on CUDA, a no-op elsewhere."""
    dtype = autocast_dtype(device)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def describe_device(device: torch.device | str) -> str:
    """A short label for the status bar and logs, e.g. 'NVIDIA H100 (CUDA)'."""
    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (CUDA)"
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"


def set_cpu_threads(n: int) -> None:
    """Threads torch uses for CPU work in this process (the GUI reaches torch only via ml)."""
    torch.set_num_threads(max(1, int(n)))
