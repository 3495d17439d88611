"""Prediction requests and results for the review window, apart from its widgets.

The inference service runs the model in its thread; this controller decides
what to ask it (the shown image when it has no prediction yet, every image on
"Predict all", everything again after a model change), stores what comes back
through the review session whether or not it is still shown, and tells the
window what to say through signals, so the window only connects them to its
status bar, notice bar and progress bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from spinegui.core.errors import SpineguiError
from spinegui.core.review import ReviewSession
from spinegui.gui import timing

NO_MODEL_NOTE = (
    "No model yet: red predicted boxes cannot be drawn. You can still place and correct "
    "landmarks by hand. Train a model with 'spinegui train' (or wait for the shipped model)."
)


class PredictionController(QObject):
    """Asks the inference service for predictions and routes its answers."""

    status = Signal(str, int)
    """A status-bar message and how long to show it (ms, 0: until replaced)."""
    notice = Signal(str, str)
    """A message for the notice bar and its kind ("info" or "warning")."""
    modelText = Signal(str, str)
    """The status bar's model label and its tooltip."""
    batchChanged = Signal(bool)
    batchProgress = Signal(int, int)
    predictionDrawn = Signal(int)

    def __init__(self, session: ReviewSession, inference, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.inference = inference
        self.waiting_for: int | None = None
        """Image id whose prediction is being computed for display, if any."""
        self.batch_running = False
        self._loaded_model: Path | None = None
        s = inference
        s.predictionReady.connect(self.prediction_ready)
        s.failed.connect(self.prediction_failed)
        s.modelLoaded.connect(lambda version, device: self.modelText.emit(
            f"Model {version} · {device}", f"Model {version}, running on {device}"
        ))  # fmt: skip
        s.batchProgress.connect(self.batchProgress)
        s.batchFinished.connect(self._batch_finished)

    # ------------------------------------------------------------------ model

    def _active_model(self):
        project = self.session.project
        return None if project is None else project.active_model()

    def project_changed(self) -> None:
        """A project was opened or closed: forget what was waited for, say which model."""
        if self.batch_running:
            self.cancel()
        self.waiting_for = None
        if self.session.project is None:
            self.modelText.emit("No project open", "")
            return
        model = self._active_model()
        if model is None:
            self.modelText.emit("No model yet", NO_MODEL_NOTE)
        elif not model.path.is_file():
            self.modelText.emit(
                f"Model {model.version}: file missing",
                f"{model.path} is missing; predictions are off.",
            )
        else:
            self.modelText.emit(
                f"Model {model.version}", f"{model.path}\nLoads when the first prediction runs."
            )

    def _ensure_model(self) -> bool:
        """Point the worker at the active model; False (and a note) when there is none."""
        model = self._active_model()
        if model is None or not model.path.is_file():
            state = self.session.state
            if state is not None and state.prediction is None:
                self.notice.emit(NO_MODEL_NOTE, "info")
            return False
        if self._loaded_model != model.path:
            self.inference.set_model(
                model.path,
                version=model.version,
                expected_template=self.session.project.template.name,
            )
            self._loaded_model = model.path
            self.modelText.emit(f"Model {model.version} (loading…)", str(model.path))
        return True

    def model_adopted(self, version: str) -> None:
        """A retrained (or rolled-back) model became active: predict again with it."""
        self.project_changed()
        self.notice.emit(
            f"Model {version} is now active. Predictions are being refreshed with it.", "info"
        )
        self.session.reload()
        self.session.refresh_entries()
        self.request(force=False)
        self.predict_all()

    # --------------------------------------------------------------- requests

    def request(self, force: bool = False) -> None:
        """Predict the shown image, unless it already has a prediction (``force``: anyway)."""
        s = self.session
        if s.project is None or s.current_id is None or s.state is None:
            return
        if not force and s.state.prediction is not None:
            return
        if not self._ensure_model():
            return
        self.waiting_for = s.current_id
        self.inference.request(s.current_id, s.state.record.path, s.image)
        self.status.emit("Predicting landmarks…", 0)

    def predict_all(self) -> None:
        s = self.session
        if s.project is None:
            return
        if not self._ensure_model():
            self.status.emit("No model to predict with.", 5000)
            return
        missing = [e.image_id for e in s.worklist.entries.values() if not e.has_prediction]
        items = [(r.id, r.path) for r in s.project.images() if r.id in set(missing)]
        if not items:
            self.status.emit("Every image already has a prediction.", 5000)
            return
        self.batch_running = True
        self.batchChanged.emit(True)
        self.batchProgress.emit(0, len(items))
        self.inference.predict_all(items)

    def cancel(self) -> None:
        if self.batch_running:
            self.inference.cancel_batch()
            self.status.emit("Cancelling predictions…", 0)

    # ---------------------------------------------------------------- results

    def prediction_ready(self, result) -> None:
        s = self.session
        if s.project is None:
            return
        try:
            if not s.record_prediction(result):
                return  # an image of the previously open project: not ours to draw
        except SpineguiError as exc:
            self.prediction_failed(result.image_id, exc.message)
            return
        if result.image_id != s.current_id or self._active_model() is None:
            return  # stored, not drawn: the user has moved on
        if self.waiting_for == result.image_id:
            self.waiting_for = None
            took = (
                f"{result.seconds * 1000:.0f} ms"
                if result.seconds < 1
                else f"{result.seconds:.1f} s"
            )
            self.status.emit(f"Prediction ready ({took}).", 4000)
        timing.mark("first_prediction_drawn")
        self.predictionDrawn.emit(result.image_id)

    def prediction_failed(self, image_id: int, message: str) -> None:
        if image_id == self.waiting_for or image_id == -1:
            self.waiting_for = None
        self.status.emit(f"Prediction failed: {message}", 10000)
        if image_id == -1 or image_id == self.session.current_id:
            self.notice.emit(f"Prediction failed: {message}", "warning")
        if image_id == -1:
            self._loaded_model = None  # let the next request try to load it again

    def _batch_finished(self, completed: bool) -> None:
        if self.inference.batch_running:
            return  # a replaced batch ended; the one that replaced it is still running
        self.batch_running = False
        self.batchChanged.emit(False)
        self.status.emit(
            "All images predicted." if completed else "Predictions cancelled; finished ones kept.",
            8000,
        )

    def is_settled(self) -> bool:
        """True when nothing the user is waiting to see is still being computed."""
        return self.waiting_for is None and not self.batch_running
