"""Training progress events, as plain dataclasses that round-trip through JSON.

The trainer never prints or draws: it hands these to a callback. The CLI turns
them into a tqdm bar or, with ``--json-progress``, one JSON object per line,
which the GUI (running the trainer as a child process) parses back with
``event_from_json``. Keeping one schema for both paths means the GUI plots
exactly what a headless run reports.

Every JSON object carries ``"event"`` (the kind) and ``"time"`` (Unix
seconds). Fields that do not apply are ``null``, never missing, so readers can
index without guards.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "EndEvent",
    "EpochEvent",
    "StartEvent",
    "StepEvent",
    "TrainEvent",
    "event_from_json",
]


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: report them as null rather than emit invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class TrainEvent:
    """Base: what every event has."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **_clean(asdict(self))}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":"))


@dataclass
class StartEvent(TrainEvent):
    """Sent once, before the first step, so a monitor can size its axes."""

    kind: ClassVar[str] = "start"
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    device: str
    arch: str
    template: str
    preset: str
    world_size: int = 1
    out: str | None = None


@dataclass
class StepEvent(TrainEvent):
    """One optimiser step; losses are this mini-batch's, on normalised coordinates."""

    kind: ClassVar[str] = "step"
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    mse: float
    bpd: float
    total: float
    images_per_s: float
    eta_s: float | None


@dataclass
class EpochEvent(TrainEvent):
    """End of an epoch: mean training losses plus validation metrics.

    ``val`` holds ``mse``, ``bpd``, ``total`` (normalised coordinates, the
    training objective), ``mean_px`` (landmark error in original-image pixels)
    and ``smape`` (Cobb angle SMAPE, percent); empty without a validation set.
    """

    kind: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    mse: float
    bpd: float
    total: float
    val: dict[str, float | None]
    best: bool
    best_epoch: int | None
    images_per_s: float
    eta_s: float | None
    images_seen: int = 0
    """Training images processed this epoch, over all processes."""
    checkpoint: str | None = None


@dataclass
class EndEvent(TrainEvent):
    """Sent once at the end. ``status`` is one of ``TrainResult.STATUSES``."""

    kind: ClassVar[str] = "end"
    status: str
    message: str
    epochs_run: int
    best_epoch: int | None
    best_val: dict[str, float | None]
    checkpoint: str | None
    resume: str | None = None


EVENT_TYPES: dict[str, type[TrainEvent]] = {
    cls.kind: cls for cls in (StartEvent, StepEvent, EpochEvent, EndEvent)
}


def event_from_json(line: str | bytes) -> TrainEvent:
    """Parse one line of ``--json-progress`` output back into its event.

    Unknown keys are ignored so an older GUI can read a newer trainer.
    Raises ValueError for a line that is not a known event.
    """
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("event") not in EVENT_TYPES:
        raise ValueError(f"not a training event: {str(line)[:80]!r}")
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
