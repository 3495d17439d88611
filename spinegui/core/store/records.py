"""Plain values the store hands out: frozen dataclasses, numpy arrays, ISO strings.

Callers (the GUI thread, inference workers, the trainer process) get copies,
never live rows or cursors, so nothing they hold keeps a database lock open.
Times are UTC ISO 8601 strings because that is what is stored and they sort
correctly as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STATUSES = ("not_started", "in_review", "reviewed")
SOURCES = ("import", "manual", "accepted_prediction")
SPLITS = ("train", "val")
GROUND_TRUTH_KINDS = ("set_all", "import", "accept_prediction", "repair")
"""Edit kinds that replace a whole ground-truth array (``set_ground_truth``)."""


@dataclass(frozen=True)
class ImageRecord:
    """One X-ray of the project. ``path`` is where to look for the file now."""

    id: int
    path: Path
    abs_path: str
    rel_path: str | None
    sha256: str
    width: int
    height: int
    spacing_mm: tuple[float, float] | None
    bit_depth: int
    template: str
    added: str
    status: str
    reviewer: str | None
    reviewed_at: str | None
    split: str | None
    gt_source: str | None
    """Source of the ground truth, or None when the image has none yet."""

    @property
    def has_ground_truth(self) -> bool:
        return self.gt_source is not None


@dataclass(frozen=True, eq=False)
class Prediction:
    """A model's landmarks for one image; ``spread`` is (V,4) or None."""

    image_id: int
    model_version: str
    points: np.ndarray
    spread: np.ndarray | None
    created: str


@dataclass(frozen=True)
class ModelRecord:
    """A trained checkpoint known to the project."""

    version: str
    path: Path
    card: dict[str, Any] = field(hash=False)
    created: str
    parent: str | None
    active: bool


@dataclass(frozen=True)
class Edit:
    """One row of the append-only history; before/after are decoded JSON."""

    id: int
    at: str
    user: str
    image_id: int | None
    kind: str
    vertebra: int | None
    corner: int | None
    before: Any
    after: Any


@dataclass(frozen=True)
class FileProblem:
    """An image file that is gone ("missing"), cannot be read ("unreadable") or has
    other content than the one annotated ("changed")."""

    image_id: int
    kind: str
    path: Path
    message: str
