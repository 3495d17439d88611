"""Ground truth, predictions, review status and the edit history of a project.

Each edit method is one transaction that changes the current value *and*
appends its history row, so the two can never disagree, and returns the value
it replaced: a QUndoStack command keeps that and undoes by calling the store
again (``set_vertebra`` / ``move_corner`` with the old value), which is
itself a new, logged edit. Nothing here ever rewrites history.

Any corner or vertebra edit marks the ground truth's source "manual": after a
person has touched it, it is no longer the imported or predicted array.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spinegui.core.errors import LandmarkError, ProjectConflict, StoreError
from spinegui.core.landmarks import MAX_COORDINATE, as_landmarks
from spinegui.core.store.db import (
    decoding,
    local_time,
    unknown_image,
    unknown_model,
    utc_now,
)
from spinegui.core.store.records import GROUND_TRUTH_KINDS, SOURCES, STATUSES, Edit, Prediction
from spinegui.core.templates import CORNERS, get_template

if TYPE_CHECKING:
    from spinegui.core.store.project import Project

_EDIT_SELECT = "SELECT id, at, user, image_id, kind, vertebra, corner, before, after FROM edits"

ANY = object()
"""``expected=ANY`` (the default of whole-array edits): no precondition."""

SAME_TOLERANCE_PX = 1e-6
"""Positions within this are "unchanged": values pass through float64 blobs, JSON
and Qt, and only a real move by someone else should count as a change."""


def to_blob(points: np.ndarray) -> bytes:
    return np.ascontiguousarray(points, dtype="<f8").tobytes()


def from_blob(blob: bytes, *trailing: int) -> np.ndarray:
    try:
        return np.frombuffer(blob, dtype="<f8").reshape(-1, *trailing).copy()
    except (TypeError, ValueError) as exc:  # only a damaged file holds such a blob
        raise StoreError(
            "The project database holds damaged landmarks and cannot be read.",
            "Restore project.sqlite from a backup; spinegui will not overwrite it.",
        ) from exc


class AnnotationsMixin:
    """The annotation half of ``Project`` (split out only to keep modules short)."""

    # ---------------------------------------------------------------- ground truth

    def ground_truth(self: Project, image_id: int) -> np.ndarray | None:
        """(V,4,2) float64 landmarks, or None when the image has none yet."""
        rows = self._query(
            "read the ground truth",
            "SELECT g.points FROM images i LEFT JOIN ground_truth g ON g.image_id = i.id "
            "WHERE i.id = ?",
            (int(image_id),),
        )
        if not rows:
            raise unknown_image(image_id)
        return None if rows[0][0] is None else from_blob(rows[0][0], 4, 2)

    def set_ground_truth(
        self: Project,
        image_id: int,
        points,
        source: str = "manual",
        kind: str = "set_all",
        *,
        expected=ANY,
    ) -> np.ndarray | None:
        """Replace all landmarks of an image; returns the previous array (or None).

        ``expected`` (an array, or None for "no landmarks yet") is the state
        the caller based the edit on; if the image holds something else now,
        ``ProjectConflict`` is raised and nothing is saved. Every edit method
        takes it: it is how two windows avoid writing over each other, and how
        an undo refuses to revert an edit someone else has built on since.
        """
        if source not in SOURCES:
            raise StoreError(f"Unknown landmark source {source!r}.", f"Use one of {SOURCES}.")
        if kind not in GROUND_TRUTH_KINDS:
            raise StoreError(
                f"{kind!r} is not a whole-array edit.", f"Use one of {GROUND_TRUTH_KINDS}."
            )
        with self._write("save the landmarks") as conn:
            template, before = _ground_truth_for_update(conn, image_id)
            _check_whole(conn, image_id, before, expected)
            after = as_landmarks(points, template)
            _store_ground_truth(conn, image_id, after, source)
            self._log(
                conn,
                int(image_id),
                kind,
                before=None if before is None else before.tolist(),
                after=after.tolist(),
            )
        return before

    def clear_ground_truth(self: Project, image_id: int, *, expected=ANY) -> np.ndarray | None:
        """Remove an image's landmarks (to undo the edit that created them).

        Logged like every edit, so the history still shows what was there.
        Returns the removed array, or None when there was nothing to remove.
        """
        with self._write("remove the landmarks") as conn:
            _template, before = _ground_truth_for_update(conn, image_id)
            _check_whole(conn, image_id, before, expected)
            if before is None:
                return None
            conn.execute("DELETE FROM ground_truth WHERE image_id = ?", (int(image_id),))
            self._log(conn, int(image_id), "clear", before=before.tolist(), after=None)
        return before

    def accept_prediction(
        self: Project, image_id: int, model_version: str | None = None, *, expected=ANY
    ) -> np.ndarray | None:
        """Make a model's prediction (default: the active model's) the ground truth."""
        with self._write("accept the prediction") as conn:
            version = model_version or _active_version(conn)
            row = conn.execute(
                "SELECT points FROM predictions WHERE image_id = ? AND model_version = ?",
                (int(image_id), version),
            ).fetchone()
            if row is None:
                raise StoreError(
                    f"Image {image_id} has no prediction from model {version}.",
                    "Run the model on this image first.",
                )
            template, before = _ground_truth_for_update(conn, image_id)
            _check_whole(conn, image_id, before, expected)
            after = as_landmarks(from_blob(row[0], 4, 2), template)
            _store_ground_truth(conn, image_id, after, "accepted_prediction")
            self._log(
                conn,
                int(image_id),
                "accept_prediction",
                before=None if before is None else before.tolist(),
                after=after.tolist(),
            )
        return before

    def move_corner(
        self: Project, image_id: int, vertebra: int, corner: int, xy, *, expected=None
    ) -> np.ndarray:
        """Put one corner at ``xy``; returns its previous (2,) position.

        ``expected``: the (2,) position the edit was based on (see
        ``set_ground_truth``); None for no precondition.
        """
        target = _finite(xy, (2,), "corner position")
        with self._write("save the corner") as conn:
            template, gt = _editable(conn, image_id)
            v, c = _vertebra_index(vertebra, template), _corner_index(corner)
            before = gt[v, c].copy()
            _check_part(conn, image_id, template, v, before, expected, (2,))
            gt[v, c] = target
            _store_ground_truth(conn, image_id, gt, "manual")
            self._log(
                conn,
                int(image_id),
                "move_corner",
                vertebra=v,
                corner=c,
                before=before.tolist(),
                after=target.tolist(),
            )
        return before

    def move_vertebra(
        self: Project, image_id: int, vertebra: int, dxdy, *, expected=None
    ) -> np.ndarray:
        """Shift a whole vertebra; returns its previous (4,2) corners (undo: set_vertebra).

        ``expected``: the (4,2) corners the edit was based on, or None.
        """
        shift = _finite(dxdy, (2,), "shift")
        return self._replace_vertebra(
            image_id, vertebra, "move_vertebra", lambda q: q + shift, expected
        )

    def set_vertebra(
        self: Project, image_id: int, vertebra: int, corners, *, expected=None
    ) -> np.ndarray:
        """Set a vertebra's four corners (TL, TR, BL, BR); returns the previous (4,2).

        ``expected``: the (4,2) corners the edit was based on, or None.
        """
        new = _finite(corners, (4, 2), "vertebra corners")
        return self._replace_vertebra(image_id, vertebra, "set_vertebra", lambda q: new, expected)

    def _replace_vertebra(self: Project, image_id, vertebra, kind, change, expected):
        with self._write("save the vertebra") as conn:
            template, gt = _editable(conn, image_id)
            v = _vertebra_index(vertebra, template)
            before = gt[v].copy()
            _check_part(conn, image_id, template, v, before, expected, (4, 2))
            gt[v] = change(before)
            _store_ground_truth(conn, image_id, gt, "manual")
            self._log(
                conn,
                int(image_id),
                kind,
                vertebra=v,
                before=before.tolist(),
                after=gt[v].tolist(),
            )
        return before

    # --------------------------------------------------------------------- review

    def set_status(self: Project, image_id: int, status: str, *, expected=None) -> str:
        """Set the review status; "reviewed" records who and when. Returns the old status.

        ``expected``: the status the change was based on, or None.
        """
        if status not in STATUSES:
            raise StoreError(f"Unknown review status {status!r}.", f"Use one of {STATUSES}.")
        reviewed = status == "reviewed"
        with self._write("save the review status") as conn:
            row = conn.execute(
                "SELECT status FROM images WHERE id = ?", (int(image_id),)
            ).fetchone()
            if row is None:
                raise unknown_image(image_id)
            if expected is not None and row[0] != expected:
                raise _conflict(conn, image_id, "the review status", ("status",), None)
            conn.execute(
                "UPDATE images SET status = ?, reviewer = ?, reviewed_at = ? WHERE id = ?",
                (
                    status,
                    self.user if reviewed else None,
                    utc_now() if reviewed else None,
                    int(image_id),
                ),
            )
            self._log(conn, int(image_id), "status", before=row[0], after=status)
        return row[0]

    def history(self: Project, image_id: int | None = None, *, limit: int | None = None):
        """Edits oldest first, of one image or of the whole project; ``limit``: the last n."""
        where, params = ("", ()) if image_id is None else (" WHERE image_id = ?", (int(image_id),))
        sql = _EDIT_SELECT + where + " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._query("read the edit history", sql, params)
        with decoding(self.db_path):
            return [
                Edit(i, at, user, img, kind, v, c, json.loads(b), json.loads(a))
                for (i, at, user, img, kind, v, c, b, a) in reversed(rows)
            ]

    # ---------------------------------------------------------------- predictions

    def set_prediction(
        self: Project,
        image_id: int,
        model_version: str,
        points,
        spread=None,
        *,
        image_sha256: str | None = None,
    ) -> None:
        """Store (or replace) a registered model's landmarks for an image.

        Predictions are machine output, recomputable, so they are not logged
        in the edit history; accepting one is. ``image_sha256``, the hash of
        the pixels that were predicted, is checked against the image's: a
        prediction made on a file replaced since it was added is refused.
        """
        with self._write("save the prediction") as conn:
            template = _image_template(conn, image_id)
            if image_sha256 is not None:
                _check_same_content(conn, image_id, image_sha256)
            pts = as_landmarks(points, template)
            spread_blob = None
            if spread is not None:
                s = _finite(spread, (len(template.vertebrae), 4), "prediction spread")
                if np.any(s < 0):
                    raise LandmarkError(
                        "A prediction spread is negative.",
                        "Spreads are standard deviations in pixels.",
                    )
                spread_blob = to_blob(s)
            if not conn.execute(
                "SELECT 1 FROM models WHERE version = ?", (model_version,)
            ).fetchone():
                raise unknown_model(model_version)
            conn.execute(
                "INSERT OR REPLACE INTO predictions "
                "(image_id, model_version, points, spread, created) VALUES (?,?,?,?,?)",
                (int(image_id), model_version, to_blob(pts), spread_blob, utc_now()),
            )

    def prediction(self: Project, image_id: int, model_version: str | None = None):
        """A model's prediction (default: the active model's), or None if there is none."""
        version_sql = (
            "?" if model_version is not None else ("(SELECT version FROM models WHERE active = 1)")
        )
        rows = self._query(
            "read the prediction",
            "SELECT i.id, p.model_version, p.points, p.spread, p.created FROM images i "
            "LEFT JOIN predictions p ON p.image_id = i.id AND p.model_version = "
            f"{version_sql} WHERE i.id = ?",
            ((model_version,) if model_version is not None else ()) + (int(image_id),),
        )
        if not rows:
            raise unknown_image(image_id)
        _, version, points, spread, created = rows[0]
        if points is None:
            return None
        return Prediction(
            int(image_id),
            version,
            from_blob(points, 4, 2),
            None if spread is None else from_blob(spread, 4),
            created,
        )


def _check_whole(conn: sqlite3.Connection, image_id, current, expected) -> None:
    if expected is ANY:
        return
    if expected is None or current is None:
        same = expected is None and current is None
    else:
        want = np.asarray(expected, dtype=np.float64)
        same = want.shape == current.shape and np.allclose(
            current, want, rtol=0, atol=SAME_TOLERANCE_PX
        )
    if not same:
        raise _conflict(conn, image_id, "the landmarks", _LANDMARK_KINDS, None)


def _check_part(conn, image_id, template, v: int, current, expected, shape) -> None:
    if expected is None:
        return
    want = _finite(expected, shape, "expected position")
    if not np.allclose(current, want, rtol=0, atol=SAME_TOLERANCE_PX):
        raise _conflict(conn, image_id, template.vertebrae[v], _LANDMARK_KINDS, v)


_LANDMARK_KINDS = ("move_corner", "move_vertebra", "set_vertebra", "clear", *GROUND_TRUTH_KINDS)


def _conflict(conn, image_id, what: str, kinds: tuple[str, ...], vertebra) -> ProjectConflict:
    """Name what changed, who changed it and when, from the newest matching history row."""
    marks = ",".join("?" * len(kinds))
    sql = f"SELECT user, at FROM edits WHERE image_id = ? AND kind IN ({marks})"
    params: list = [int(image_id), *kinds]
    if vertebra is not None:
        sql += " AND (vertebra = ? OR vertebra IS NULL)"
        params.append(int(vertebra))
    row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    name = conn.execute("SELECT abs_path FROM images WHERE id = ?", (int(image_id),)).fetchone()
    image = Path(name[0]).name if name else f"image {image_id}"
    who = f" by {row[0]} at {local_time(row[1], '%H:%M:%S')}" if row else ""
    return ProjectConflict(
        f"{what[0].upper()}{what[1:]} of {image} changed{who} after your edit began "
        "(another window or program has this project open), so your edit was not saved.",
        "The image now shows the current version; make your change again if it is still needed.",
    )


def _image_template(conn: sqlite3.Connection, image_id):
    row = conn.execute("SELECT template FROM images WHERE id = ?", (int(image_id),)).fetchone()
    if row is None:
        raise unknown_image(image_id)
    return get_template(row[0])


def _check_same_content(conn: sqlite3.Connection, image_id, sha256: str) -> None:
    stored, path = conn.execute(
        "SELECT sha256, abs_path FROM images WHERE id = ?", (int(image_id),)
    ).fetchone()
    if str(sha256).lower() != stored:
        raise StoreError(
            f"{path} has changed on disk since it was added; a prediction made on the new "
            "file is not stored for the old one.",
            "Put the original file back, or add the new file as a new image.",
        )


def _ground_truth_for_update(conn: sqlite3.Connection, image_id):
    template = _image_template(conn, image_id)
    row = conn.execute(
        "SELECT points FROM ground_truth WHERE image_id = ?", (int(image_id),)
    ).fetchone()
    return template, None if row is None else from_blob(row[0], 4, 2)


def _editable(conn: sqlite3.Connection, image_id):
    template, gt = _ground_truth_for_update(conn, image_id)
    if gt is None:
        raise StoreError(
            f"Image {image_id} has no landmarks to edit yet.",
            "Accept a prediction or import landmarks first.",
        )
    return template, gt


def _store_ground_truth(conn: sqlite3.Connection, image_id, points: np.ndarray, source: str):
    conn.execute(
        "INSERT INTO ground_truth (image_id, points, source, updated) VALUES (?,?,?,?) "
        "ON CONFLICT (image_id) DO UPDATE SET points = excluded.points, "
        "source = excluded.source, updated = excluded.updated",
        (int(image_id), to_blob(points), source, utc_now()),
    )


def _active_version(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT version FROM models WHERE active = 1").fetchone()
    if row is None:
        raise StoreError("No model is active.", "Choose a model in the model list first.")
    return row[0]


def _finite(values, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = np.full(shape, np.nan)
    finite = arr.shape == shape and np.all(np.isfinite(arr))
    if not finite or np.abs(arr).max(initial=0.0) > MAX_COORDINATE:
        raise LandmarkError(
            f"The {what} must be {shape} finite numbers within {MAX_COORDINATE:g} px, "
            f"got {values!r}.",
            "This is a bug in the caller; nothing was saved.",
        )
    return arr


def _vertebra_index(vertebra: int, template) -> int:
    v = int(vertebra)
    if not 0 <= v < template.n_vertebrae:
        raise LandmarkError(
            f"Vertebra index {vertebra} is outside template {template.name}.",
            f"Use 0 to {template.n_vertebrae - 1}.",
        )
    return v


def _corner_index(corner: int) -> int:
    c = int(corner)
    if not 0 <= c < len(CORNERS):
        raise LandmarkError(f"Corner index {corner} does not exist.", "Use 0-3 for TL, TR, BL, BR.")
    return c
