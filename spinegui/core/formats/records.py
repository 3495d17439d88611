"""The one record every import/export format reads and writes.

Formats convert to and from this neutral shape so that the CLI, the project
store and the trainer never need to know which file format data came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spinegui.core.errors import FormatError, ImageLoadError
from spinegui.core.imageio import read_image_size


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


MAX_SIDE = 1 << 20
"""No X-ray is a million pixels on a side; a bigger stated size is a damaged file."""


def image_file(
    base: Path, name: object, where: str, root: Path | None = None, allow_outside: bool = False
) -> Path:
    """The image an annotation file in ``base`` names, kept inside the dataset folder ``root``.

    ``root`` defaults to ``base``, the annotation file's folder.

    Annotation files come from elsewhere; a name that is absolute or climbs out
    with ``..`` would make an import read (and an export later copy out) any
    file on the computer, so it is refused unless the user allows it.
    """
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise FormatError(f"{where} gives no usable image file name ({name!r}).", _REEXPORT)
    path = Path(os.path.normpath(Path(base) / name))
    root = Path(base if root is None else root)
    if not allow_outside:
        inside = Path(os.path.normpath(root.absolute()))
        if inside not in path.absolute().parents:
            raise FormatError(
                f"{where} names the image {name!r}, which lies outside the dataset folder {root}.",
                "Keep the images inside the dataset folder, or allow images outside it "
                "(allow_outside=True) if you trust this file.",
            )
    return path


def check_image_size(image: Path, size: tuple[int, int], where: str) -> None:
    """Refuse an entry whose stated size is not the file's: its landmarks are for another image."""
    try:
        actual = read_image_size(image)
    except ImageLoadError as exc:
        raise FormatError(f"{where}: {exc.message}", exc.hint) from None
    if tuple(actual) != tuple(size):
        raise FormatError(
            f"{where} says {image.name} is {size[0]} x {size[1]} pixels, but the file is "
            f"{actual[0]} x {actual[1]}: the annotation was made for another image.",
            "Check that the annotation file and the images belong together.",
        )


_REEXPORT = "Export the annotation file again."
