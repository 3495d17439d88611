"""The window's review commands: accept, sign off, undo, end vertebrae, rulers.

Each command asks the session to do it and says in the status bar what
happened; anything the store refuses is shown with its message and hint.
The work itself (what changes, what one undo step holds) is the session's.
"""

from __future__ import annotations

import math

from PySide6.QtWidgets import QInputDialog, QMessageBox

from spinegui.core.calibration import Calibration
from spinegui.core.errors import SpineguiError
from spinegui.gui.dialogs import show_error


class ReviewActionsMixin:
    """Review commands of MainWindow; relies on its session, canvas and status bar."""

    def _run(self, title: str, call):
        """Do ``call``; a refused change is explained (the views already show the store)."""
        try:
            return call()
        except SpineguiError as exc:
            self._edit_failed(exc, title)
            return None

    def _edit_failed(self, exc: SpineguiError, title: str = "The change was not saved") -> None:
        self.statusBar().showMessage(f"Not saved: {exc.message}", 10000)
        show_error(self, title, exc)

    def _has_image(self) -> bool:
        return self.session.state is not None

    # ------------------------------------------------------------- undo, redo

    def undo(self) -> None:
        text = self.session.history.undo_text()
        if self._run("Could not undo", self.session.undo):
            self.statusBar().showMessage(f"Undone: {text} (Ctrl+Shift+Z redoes it).", 5000)

    def redo(self) -> None:
        text = self.session.history.redo_text()
        if self._run("Could not redo", self.session.redo):
            self.statusBar().showMessage(f"Redone: {text}.", 5000)

    # ---------------------------------------------------------------- accept

    def accept_selected(self) -> None:
        v, _ = self.canvas.selection()
        if v < 0:
            self.statusBar().showMessage(
                "Select a vertebra first: click its box, or a row of the table.", 5000
            )
            return
        if self._run("Could not accept", lambda: self.session.accept_prediction(v)):
            name = self.session.names[v]
            self.statusBar().showMessage(f"Accepted the prediction for {name}.", 5000)

    def accept_all(self) -> None:
        if not self._has_image():
            return
        changed = self._run("Could not accept", self.session.accept_prediction)
        if changed is None:
            return
        if changed == 0:
            text = "The ground truth already equals the prediction: nothing changed."
        else:
            text = (
                f"Accepted the prediction for {changed} "
                f"{'vertebra' if changed == 1 else 'vertebrae'} (Ctrl+Z undoes it)."
            )
        self.statusBar().showMessage(text, 8000)

    # ---------------------------------------------------------------- status

    def set_status(self, status: str) -> None:
        if self._has_image():
            self._run("Could not change the status", lambda: self.session.set_status(status))

    def mark_reviewed_and_next(self) -> None:
        if not self._has_image():
            return
        name = self.session.state.record.path.name
        if self._run("Could not sign off", self.session.mark_reviewed_and_next) is not None:
            self.statusBar().showMessage(f"{name} marked reviewed.", 5000)
            return
        if self.session.state.record.status != "reviewed":
            return  # refused, and already explained
        left = self.session.worklist.remaining()
        self.statusBar().showMessage(
            f"{name} marked reviewed. That was the last image of the list"
            + (f"; {left} image(s) still to review." if left else "; all images reviewed."),
            8000,
        )

    # --------------------------------------------------------- end vertebrae

    def pick_ends(self) -> None:
        if self._has_image() and self.canvas.start_picking_ends():
            self.canvas.setFocus()

    def choose_ends(self, upper: int, lower: int) -> None:
        if not self._has_image():
            return
        before = self._automatic_curves()
        if self._run(
            "Could not measure that curve", lambda: self.session.choose_curve_ends(upper, lower)
        ):
            names = self.session.names
            a, b = sorted((upper, lower))
            text = f"Curve {names[a]}–{names[b]} measured between the end vertebrae you chose."
            # Every automatic curve it overlaps goes: say which, a large one may be among them.
            gone = [c for c in before if c not in self._automatic_curves()]
            if gone:
                text += (
                    " It replaces the automatic "
                    + " and ".join(f"{c.ends(names)} ({c.angle:.1f}°)" for c in gone)
                    + "."
                )
            self.statusBar().showMessage(text, 10000)

    def _automatic_curves(self) -> list:
        """The rules' curves on the landmarks the angles are read from (truth, else model)."""
        m = self.session.measurement()
        if m is None:
            return []
        curves = m.truth.curves or m.prediction.curves
        return [c for c in curves if not c.chosen_by_reader]

    def clear_ends(self) -> None:
        if self._has_image() and self._run(
            "Could not change the curves", self.session.clear_curve_ends
        ):
            self.statusBar().showMessage("The rules choose the end vertebrae again.", 5000)

    # ---------------------------------------------------------------- rulers

    def start_ruler(self) -> None:
        if self._has_image() and self.canvas.start_ruler():
            self.canvas.setFocus()

    def ruler_drawn(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Ask what the drawn line measures; the line stays on the image while asking."""
        try:
            self._calibrate_with_line(x0, y0, x1, y1)
        finally:
            self.canvas.tools.hide_line()

    def _calibrate_with_line(self, x0: float, y0: float, x1: float, y1: float) -> None:
        pixels = math.hypot(x1 - x0, y1 - y0)
        length, ok = QInputDialog.getDouble(
            self,
            "Calibrate",
            f"The dashed line is {pixels:.0f} pixels long.\n"
            "How long is what it covers, in millimetres?",
            100.0,
            0.1,
            5000.0,
            1,
        )
        if not ok:
            return
        try:
            ruler = Calibration.from_line(x0, y0, x1, y1, length)
        except SpineguiError as exc:
            show_error(self, "The ruler cannot be used", exc)
            return
        answer = QMessageBox.question(
            self,
            "Calibrate",
            f"{ruler.mm_per_px:.4f} mm per pixel.\n\nUse this scale for every image of the "
            "project that has no scale of its own? (No: this image only.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        for_project = answer == QMessageBox.StandardButton.Yes
        if self._run(
            "Could not save the ruler",
            lambda: self.session.calibrate(ruler, for_project=for_project),
        ):
            where = "the project" if for_project else "this image"
            self.statusBar().showMessage(
                f"Calibrated {where}: {ruler.mm_per_px:.4f} mm per pixel.", 8000
            )

    def remove_ruler(self) -> None:
        if self._has_image() and self._run(
            "Could not remove the ruler", lambda: self.session.calibrate(None)
        ):
            self.statusBar().showMessage("This image's ruler was removed.", 5000)
