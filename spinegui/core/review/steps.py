"""The store changes an undo step is made of; each knows how to apply and revert itself.

Split as SLEAP splits its commands: a step changes the store and knows nothing
of Qt or of undo stacks, so it runs in plain tests. A step's ``before`` is
filled in by the store on first apply (the store returns the value it
replaced), so undo puts back what was really there, not what the view
believed. Every revert is itself a logged, durable store write: the history
records what the user saw.

Each step also passes the store the state it is based on (``base``: what the
person saw; on undo, what the step produced; on redo, what the undo put back),
so a step is refused with ``ProjectConflict`` when another window or process
changed that state meanwhile, instead of writing over their work.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from spinegui.core.calibration import Calibration
from spinegui.core.errors import SpineguiError
from spinegui.core.store import ANY, Project

LANDMARKS, STATUS, ENDS, CALIBRATION = "landmarks", "status", "ends", "calibration"
"""What a step changes, as the session reports it to its views."""


@dataclass
class CornerStep:
    image_id: int
    v: int
    c: int
    after: np.ndarray
    before: np.ndarray | None = None
    base: np.ndarray | None = None
    """The position the person saw and dragged from (None: not known, no check)."""
    changes = LANDMARKS

    def apply(self, project: Project) -> None:
        expected = self.base if self.before is None else self.before
        before = project.move_corner(self.image_id, self.v, self.c, self.after, expected=expected)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.move_corner(self.image_id, self.v, self.c, self.before, expected=self.after)


@dataclass
class VertebraStep:
    image_id: int
    v: int
    after: np.ndarray
    shift: np.ndarray | None = None
    """Set when the edit is a pure translation: it reads better in the history."""
    before: np.ndarray | None = None
    base: np.ndarray | None = None
    """The corners the person saw (None: not known, no check)."""
    changes = LANDMARKS

    def apply(self, project: Project) -> None:
        expected = self.base if self.before is None else self.before
        if self.shift is not None:
            before = project.move_vertebra(self.image_id, self.v, self.shift, expected=expected)
        else:
            before = project.set_vertebra(self.image_id, self.v, self.after, expected=expected)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        produced = self.after if self.shift is None else self.before + self.shift
        project.set_vertebra(self.image_id, self.v, self.before, expected=produced)


@dataclass
class TruthStep:
    """Replace the whole truth; ``before`` None means the image had none."""

    image_id: int
    after: np.ndarray
    source: str
    kind: str
    before: np.ndarray | None = None
    before_source: str | None = None
    base: object = ANY
    """The truth the person saw (None: none; ANY: not known, no check)."""
    _captured: bool = field(default=False, repr=False)
    changes = LANDMARKS

    def apply(self, project: Project) -> None:
        if not self._captured:
            self.before_source = project.image(self.image_id).gt_source
        expected = self.before if self._captured else self.base
        before = project.set_ground_truth(
            self.image_id, self.after, self.source, self.kind, expected=expected
        )
        if not self._captured:
            self.before, self._captured = before, True

    def revert(self, project: Project) -> None:
        if self.before is None:
            project.clear_ground_truth(self.image_id, expected=self.after)
        else:
            source = self.before_source or "manual"
            project.set_ground_truth(
                self.image_id, self.before, source, "set_all", expected=self.after
            )


@dataclass
class StatusStep:
    image_id: int
    after: str
    before: str | None = None
    base: str | None = None
    """The status the person saw (None: not known, no check)."""
    changes = STATUS

    def apply(self, project: Project) -> None:
        expected = self.base if self.before is None else self.before
        before = project.set_status(self.image_id, self.after, expected=expected)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.set_status(self.image_id, self.before, expected=self.after)


@dataclass
class EndsStep:
    """The end vertebrae a reader chose for an image's curves (empty: the rules choose)."""

    image_id: int
    after: tuple[tuple[int, int], ...]
    before: tuple[tuple[int, int], ...] | None = None
    base: object = ANY
    """The chosen ends the person saw (ANY: not known, no check)."""
    changes = ENDS

    def apply(self, project: Project) -> None:
        expected = self.base if self.before is None else self.before
        before = project.set_curve_ends(self.image_id, self.after, expected=expected)
        if self.before is None:
            self.before = before

    def revert(self, project: Project) -> None:
        project.set_curve_ends(self.image_id, self.before, expected=self.after)


@dataclass
class CalibrationStep:
    """A ruler for one image, or for the project when ``for_project``."""

    image_id: int
    after: Calibration | None
    for_project: bool = False
    before: Calibration | None = None
    base: object = ANY
    """The ruler the person saw (None: none; ANY: not known, no check)."""
    _captured: bool = field(default=False, repr=False)
    changes = CALIBRATION

    def apply(self, project: Project) -> None:
        expected = self.before if self._captured else self.base
        before = project.set_calibration(self._target, self.after, expected=expected)
        if not self._captured:
            self.before, self._captured = before, True

    def revert(self, project: Project) -> None:
        project.set_calibration(self._target, self.before, expected=self.after)

    @property
    def _target(self) -> int | None:
        return None if self.for_project else self.image_id


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


def changes_of(steps) -> frozenset[str]:
    return frozenset(step.changes for step in steps)
