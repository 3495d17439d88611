"""The review window's model without Qt: the open project, the shown image, the rules.

Everything the review window decides lives here, so it runs and is tested
without widgets (napari's layer/Qt split): which image is shown and which
comes next, what an edit changes (an edit on an image nobody touched yet also
puts it "in review", in the same undo step), what undo restores (undo shows
the image it changes), and what the image's angles are.

Views subscribe with ``subscribe(callback)`` and get a ``Change`` naming what
changed after the store holds it; they read what they draw from the session
(``state``, ``measurement()``), never from the store.

**Every write goes through ``_write``**: edits, undo, redo, predictions. That
is the one place to add checks against what another window or process
changed meanwhile. After a write the shown image is re-read with ONE
statement (``Project.review_state``) and its angles are computed ONCE, in
``measurement()``, however many views show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinegui.core.curves import EMPTY, CurveSet, measure_curves
from spinegui.core.errors import SpineguiError
from spinegui.core.imageio import LoadedImage, load_image
from spinegui.core.review.history import UndoEntry, UndoHistory
from spinegui.core.review.measurement import Measurement, combine
from spinegui.core.review.predictions import PredictionResult, store_result
from spinegui.core.review.reader import ReaderChoicesMixin
from spinegui.core.review.steps import (
    CALIBRATION,
    ENDS,
    LANDMARKS,
    STATUS,
    CornerStep,
    StatusStep,
    TruthStep,
    VertebraStep,
    apply_steps,
    changes_of,
    revert_steps,
)
from spinegui.core.review.worklist import Worklist, entry_from_row, mean_spread
from spinegui.core.store import Project
from spinegui.core.store.readings import ReviewState
from spinegui.core.templates import CORNER_NAMES, CORNERS, get_template

__all__ = [
    "CALIBRATION",
    "ENDS",
    "ENTRIES",
    "HISTORY",
    "IMAGE",
    "LANDMARKS",
    "PREDICTION",
    "PROJECT",
    "STATUS",
    "Change",
    "ReviewSession",
]

STATUS_WORDS = {"not_started": "not started", "in_review": "in review", "reviewed": "reviewed"}

# What a Change names: the step kinds (landmarks, status, ends, calibration) and these.
PROJECT, ENTRIES, IMAGE = "project", "entries", "image"
PREDICTION, HISTORY = "prediction", "history"


@dataclass(frozen=True)
class Change:
    """What changed: ``kinds`` from the names above; ``image_id`` the image it concerns."""

    kinds: frozenset[str]
    image_id: int | None = None

    def __contains__(self, kind: str) -> bool:
        return kind in self.kinds


class ReviewSession(ReaderChoicesMixin):
    """One open project under review; at most one image shown."""

    def __init__(self) -> None:
        self.project: Project | None = None
        self.worklist = Worklist()
        self.history = UndoHistory()
        self.current_id: int | None = None
        self.state: ReviewState | None = None
        self.image: LoadedImage | None = None
        self.load_error: SpineguiError | None = None
        self._truth_curves: CurveSet | None = None
        self._prediction_curves: CurveSet | None = None
        self._measurement: Measurement | None = None
        self._listeners: list[Callable[[Change], Any]] = []
        self._seen_version = self._seen_edit = 0

    # ----------------------------------------------------------------- listeners

    def subscribe(self, callback: Callable[[Change], Any]) -> None:
        self._listeners.append(callback)

    def _emit(self, kinds, image_id: int | None = None) -> None:
        change = Change(frozenset(kinds), image_id)
        for callback in list(self._listeners):
            callback(change)

    # ------------------------------------------------------------------- project

    def open(self, project: Project | None) -> None:
        """Review ``project`` (None: none). The session owns it and closes the previous one."""
        old, self.project = self.project, project
        if old is not None and old is not project:
            old.close()
        self.history.clear()
        self._forget_image()
        if project is not None:
            self._seen_version, self._seen_edit = project.data_version(), project.last_edit_id()
        self.refresh_entries(notify=False)
        self._emit({PROJECT, ENTRIES, HISTORY, IMAGE})

    def close(self) -> None:
        self.open(None)

    @property
    def names(self) -> tuple[str, ...]:
        """Vertebra names of the shown image's template."""
        if self.state is None:
            return ()
        return get_template(self.state.record.template).vertebrae

    # ------------------------------------------------------------------ worklist

    def refresh_entries(self, *, notify: bool = True) -> None:
        """Re-read the whole image list: after imports, model changes.

        Two statements: the images with their landmarks, and the DICOM identity
        of those that came from a PACS (whose patient the list names).
        """
        p = self.project
        rows = [] if p is None else p.worklist_rows()
        sources = {} if p is None or not rows else p.dicom_sources()
        self.worklist.set_entries([entry_from_row(r, sources.get(r.record.id)) for r in rows])
        if notify:
            self._emit({ENTRIES})

    def set_view(self, **view) -> None:
        """Filter, search text and sort of the list (see ``Worklist.set_view``)."""
        self.worklist.set_view(**view)
        self._emit({ENTRIES})

    def neighbour(self, step: int) -> int | None:
        return self.worklist.neighbour(self.current_id, step)

    # -------------------------------------------------------------- shown image

    def show(self, image_id: int) -> bool:
        """Show an image: one read of its state, then its pixels.

        False when the file cannot be read; ``load_error`` then says why, and
        the image is still the current one (its landmarks are safe in the store).
        """
        if self.project is None:
            return False
        state = self.project.review_state(image_id)
        self._forget_image()
        self.current_id, self.state = int(image_id), state
        try:
            self.image = load_image(state.record.path)
        except SpineguiError as exc:
            self.load_error = exc
        self._emit({IMAGE}, self.current_id)
        return self.load_error is None

    def _forget_image(self) -> None:
        self.current_id = self.state = self.image = self.load_error = None
        self._truth_curves = self._prediction_curves = self._measurement = None

    def reload(self) -> None:
        """Re-read the shown image's state (after a model change, say) and tell the views."""
        if self.current_id is not None:
            self._refresh_current({PREDICTION, LANDMARKS, ENDS, CALIBRATION})

    def measurement(self) -> Measurement | None:
        """The shown image's angles and per-vertebra figures, computed once per change."""
        s = self.state
        if s is None:
            return None
        if self._measurement is None:
            pred = s.prediction
            if self._truth_curves is None:
                self._truth_curves = measure_curves(
                    s.truth, s.record.height, self.names, s.curve_ends
                )
            if self._prediction_curves is None:
                self._prediction_curves = (
                    EMPTY
                    if pred is None
                    else measure_curves(pred.points, s.record.height, self.names, s.curve_ends)
                )
            self._measurement = combine(
                self.names,
                self._truth_curves,
                self._prediction_curves,
                s.truth,
                None if pred is None else pred.points,
                None if pred is None else pred.spread,
                s.spacing,
            )
        return self._measurement

    # --------------------------------------------------------------------- edits

    def move_corner(self, v: int, c: int, after, *, start_from=None) -> bool:
        """One corner dragged or nudged. ``start_from`` starts a missing truth (else the
        stored prediction does)."""
        image_id, truth = self._require_image(), self.state.truth
        base = None if truth is None else truth[int(v), int(c)].copy()
        step = CornerStep(image_id, int(v), int(c), np.asarray(after, np.float64), base=base)
        text = f"Move {self._vertebra_name(v)} {CORNER_NAMES[CORNERS[int(c)]]} corner"
        return self._landmark_edit([step], text, start_from)

    def move_vertebra(self, v: int, after, *, start_from=None) -> bool:
        image_id = self._require_image()
        after = np.asarray(after, np.float64)
        current = self.state.truth if self.state.truth is not None else start_from
        if current is None and self.state.prediction is not None:
            current = self.state.prediction.points
        shift = None
        if current is not None:
            delta = after - current[int(v)]
            if np.allclose(delta, delta[0]):
                shift = delta[0]
        base = None if self.state.truth is None else self.state.truth[int(v)].copy()
        step = VertebraStep(image_id, int(v), after, shift, base=base)
        return self._landmark_edit([step], f"Move {self._vertebra_name(v)}", start_from)

    def accept_prediction(self, vertebra: int | None = None) -> int:
        """Copy the prediction into the truth (one vertebra, or all); returns how many changed."""
        image_id = self._require_image()
        pred = self.state.prediction
        if pred is None:
            raise SpineguiError(
                "There is no prediction (red boxes) to accept yet.",
                "Wait for the model, or run it with Model > Predict this image again (F5).",
            )
        truth = self.state.truth
        if vertebra is None:
            changed = (
                len(pred.points)
                if truth is None
                else int((~np.all(truth == pred.points, axis=(1, 2))).sum())
            )
            if changed == 0:
                return 0
            step = TruthStep(
                image_id, pred.points, "accepted_prediction", "accept_prediction", base=truth
            )
            self._commit(self._with_status([step]), "Accept the whole prediction")
            return changed
        v = int(vertebra)
        if truth is not None and np.array_equal(truth[v], pred.points[v]):
            return 0
        base = None if truth is None else truth[v].copy()
        step = VertebraStep(image_id, v, pred.points[v].copy(), base=base)
        text = f"Accept prediction for {self._vertebra_name(v)}"
        return 1 if self._landmark_edit([step], text, pred.points) else 0

    def set_status(self, status: str) -> bool:
        """Change the shown image's review status as an undo step (no-op when unchanged)."""
        image_id = self._require_image()
        if self.state.record.status == status:
            return False
        step = StatusStep(image_id, status, base=self.state.record.status)
        self._commit([step], f"Mark {STATUS_WORDS.get(status, status)}")
        return True

    def mark_reviewed_and_next(self) -> int | None:
        """Sign the shown image off and show the next one; returns it (None: none left)."""
        target = self.neighbour(+1)
        self.set_status("reviewed")
        if target is not None and target != self.current_id:
            self.show(target)
            return target
        return None

    # ---------------------------------------------------------------- undo, redo

    def undo(self) -> bool:
        """Undo the last action, showing its image first when another one is shown."""
        return self._travel(self.history.next_undo(), revert_steps, self.history.undone)

    def redo(self) -> bool:
        return self._travel(self.history.next_redo(), apply_steps, self.history.redone)

    def _travel(self, entry: UndoEntry | None, action, moved) -> bool:
        if entry is None or self.project is None:
            return False
        if entry.image_id != self.current_id:
            self.show(entry.image_id)
        try:
            self._write(lambda project: action(project, entry.steps))
        except SpineguiError:
            self._refresh_current(changes_of(entry.steps))  # show what the store holds
            raise
        moved()
        self._refresh_current(changes_of(entry.steps) | {HISTORY})
        return True

    # --------------------------------------------------------------- predictions

    def record_prediction(self, result: PredictionResult) -> bool:
        """Store a model's result (shown or not); False when it belongs to another project."""
        if self.project is None:
            return False
        if not self._write(lambda project: store_result(project, result)):
            return False
        if result.image_id == self.current_id:
            self._refresh_current({PREDICTION})
        else:
            entry = self.worklist.entries.get(result.image_id)
            if entry is not None:
                changes = {"uncertainty": mean_spread(result.spread), "has_prediction": True}
                if not entry.has_truth:
                    rec = self.project.image(result.image_id)
                    names = get_template(rec.template).vertebrae
                    angle = measure_curves(result.landmarks, rec.height, names).main_angle
                    changes["main_cobb"] = angle
                    changes["main_cobb_from"] = None if angle is None else "prediction"
                self.worklist.update(result.image_id, **changes)
            self._emit({ENTRIES}, result.image_id)
        return True

    # ------------------------------------------------------------------ plumbing

    def _write(self, change: Callable[[Project], Any]) -> Any:
        """The one place the session writes to the store (see the module docstring).

        Every edit step names the state it is based on, so the store refuses
        (``ProjectConflict``) one that another window or process has overtaken;
        the caller re-reads and shows the current state with the message.
        """
        return change(self.project)

    def check_for_changes(self) -> bool:
        """Re-read what another window or process committed since the last look.

        Cheap when nothing changed (SQLite's ``data_version``), so the window
        calls it on focus and on a timer. Returns True when something was
        re-read: the worklist, and the shown image's state.
        """
        if self.project is None:
            return False
        version = self.project.data_version()
        if version == self._seen_version:
            return False
        self._seen_version = version
        changed = self.project.changed_images(self._seen_edit)  # our own edits too: harmless
        self._seen_edit = self.project.last_edit_id()
        self.refresh_entries()
        if self.current_id is not None:
            try:
                self.project.image(self.current_id)
            except SpineguiError:  # removed elsewhere: nothing left to show
                self._forget_image()
                self._emit({IMAGE})
                return True
            kinds = {PREDICTION, LANDMARKS, STATUS, ENDS, CALIBRATION}
            self._refresh_current(kinds if self.current_id in changed else kinds - {LANDMARKS})
        return True

    def _require_image(self) -> int:
        if self.project is None or self.state is None:
            raise SpineguiError("No image is open.", "Open an image of the project first.")
        return self.current_id

    def _with_status(self, steps: list) -> list:
        """An edit on an image nobody started puts it "in review", in the same undo step."""
        if self.state.record.status == "not_started":
            return [*steps, StatusStep(self.current_id, "in_review", base="not_started")]
        return steps

    def _landmark_edit(self, steps: list, text: str, start_from) -> bool:
        """A landmark edit; prepends "truth from prediction" when the image has no truth."""
        if self.state.truth is None:
            pred = start_from
            if pred is None and self.state.prediction is not None:
                pred = self.state.prediction.points
            if pred is None:
                self._emit({LANDMARKS}, self.current_id)  # let the view drop its live edit
                raise SpineguiError(
                    "This image has no landmarks to correct yet.",
                    "Run the model on it, or import landmarks, first.",
                )
            start = TruthStep(
                self.current_id,
                np.asarray(pred, np.float64),
                "accepted_prediction",
                "accept_prediction",
                base=None,
            )
            steps = [start, *steps]
        self._commit(self._with_status(steps), text)
        return True

    def _commit(self, steps: list, text: str) -> None:
        """Apply an action's steps, record it for undo, re-read and tell the views."""
        image_id = self.current_id
        name = self.state.record.path.name
        try:
            self._write(lambda project: apply_steps(project, steps))
        except SpineguiError:
            self._refresh_current(changes_of(steps))
            raise
        self.history.push(UndoEntry(image_id, steps, f"{text} ({name})"))
        self._refresh_current(changes_of(steps) | {HISTORY})

    def _refresh_current(self, kinds) -> None:
        """One read of the shown image; only what changed is measured again."""
        kinds = set(kinds)
        self.state = self.project.review_state(self.current_id)
        if kinds & {LANDMARKS, ENDS}:
            self._truth_curves = None
        if kinds & {PREDICTION, ENDS}:
            self._prediction_curves = None
        self._measurement = None
        rec = self.state.record
        entry_changes = {"status": rec.status, "has_truth": rec.has_ground_truth}
        if PREDICTION in kinds:
            pred = self.state.prediction
            entry_changes["has_prediction"] = pred is not None
            entry_changes["uncertainty"] = None if pred is None else mean_spread(pred.spread)
        if kinds & {LANDMARKS, ENDS, PREDICTION}:
            angle, source = self.measurement().main_angle()
            entry_changes.update(main_cobb=angle, main_cobb_from=source)
        self.worklist.update(rec.id, **entry_changes)
        self._emit(kinds | {ENTRIES}, self.current_id)

    def _vertebra_name(self, v: int) -> str:
        names = self.names
        return names[int(v)] if 0 <= int(v) < len(names) else f"vertebra {int(v) + 1}"
