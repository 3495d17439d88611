"""Predictions as values and how they enter a project, without Qt.

A result is self-describing because it may arrive late: by the time the
worker has finished, the user may be on another image, model or project.
``store_result`` stores it regardless of what is shown, so no computed
prediction is lost; the session decides whether to draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinegui.core.errors import SpineguiError
from spinegui.core.model_card import card_summary, read_model_card


@dataclass(frozen=True, eq=False)
class PredictionResult:
    """One image's predicted landmarks, self-describing because it may arrive late.

    ``landmarks`` (V, 4, 2) and ``spread`` (V, 4) or None are in pixels of
    the original image; ``seconds`` covers reading the image and the network.
    ``from_batch`` tells a "Predict all" result from one the user asked for.
    ``image_path`` is the file that was predicted: image ids restart in every
    project, so it is what tells a late result from the previous project apart.
    """

    image_id: int
    model_version: str
    landmarks: np.ndarray
    spread: np.ndarray | None
    seconds: float
    model_path: Path
    template: str
    from_batch: bool = False
    image_path: Path | None = None
    image_sha256: str | None = None
    """Hash of the file that was predicted; the store refuses it for a replaced X-ray."""


def store_result(project, result: PredictionResult) -> bool:
    """Save a result in the project, registering its model first when the project lacks it.

    Call it for every result, shown or not: a prediction for an image the
    user left is still work the user will want. Returns False, storing
    nothing, when the result is for another project's image (the user
    switched projects while it ran; ids alone cannot tell). Raises
    ``SpineguiError`` (show message + hint) when the project cannot take it.
    """
    try:
        record = project.image(result.image_id)
    except SpineguiError:
        if all(r.id != result.image_id for r in project.images()):
            return False  # no such image here: a result from the previous project
        raise
    if result.image_path is not None and not _same_file(record.path, result.image_path):
        return False
    known = {m.version for m in project.models()}
    if result.model_version not in known:
        try:
            card = card_summary(read_model_card(result.model_path))
        except SpineguiError:
            card = {"version": result.model_version, "template": result.template}
        parent = card.get("parent") if card.get("parent") in known else None
        project.add_model(result.model_version, result.model_path, card=card, parent=parent)
    project.set_prediction(
        result.image_id,
        result.model_version,
        result.landmarks,
        result.spread,
        image_sha256=result.image_sha256,
    )
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return Path(a) == Path(b)
