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
    "ComparisonEvent",
    "EndEvent",
    "EpochEvent",
    "StartEvent",
    "StepEvent",
    "TrainEvent",
    "event_from_json",
    "json_safe",
]


def json_safe(value: Any) -> Any:
    """JSON has no NaN/inf: report them as null rather than emit invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@dataclass
class TrainEvent:
    """Base: what every event has."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **json_safe(asdict(self))}

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
class _LossEvent(TrainEvent):
    """Where the run is and its training losses: the fields steps and epochs share."""

    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    mse: float
    bpd: float
    total: float


@dataclass
class StepEvent(_LossEvent):
    """One optimiser step; losses are this mini-batch's, on normalised coordinates."""

    kind: ClassVar[str] = "step"
    images_per_s: float
    eta_s: float | None


@dataclass
class EpochEvent(_LossEvent):
    """End of an epoch: mean training losses plus validation metrics.

    ``val`` holds ``mse``, ``bpd``, ``total`` (normalised coordinates, the
    training objective), ``mean_px`` (landmark error in original-image pixels)
    and ``smape`` (Cobb angle SMAPE, percent); empty without a validation set.
    """

    kind: ClassVar[str] = "epoch"
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


@dataclass
class ComparisonEvent(TrainEvent):
    """Sent once after a successful project run: both models on the locked validation images.

    ``current`` and ``new`` hold ``version``, ``mean_px``, ``median_px``,
    ``per_vertebra_px`` (list, template order), ``smape`` (percent),
    ``pearson_r``, ``mean_mm`` (None without pixel spacing),
    ``n_smape_images`` and the clinician's figures ``cobb_mae``, ``within5_pct``,
    ``within10_pct`` (percent), ``cobb_bias``, ``cobb_slope``, ``tilt_deg`` and
    ``per_vertebra_tilt_deg``; ``current`` is None when the project had no
    active model (or it could not be scored, see ``notes``). ``rows`` lists
    which of those figures a table shows, in order, with label, format and
    which direction is better (``spinegui.ml.retrain.COMPARISON_ROWS``), so a
    reader can show figures it does not know by name. Made by
    ``spinegui.ml.retrain.compare_on_validation``.
    """

    kind: ClassVar[str] = "comparison"
    val_images: int
    vertebrae: list[str]
    current: dict[str, Any] | None
    new: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


EVENT_TYPES: dict[str, type[TrainEvent]] = {
    cls.kind: cls for cls in (StartEvent, StepEvent, EpochEvent, EndEvent, ComparisonEvent)
}


def event_from_json(line: str | bytes) -> TrainEvent:
    """Parse one line of ``--json-progress`` output back into its event.

    Unknown keys are ignored so an older GUI can read a newer trainer.
    Raises ValueError for a line that is not a known event (or not JSON).
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("event") not in EVENT_TYPES:
        raise ValueError(f"not a training event: {text[:80]!r}")
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
