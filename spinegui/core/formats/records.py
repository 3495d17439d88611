"""The one record every import/export format reads and writes.

Formats convert to and from this neutral shape so that the CLI, the project
store and the trainer never need to know which file format data came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class AnnotatedImage:
    """One image with its optional landmarks, dataset angles and pixel spacing.

    ``landmarks`` is (V, 4, 2) float64 in original-image pixels or None for an
    image nobody has annotated yet; ``angles`` are the three Cobb angles a
    dataset ships (degrees), not ones computed here.
    """

    image: Path
    width: int
    height: int
    template: str
    landmarks: np.ndarray | None = None
    angles: tuple[float, float, float] | None = None
    spacing_mm: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        """The image file name, the key most formats use for a record."""
        return self.image.name


def relative_path(image: Path, base: Path) -> str:
    """``image`` as written in a file at ``base``: relative, so a folder can move whole."""
    try:
        return Path(os.path.relpath(image.absolute(), base.absolute())).as_posix()
    except ValueError:  # another drive on Windows
        return image.absolute().as_posix()
