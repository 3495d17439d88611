"""What a reader adds to an image besides landmarks: chosen end vertebrae and rulers.

Also the two reads the review window is built on. ``review_state`` returns
everything shown for one image (record, truth, the active model's
prediction, chosen end vertebrae, rulers) in ONE statement, so redrawing
after an edit costs one read however many panels show the image.
``worklist_rows`` does the same for the image list, so opening a project of
500 images is one read instead of one per image.

Chosen end vertebrae and rulers are edits like any other: one transaction
that changes the value and appends its history row, returning the value it
replaced so an undo can put it back.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from spinegui.core.calibration import Calibration, Spacing, effective_spacing
from spinegui.core.errors import LandmarkError, ProjectConflict
from spinegui.core.store.annotations import ANY, _conflict, from_blob
from spinegui.core.store.db import translate_errors, unknown_image, utc_now
from spinegui.core.store.records import ImageRecord, Prediction

if TYPE_CHECKING:
    from spinegui.core.store.project import Project

Pairs = tuple[tuple[int, int], ...]

_ACTIVE = "(SELECT version FROM models WHERE active = 1)"


@dataclass(frozen=True, eq=False)
class ReviewState:
    """One image as the review window shows it, read in one statement."""

    record: ImageRecord
    truth: np.ndarray | None
    prediction: Prediction | None
    curve_ends: Pairs
    image_ruler: Calibration | None
    project_ruler: Calibration | None

    @property
    def spacing(self) -> Spacing | None:
        return effective_spacing(self.record.spacing_mm, self.image_ruler, self.project_ruler)


@dataclass(frozen=True, eq=False)
class WorklistRow:
    """One image of the list with what its row shows (landmarks for the main Cobb angle)."""

    record: ImageRecord
    truth: np.ndarray | None
    prediction: np.ndarray | None
    spread: np.ndarray | None
    curve_ends: Pairs


def _select(extra_columns: str, joins: str) -> str:
    """The store's image SELECT with more columns and joins (one list of image columns)."""
    from spinegui.core.store.project import _IMAGE_SELECT

    head, tail = _IMAGE_SELECT.split("FROM", 1)
    return f"{head.rstrip()}, {extra_columns} FROM{tail.rstrip()} {joins}"


@functools.cache
def _state_sql() -> str:
    return _select(
        "g.points, p.model_version, p.points, p.spread, p.created, e.pairs, "
        "ci.mm_per_px, ci.length_mm, ci.line, cp.mm_per_px, cp.length_mm, cp.line",
        f"LEFT JOIN predictions p ON p.image_id = i.id AND p.model_version = {_ACTIVE} "
        "LEFT JOIN curve_ends e ON e.image_id = i.id "
        "LEFT JOIN calibrations ci ON ci.image_id = i.id "
        "LEFT JOIN calibrations cp ON cp.image_id IS NULL "
        "WHERE i.id = ?",
    )


@functools.cache
def _rows_sql() -> str:
    return _select(
        "g.points, p.points, p.spread, e.pairs",
        f"LEFT JOIN predictions p ON p.image_id = i.id AND p.model_version = {_ACTIVE} "
        "LEFT JOIN curve_ends e ON e.image_id = i.id ORDER BY i.id",
    )


_IMAGE_COLUMNS = 16


def _pairs(text: str | None) -> Pairs:
    return () if text is None else tuple((int(a), int(b)) for a, b in json.loads(text))


def _ruler(mm_per_px, length_mm, line) -> Calibration | None:
    if mm_per_px is None:
        return None
    return Calibration(float(mm_per_px), float(length_mm), tuple(json.loads(line)))


def _points(blob, *trailing) -> np.ndarray | None:
    return None if blob is None else from_blob(blob, *trailing)


class ReadingsMixin:
    """Reader-chosen end vertebrae, rulers, and the one-statement reads (part of Project)."""

    # -------------------------------------------------------------- one-read views

    def review_state(self: Project, image_id: int) -> ReviewState:
        rows = self._query("read the image", _state_sql(), (int(image_id),))
        if not rows:
            raise unknown_image(image_id)
        row = rows[0]
        record = self._image_record(row[:_IMAGE_COLUMNS])
        (truth, version, points, spread, created, pairs, *rulers) = row[_IMAGE_COLUMNS:]
        prediction = None
        if points is not None:
            prediction = Prediction(
                record.id, version, from_blob(points, 4, 2), _points(spread, 4), created
            )
        return ReviewState(
            record=record,
            truth=_points(truth, 4, 2),
            prediction=prediction,
            curve_ends=_pairs(pairs),
            image_ruler=_ruler(*rulers[:3]),
            project_ruler=_ruler(*rulers[3:]),
        )

    def worklist_rows(self: Project) -> list[WorklistRow]:
        rows = self._query("list the images", _rows_sql())
        out = []
        for row in rows:
            truth, points, spread, pairs = row[_IMAGE_COLUMNS:]
            out.append(
                WorklistRow(
                    self._image_record(row[:_IMAGE_COLUMNS]),
                    _points(truth, 4, 2),
                    _points(points, 4, 2),
                    _points(spread, 4),
                    _pairs(pairs),
                )
            )
        return out

    # ------------------------------------------------------------- end vertebrae

    def curve_ends(self: Project, image_id: int) -> Pairs:
        """End vertebrae the reader chose for this image's curves (empty: the rules choose)."""
        rows = self._query(
            "read the chosen end vertebrae",
            "SELECT i.id, e.pairs FROM images i LEFT JOIN curve_ends e ON e.image_id = i.id "
            "WHERE i.id = ?",
            (int(image_id),),
        )
        if not rows:
            raise unknown_image(image_id)
        return _pairs(rows[0][1])

    def set_curve_ends(
        self: Project, image_id: int, pairs: Iterable[tuple[int, int]], *, expected=ANY
    ) -> Pairs:
        """Replace the chosen end vertebrae (empty: back to the rules); returns the old ones.

        ``expected`` (the pairs the reader saw) makes it a compare-and-set, as
        landmark edits are: ``ProjectConflict`` when another window changed them.
        """
        new = _sorted_pairs(pairs)
        with self._write("save the chosen end vertebrae") as conn:
            row = conn.execute(
                "SELECT i.template, e.pairs FROM images i "
                "LEFT JOIN curve_ends e ON e.image_id = i.id WHERE i.id = ?",
                (int(image_id),),
            ).fetchone()
            if row is None:
                raise unknown_image(image_id)
            _check_pairs(new, row[0])
            before = _pairs(row[1])
            if expected is not ANY and _sorted_pairs(expected) != before:
                raise _conflict(conn, image_id, "the chosen end vertebrae", ("curve_ends",), None)
            if new:
                conn.execute(
                    "INSERT INTO curve_ends (image_id, pairs, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT (image_id) DO UPDATE SET pairs = excluded.pairs, "
                    "updated = excluded.updated",
                    (int(image_id), json.dumps([list(p) for p in new]), utc_now()),
                )
            else:
                conn.execute("DELETE FROM curve_ends WHERE image_id = ?", (int(image_id),))
            self._log(
                conn,
                int(image_id),
                "curve_ends",
                before=[list(p) for p in before],
                after=[list(p) for p in new],
            )
        return before

    # -------------------------------------------------------------------- rulers

    def calibration(self: Project, image_id: int | None = None) -> Calibration | None:
        """The ruler of one image, or (``image_id`` None) the project's ruler."""
        with translate_errors("read the calibration", self.db_path):
            return _read_ruler(self._db(), image_id)

    def set_calibration(
        self: Project, image_id: int | None, ruler: Calibration | None, *, expected=ANY
    ) -> Calibration | None:
        """Set (None: remove) a ruler; ``image_id`` None is the project's. Returns the old one.

        ``expected`` (the ruler the reader saw, None for none) makes it a
        compare-and-set: ``ProjectConflict`` when another window changed it.
        """
        with self._write("save the calibration") as conn:
            if image_id is not None:
                _check_image(conn, image_id)
            before = _read_ruler(conn, image_id)
            if expected is not ANY and expected != before:
                if image_id is None:
                    raise ProjectConflict(
                        "The project's ruler was changed in another window or program after "
                        "your change began, so your change was not saved.",
                        "The window now shows the current ruler; calibrate again if needed.",
                    )
                raise _conflict(conn, image_id, "the ruler", ("calibration",), None)
            if image_id is None:
                conn.execute("DELETE FROM calibrations WHERE image_id IS NULL")
            else:
                conn.execute("DELETE FROM calibrations WHERE image_id = ?", (int(image_id),))
            if ruler is not None:
                conn.execute(
                    "INSERT INTO calibrations (image_id, mm_per_px, length_mm, line, updated) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        None if image_id is None else int(image_id),
                        ruler.mm_per_px,
                        ruler.length_mm,
                        json.dumps(list(ruler.line)),
                        utc_now(),
                    ),
                )
            self._log(
                conn,
                None if image_id is None else int(image_id),
                "calibration",
                before=None if before is None else before.to_json(),
                after=None if ruler is None else ruler.to_json(),
            )
        return before


def _sorted_pairs(pairs: Iterable[tuple[int, int]]) -> Pairs:
    return tuple(tuple(sorted((int(a), int(b)))) for a, b in pairs)


def _check_image(conn: sqlite3.Connection, image_id: int) -> None:
    if conn.execute("SELECT 1 FROM images WHERE id = ?", (int(image_id),)).fetchone() is None:
        raise unknown_image(image_id)


def _read_ruler(conn: sqlite3.Connection, image_id: int | None) -> Calibration | None:
    if image_id is None:
        row = conn.execute(
            "SELECT mm_per_px, length_mm, line FROM calibrations WHERE image_id IS NULL"
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT mm_per_px, length_mm, line FROM calibrations WHERE image_id = ?",
            (int(image_id),),
        ).fetchone()
    return None if row is None else _ruler(*row)


def _check_pairs(pairs: Pairs, template_name: str) -> None:
    from spinegui.core.templates import get_template

    n = get_template(template_name).n_vertebrae
    for upper, lower in pairs:
        if upper == lower or not (0 <= upper < n and 0 <= lower < n):
            raise LandmarkError(
                f"End vertebrae {upper} and {lower} do not make a curve of this image.",
                "Choose two different vertebrae of the image's template.",
            )
