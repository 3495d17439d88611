"""Long-format CSV: one row per landmark, for spreadsheets, R and pandas.

    image,template,vertebra,corner,x,y
    a.png,T1-L5,T1,TL,101.5,80.25

Vertebra and corner are named, not numbered, so a row means the same thing
whatever order the rows come in. The file carries landmarks only: images
without landmarks, dataset angles and pixel spacing are not written, and
image sizes are read back from the images, which must sit where the image
column points (relative paths are relative to the CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from spinegui.core.errors import FormatError, ImageLoadError
from spinegui.core.formats.records import AnnotatedImage, image_file, relative_path
from spinegui.core.imageio import read_image_size
from spinegui.core.landmarks import as_landmarks
from spinegui.core.outputs import atomic_writer, check_file_target
from spinegui.core.templates import CORNERS, TEMPLATES, get_template

HEADER = ["image", "template", "vertebra", "corner", "x", "y"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel, LibreOffice and Sheets run a cell as a formula."""


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would run it as a formula.

    A file named ``=HYPERLINK(...).png`` would otherwise become a live formula
    in whoever opens the CSV (OWASP "CSV injection"). Spreadsheets hide the
    apostrophe; ``read_csv`` removes it again.
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _unescaped(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def write_csv(
    records: list[AnnotatedImage],
    path: str | Path,
    *,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
) -> Path:
    """Write every landmark of every annotated record; image paths relative to the CSV.

    An existing file is replaced only with ``overwrite``; the file appears
    whole or not at all; nothing is written into a ``protected`` folder
    (see ``spinegui.core.outputs``).
    """
    path = check_file_target(
        path, overwrite=overwrite, inputs=[r.image for r in records], protected=protected
    )
    with atomic_writer(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for rec in records:
            if rec.landmarks is None:
                continue
            template = get_template(rec.template)
            points = as_landmarks(rec.landmarks, template)
            image = spreadsheet_safe(relative_path(rec.image, path.parent))
            for v, vertebra in enumerate(template.vertebrae):
                for c, corner in enumerate(CORNERS):
                    x, y = points[v, c]
                    writer.writerow(
                        [image, template.name, vertebra, corner, repr(float(x)), repr(float(y))]
                    )
    return path


def read_csv(path: str | Path, *, allow_outside: bool = False) -> list[AnnotatedImage]:
    """Read a long-format CSV; every error names the line it is on.

    Images must lie inside the CSV's folder unless ``allow_outside`` (see
    ``records.image_file``); their sizes are read from the files.
    """
    path = Path(path)
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            groups = _parse(reader, path.name)
    except OSError as e:
        raise FormatError(f"Cannot read {path}: {e.strerror}.", "Check the path.") from None
    except UnicodeDecodeError:
        raise FormatError(
            f"{path.name} is not a UTF-8 text file.", "Save the CSV as UTF-8."
        ) from None
    except csv.Error as e:
        line = reader.line_num if reader is not None else 0
        raise FormatError(
            f"{path.name} line {line} is not valid CSV ({e}).",
            "Export the landmarks again; one landmark per line, six fields.",
        ) from None
    return [_record(path, image, *group, allow_outside) for image, group in groups.items()]


def _parse(reader, name: str) -> dict[str, tuple[str, int, dict]]:
    """Group rows by image: image -> (template, first line, {(v, c): (x, y)})."""
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != HEADER:
        raise FormatError(
            f"{name} line 1: the header must be {','.join(HEADER)}.",
            "Export the landmarks again, or fix the header line.",
        )
    groups: dict[str, tuple[str, int, dict]] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise FormatError(
                f"{name} line {line}: expected {len(HEADER)} fields, found {len(row)}.",
                f"Each line needs {','.join(HEADER)}.",
            )
        image, template_name, vertebra, corner, xs, ys = (cell.strip() for cell in row)
        image = _unescaped(image)
        template = TEMPLATES.get(template_name)
        if template is None:
            raise FormatError(
                f"{name} line {line}: unknown template {template_name!r}.",
                f"Use one of {', '.join(TEMPLATES)}.",
            )
        if vertebra not in template.vertebrae:
            raise FormatError(
                f"{name} line {line}: {vertebra!r} is not a vertebra of {template.name}.",
                f"Use one of {', '.join(template.vertebrae)}.",
            )
        if corner not in CORNERS:
            raise FormatError(
                f"{name} line {line}: unknown corner {corner!r}.",
                f"Use one of {', '.join(CORNERS)}.",
            )
        x, y = _number(xs, "x", name, line), _number(ys, "y", name, line)
        first_template, first_line, points = groups.setdefault(image, (template.name, line, {}))
        if first_template != template.name:
            raise FormatError(
                f"{name} line {line}: {image} was given template {first_template} on line "
                f"{first_line} and {template.name} here.",
                "Use one template per image.",
            )
        key = (template.index(vertebra), CORNERS.index(corner))
        if key in points:
            raise FormatError(
                f"{name} line {line}: {image} {vertebra} {corner} is given twice.",
                "Keep one row per landmark.",
            )
        points[key] = (x, y)
    return groups


def _number(text: str, field: str, name: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise FormatError(
            f"{name} line {line}: {field} is {text!r}, not a number.",
            "Give coordinates as plain numbers in pixels.",
        )
    return value


def _record(
    path: Path, image: str, template_name: str, line: int, points: dict, allow_outside: bool
):
    template = get_template(template_name)
    missing = [
        f"{template.vertebrae[v]}-{c}"
        for v in range(template.n_vertebrae)
        for i, c in enumerate(CORNERS)
        if (v, i) not in points
    ]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise FormatError(
            f"{path.name}: {image} (from line {line}) lacks {len(missing)} of its "
            f"{template.n_landmarks} landmarks: {shown}.",
            "Give all four corners of every vertebra of the template.",
        )
    landmarks = np.array([[points[(v, c)] for c in range(4)] for v in range(template.n_vertebrae)])
    image_path = image_file(
        path.parent, image, f"{path.name} line {line}", allow_outside=allow_outside
    )
    try:
        width, height = read_image_size(image_path)
    except ImageLoadError as e:
        raise FormatError(
            f"{path.name} line {line}: image {image} cannot be used: {e.message}",
            "Keep the images where the CSV's image column points (relative to the CSV).",
        ) from None
    return AnnotatedImage(
        image=image_path,
        width=width,
        height=height,
        template=template.name,
        landmarks=landmarks,
    )
