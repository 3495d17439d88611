"""What a training run is and how it ended, without torch.

The GUI builds retrain commands and reads their results in a process that
must not pay for importing torch, and a resume file's header is plain JSON;
so the run's description (``TrainConfig``), its outcome (``TrainResult``) and
the progress a resume continues from (``ResumeState``) live here, apart from
the loop in ``spinegui.ml.train`` that needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from spinegui.core.errors import SpineguiError
from spinegui.core.templates import DEFAULT_TEMPLATE
from spinegui.ml.presets import DEFAULT_PRESET

__all__ = [
    "RESUME_SUFFIX",
    "SELECT_BY",
    "STATUSES",
    "ResumeState",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "resume_path_for",
]

STATUSES = ("completed", "early_stopped", "stopped", "diverged")
STAGES = ("landmarks", "refine")
"""What a run trains: the whole-image landmark network, or the refinement stage."""
LR_SCHEDULES = ("constant", "cosine")
RESUME_SUFFIX = ".resume.safetensors"
SELECT_BY = ("cobb", "loss")
"""How the kept checkpoint is chosen: the validation main-Cobb-angle error, or the loss."""


class TrainError(SpineguiError):
    """A training run that cannot start or continue as asked."""


def _from_json(cls, data: dict[str, Any]):
    """A dataclass from a JSON dict, ignoring keys it does not know (older/newer files)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored verbatim in the checkpoint."""

    template: str = DEFAULT_TEMPLATE
    stage: str = "landmarks"
    """"landmarks": the whole-image network; "refine": the refinement stage on top of
    ``base_model``'s first stage (or of ``init_from``, a two-stage model to fine-tune)."""
    base_model: str | None = None
    refiner: dict[str, Any] = field(default_factory=dict)
    """Refinement network settings (``RefinerSpec`` fields) for a new refinement stage."""
    arch: str = "paper"
    """The paper's CNN. It beat the integral head at equal training time in every run
    measured here (AASCE and synthetic; see the README's model section)."""
    preset: str = DEFAULT_PRESET
    epochs: int = 100
    lr: float = 1e-4
    lr_schedule: str = "constant"
    """"cosine": 5 % linear warm-up, then cosine decay to zero over the run."""
    beta1: float = 0.9
    beta2: float = 0.999
    batch_size: int = 4
    alpha: float = 0.01
    seed: int = 0
    device: str = "auto"
    patience: int | None = 20
    out: str | None = None
    resume: str | None = None
    init_from: str | None = None
    freeze_bn: bool | None = None
    """Keep batch-norm statistics fixed; None = only when fine-tuning (init_from).

    A retrain from a handful of corrected images would otherwise replace the
    statistics learnt on hundreds of X-rays with those of a few mini-batches."""
    num_workers: int = 0
    amp: bool = True
    augment: bool = True
    zoom_out: float = 0.0
    """Share of training images shown with a wider field of view (see ``augment``)."""
    explode_factor: float = 1e3
    """A batch loss above this many times the run's first loss counts as diverged."""
    step_event_interval_s: float = 0.0
    """Minimum seconds between step events (first and last step always sent)."""
    keep_resume: bool = False
    val_batch_size: int = 16
    select_by: str = "loss"
    """Keep the epoch with the lowest validation loss ("loss") or main-Cobb-angle error
    ("cobb"; the loss stands in while no angle can be measured).

    The whole-image network is chosen by loss: on 24 validation X-rays its Cobb
    error jumped between 11 and 20 degrees from one epoch to the next, and
    stopping on it ended a run at epoch 70 with 72 px mean error where the loss
    led to 58 px (measured). The refinement stage, whose job is the angles, is
    chosen by Cobb error (``REFINE_DEFAULTS``)."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_json(cls, data)


REFINE_DEFAULTS: dict[str, Any] = {
    "preset": "medium",
    "epochs": 30,
    "lr": 1e-3,
    "lr_schedule": "cosine",
    "batch_size": 4,
    "patience": None,
    "select_by": "cobb",
    "alpha": 0.0,
}
"""Where a refinement run differs from the paper's settings: a rate ten times the
paper's with a cosine schedule (a batch of 4 X-rays is ~70 vertebra crops, so the
steps are far less noisy); the X-rays are cached at 512 x 256 for cropping; no BPD
(a crop holds one vertebra)."""


@dataclass
class TrainResult:
    """How a run ended. ``checkpoint`` is the best model written (None if none was)."""

    status: str
    message: str
    epochs_run: int
    best_epoch: int | None
    best_val: dict[str, float | None]
    checkpoint: Path | None
    resume: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "early_stopped")


@dataclass
class ResumeState:
    """Everything besides tensors that a resumed run continues from.

    One object, written to and read from the resume file's header as a whole,
    so a counter cannot be saved and then forgotten on the way back in.
    ``best_score`` is stored as 1e308 while nothing has been kept (JSON has
    no infinity). ``scaler`` is the fp16 loss scaler's state, when one runs.
    """

    config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    best_score: float = 1e308
    best_epoch: int | None = None
    best_val: dict[str, Any] = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    parent: str | None = None
    out: str | None = None
    saved: str | None = None
    scaler: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumeState:
        return _from_json(cls, data)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_json(self.config)


def resume_path_for(checkpoint: str | Path) -> Path:
    """The resume sidecar that belongs to a checkpoint path."""
    p = Path(checkpoint)
    if p.name.endswith(RESUME_SUFFIX):
        return p
    return p.with_name(p.name.removesuffix(".safetensors") + RESUME_SUFFIX)
