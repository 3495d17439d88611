"""Undoable, durable edits: every correction is one QUndoCommand over the project store.

Split as SLEAP splits its commands: the *steps* below change the store and
know nothing of Qt, so they run in plain tests; ``EditController`` wraps a
list of steps into one QUndoCommand. The first application happens before
the command is pushed, so a failed write (disk full, locked file) is reported
and nothing half-done lands on the undo stack. Every undo and redo is itself
a logged, durable store write: the history records what the user saw.

An edit on an image without ground truth starts the truth from the
prediction inside the same command, so a single undo returns to "no truth".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from spinegui.core.errors import SpineguiError
from spinegui.core.store import Project
from spinegui.core.templates import CORNER_NAMES, CORNERS, get_template

STATUS_WORDS = {"not_started": "not started", "in_review": "in review", "reviewed": "reviewed"}

# ------------------------------------------------------------------- Qt-free steps


@dataclass
class CornerStep:
    image_id: int
    v: int
    c: int
    after: np.ndarray
    before: np.ndarray | None = None  # filled in by the store on first apply

    def apply(self, project: Project) -> None:
        before = project.move_corner(self.image_id, self.v, self.c, self.after)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.move_corner(self.image_id, self.v, self.c, self.before)


@dataclass
class VertebraStep:
    image_id: int
    v: int
    after: np.ndarray
    before: np.ndarray | None = None

    def apply(self, project: Project) -> None:
        current = project.ground_truth(self.image_id)[self.v]
        shift = self.after - current
        if np.allclose(shift, shift[0]):  # a pure translation reads better in the history
            before = project.move_vertebra(self.image_id, self.v, shift[0])
        else:
            before = project.set_vertebra(self.image_id, self.v, self.after)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.set_vertebra(self.image_id, self.v, self.before)


@dataclass
class TruthStep:
    """Replace the whole truth; ``before`` None means the image had none."""

    image_id: int
    after: np.ndarray
    source: str
    kind: str
    before: np.ndarray | None = None
    before_source: str | None = None
    _captured: bool = field(default=False, repr=False)

    def apply(self, project: Project) -> None:
        if not self._captured:
            self.before_source = project.image(self.image_id).gt_source
        before = project.set_ground_truth(self.image_id, self.after, self.source, self.kind)
        if not self._captured:
            self.before, self._captured = before, True

    def revert(self, project: Project) -> None:
        if self.before is None:
            project.clear_ground_truth(self.image_id)
        else:
            source = self.before_source or "manual"
            project.set_ground_truth(self.image_id, self.before, source, "set_all")


@dataclass
class StatusStep:
    image_id: int
    after: str
    before: str | None = None

    def apply(self, project: Project) -> None:
        before = project.set_status(self.image_id, self.after)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.set_status(self.image_id, self.before)


def apply_steps(project: Project, steps) -> None:
    """Apply in order; if one fails, revert the ones already done, then re-raise."""
    done = []
    try:
        for step in steps:
            step.apply(project)
            done.append(step)
    except BaseException:
        for step in reversed(done):
            with contextlib.suppress(SpineguiError):  # the first error is the one to show
                step.revert(project)
        raise


def revert_steps(project: Project, steps) -> None:
    for step in reversed(steps):
        step.revert(project)


# ------------------------------------------------------------------------- Qt part


class _StoreCommand(QUndoCommand):
    """One undo step: a list of store steps, already applied when pushed."""

    def __init__(self, controller: EditController, image_id: int, steps: list, text: str) -> None:
        super().__init__(text)
        self._controller = controller
        self._image_id = image_id
        self._steps = steps
        self._applied = True

    def redo(self) -> None:
        if self._applied:  # QUndoStack.push calls redo(); the first one already happened
            return
        self._controller._run(self._image_id, self._steps, apply_steps)
        self._applied = True

    def undo(self) -> None:
        self._controller._run(self._image_id, self._steps, revert_steps)
        self._applied = False


class EditController(QObject):
    """Turns user corrections into undoable, durable store edits.

    Signals fire after the store has the change, on do, undo and redo alike:
    whoever shows the image reloads it from the store then.
    ``editFailed(message, hint)`` reports a write that did not happen.
    """

    landmarksChanged = Signal(int)
    statusChanged = Signal(int, str)
    editFailed = Signal(str, str)

    def __init__(
        self, project: Project, undo_stack: QUndoStack, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.undo_stack = undo_stack

    # --------------------------------------------------------------- edits

    def move_corner(self, image_id: int, v: int, c: int, before, after, *, prediction=None) -> bool:
        """One corner dragged or nudged. ``prediction`` starts the truth if there is none."""
        del before  # the store reports the true previous position
        step = CornerStep(image_id, int(v), int(c), np.asarray(after, dtype=np.float64))
        name = f"{self._vertebra_name(image_id, v)} {CORNER_NAMES[CORNERS[int(c)]]} corner"
        return self._edit(image_id, [step], f"Move {name}", prediction)

    def move_vertebra(self, image_id: int, v: int, before, after, *, prediction=None) -> bool:
        del before
        step = VertebraStep(image_id, int(v), np.asarray(after, dtype=np.float64))
        return self._edit(image_id, [step], f"Move {self._vertebra_name(image_id, v)}", prediction)

    def accept_prediction(
        self, image_id: int, prediction_points, vertebra: int | None = None
    ) -> bool:
        """Copy the prediction into the truth: one vertebra, or all when ``vertebra`` is None."""
        pred = np.asarray(prediction_points, dtype=np.float64)
        truth = self.project.ground_truth(image_id)
        if vertebra is None:
            if truth is not None and np.array_equal(truth, pred):
                return False
            step = TruthStep(image_id, pred, "accepted_prediction", "accept_prediction")
            return self._push(image_id, [step], "Accept the whole prediction", "landmarks")
        v = int(vertebra)
        if truth is not None and np.array_equal(truth[v], pred[v]):
            return False
        step = VertebraStep(image_id, v, pred[v])
        text = f"Accept prediction for {self._vertebra_name(image_id, v)}"
        return self._edit(image_id, [step], text, pred)

    def set_status(self, image_id: int, status: str) -> bool:
        """Change the review status as an undoable step (no-op when unchanged)."""
        if self.project.image(image_id).status == status:
            return False
        text = f"Mark {STATUS_WORDS.get(status, status)}"
        return self._push(image_id, [StatusStep(image_id, status)], text, "status")

    # ------------------------------------------------------------- plumbing

    def _edit(self, image_id: int, steps: list, text: str, prediction) -> bool:
        """Landmark edit; prepends "truth from prediction" when the image has no truth."""
        if self.project.ground_truth(image_id) is None:
            pred = prediction
            if pred is None:
                stored = self.project.prediction(image_id)
                pred = None if stored is None else stored.points
            if pred is None:
                self.editFailed.emit(
                    "This image has no landmarks to correct yet.",
                    "Run the model on it, or import landmarks, first.",
                )
                self.landmarksChanged.emit(image_id)
                return False
            start = TruthStep(
                image_id, np.asarray(pred, np.float64), "accepted_prediction", "accept_prediction"
            )
            steps = [start, *steps]
        return self._push(image_id, steps, text, "landmarks")

    def _push(self, image_id: int, steps: list, text: str, what: str) -> bool:
        name = self._image_name(image_id)
        try:
            apply_steps(self.project, steps)
        except SpineguiError as exc:
            self._failed(image_id, exc)
            return False
        self.undo_stack.push(_StoreCommand(self, image_id, steps, f"{text} ({name})"))
        self._notify(image_id, steps)
        return True

    def _run(self, image_id: int, steps: list, action: Callable) -> None:
        """Undo or redo. Errors cannot propagate through QUndoStack, so they are signalled."""
        try:
            action(self.project, steps)
        except SpineguiError as exc:
            self._failed(image_id, exc)
            return
        self._notify(image_id, steps)

    def _notify(self, image_id: int, steps: list) -> None:
        if any(not isinstance(s, StatusStep) for s in steps):
            self.landmarksChanged.emit(image_id)
        if any(isinstance(s, StatusStep) for s in steps):
            self.statusChanged.emit(image_id, self.project.image(image_id).status)

    def _failed(self, image_id: int, exc: SpineguiError) -> None:
        self.editFailed.emit(exc.message, exc.hint)
        self.landmarksChanged.emit(image_id)  # let the view show what the store really holds

    def _vertebra_name(self, image_id: int, v: int) -> str:
        names = get_template(self.project.image(image_id).template).vertebrae
        return names[int(v)] if 0 <= int(v) < len(names) else f"vertebra {int(v) + 1}"

    def _image_name(self, image_id: int) -> str:
        return self.project.image(image_id).path.name


def connect_canvas(canvas, controller: EditController, current_image: Callable[[], int | None]):
    """Wire a canvas to a controller: its releases become edits, store changes redraw it.

    ``current_image()`` gives the id of the image the canvas shows (None: none).
    Changes to other images (undo across images) are left to the caller, which
    typically switches to that image first.
    """

    def corner(v, c, before, after):
        image_id = current_image()
        if image_id is not None:
            controller.move_corner(image_id, v, c, before, after, prediction=canvas.prediction())

    def vertebra(v, before, after):
        image_id = current_image()
        if image_id is not None:
            controller.move_vertebra(image_id, v, before, after, prediction=canvas.prediction())

    def reload(image_id):
        if image_id == current_image():
            canvas.set_ground_truth(controller.project.ground_truth(image_id))

    canvas.cornerMoved.connect(corner)
    canvas.vertebraMoved.connect(vertebra)
    controller.landmarksChanged.connect(reload)
