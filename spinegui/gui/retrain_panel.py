"""The Retrain panel: teach the network from the images a person has reviewed.

After correcting the model's landmarks on some X-rays, a reviewer presses one
button, watches the new model learn, compares it with the current one on
images neither model learnt from, and chooses which to keep. Everything a
clinician must decide is explained in a sentence; everything a researcher
would set is there with the paper's defaults.

- The run is ``spinegui train --project ...`` in a child process
  (``TrainerProcess``): the window stays responsive, a trainer crash cannot
  lose work, and the logged command repeats the run in a terminal.
- The validation split is locked in the project (``spinegui.core.splits``)
  before the child starts, so every model is scored on the same unseen images.
- The active model changes only on "Use the new model"; Discard, Cancel and a
  failed run delete the candidate's files (see ``spinegui.ml.retrain``).

The dock holds ``RetrainDataBox``, ``RetrainSettingsBox``,
``RetrainProgressBox`` and ``RetrainResultBox`` around one ``RetrainRun``.
For the window: ``set_project``, ``refresh_later`` (after reviews),
``is_running``, ``shutdown`` and ``modelAdopted`` (also sent when a model is
re-activated from the model history).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import SpineguiError
from spinegui.core.model_card import read_model_card
from spinegui.core.splits import SplitPlan, apply_plan, project_plan
from spinegui.core.store import Project
from spinegui.gui.retrain_choice import RetrainChoiceMixin
from spinegui.gui.retrain_data import RetrainDataBox
from spinegui.gui.retrain_progress import RetrainProgressBox, format_eta
from spinegui.gui.retrain_result import RetrainResultBox
from spinegui.gui.retrain_run import RetrainRun
from spinegui.gui.retrain_settings import RetrainSettingsBox, model_preset
from spinegui.gui.trainer_process import TrainerProcess, describe_exit
from spinegui.ml.retrain import (
    RetrainSettings,
    new_version_name,
    parse_event,
    train_command,
)

__all__ = ["RetrainPanel", "format_eta"]

REFRESH_DELAY_MS = 300
"""Reviews arrive in bursts (sign off, next, sign off); recount once they settle."""
MESSAGE_STYLES = {
    "info": "",
    "ok": "background: #e3f4e1; color: #1d4d1a; border: 1px solid #8bc483; padding: 6px;",
    "error": "background: #fde7e7; color: #6b1111; border: 1px solid #d88; padding: 6px;",
}


class RetrainPanel(RetrainChoiceMixin, QDockWidget):
    """Dock with the retraining data summary, settings, live progress and the adopt choice."""

    modelAdopted = Signal(str, str)
    """(version, checkpoint path): the project's active model changed; refresh predictions."""
    runningChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Retrain the model", parent)
        self.setObjectName("RetrainPanel")
        self._project: Project | None = None
        self._plan: SplitPlan | None = None
        self._run: RetrainRun | None = None
        self._candidate: RetrainRun | None = None
        self._history_dialog = None
        self._stale = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self._refresh_if_stale)
        self._proc = TrainerProcess(self, parse_line=parse_event)
        self._proc.event.connect(self._on_event)
        self._proc.logLine.connect(self._log)
        self._proc.finished.connect(self._on_finished)
        self._build()
        self._update_enabled()

    # ------------------------------------------------------------------ public

    def set_project(self, project: Project | None) -> None:
        """Show ``project`` (or none). A run for the previous project is cancelled first."""
        if project is self._project:
            self.refresh()
            return
        if self.is_running():
            self.shutdown()
        self._forget_candidate()
        self._project = project
        self.settings_box.recall(project)
        self.progress_box.reset()
        self.result_box.setVisible(False)
        self.progress_box.setVisible(False)
        self._set_message("")
        self.refresh()

    def refresh(self) -> None:
        """Recount the reviewed images and the split (one read of the image list)."""
        self._stale = False
        self._plan = None
        if self._project is not None:
            try:
                self._plan = project_plan(self._project)
            except SpineguiError as exc:
                self._set_message(f"{exc.message}\n{exc.hint}", "error")
        self.data_box.show_plan(self._plan if self._project is not None else None)
        active = self._active_model()
        self.settings_box.set_active_model(active, model_preset(active))
        self._update_enabled()

    def refresh_later(self) -> None:
        """Reviews changed: recount soon if the panel is on screen, else when it is shown."""
        self._stale = True
        if self.isVisible():
            self._refresh_timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._refresh_timer.start()

    def _refresh_if_stale(self) -> None:
        if self._stale:
            self.refresh()

    @property
    def project(self) -> Project | None:
        return self._project

    def is_running(self) -> bool:
        return self._proc.is_running()

    def shutdown(self) -> None:
        """Cancel a run and wait for the trainer to end; safe to call at any time."""
        self._proc.shutdown()

    def settings(self) -> RetrainSettings:
        return self.settings_box.settings()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setSpacing(8)
        intro = QLabel(
            "Teach the network from the X-rays you have reviewed. The current model stays in "
            "use until you choose to switch."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.data_box = RetrainDataBox()
        self.data_label = self.data_box.data_label
        self.split_label = self.data_box.split_label
        self.shortage_label = self.data_box.shortage_label
        layout.addWidget(self.data_box)
        self.settings_box = RetrainSettingsBox()
        layout.addWidget(self.settings_box)

        buttons = QHBoxLayout()
        self.retrain_button = QPushButton("Retrain")
        font = QFont(self.retrain_button.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.retrain_button.setFont(font)
        self.retrain_button.setMinimumHeight(44)
        self.retrain_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.retrain_button.clicked.connect(self.start_retrain)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setMinimumHeight(44)
        self.cancel_button.setToolTip("Stop training. The current model stays as it is.")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.retrain_button, 3)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)

        self.progress_box = RetrainProgressBox()
        self.progress_box.setVisible(False)  # empty plots explain nothing; shown once started
        layout.addWidget(self.progress_box)
        self.result_box = RetrainResultBox()
        self.result_box.adoptClicked.connect(self.adopt)
        self.result_box.discardClicked.connect(self.discard)
        self.result_box.setVisible(False)
        layout.addWidget(self.result_box)

        self.history_button = QPushButton("Model history…")
        self.history_button.setToolTip(
            "Every model this project has used, how it was made and how well it did; switch "
            "back to an earlier one."
        )
        self.history_button.clicked.connect(self.show_history)
        layout.addWidget(self.history_button)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Text wraps to the dock's width; only the height scrolls.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.scroll_area = scroll
        self.progress_box.scroll_with(scroll)
        self.setWidget(scroll)

    # ------------------------------------------------------------------- state

    def _active_model(self):
        if self._project is None:
            return None
        try:
            return self._project.active_model()
        except SpineguiError:
            return None

    def _update_enabled(self) -> None:
        running = self.is_running()
        deciding = self._candidate is not None
        plan = self._plan
        ready = self._project is not None and plan is not None and plan.enough
        self.retrain_button.setEnabled(ready and not running and not deciding)
        if running:
            tip = "A retrain is running; wait for it or cancel it."
        elif deciding:
            tip = "First choose which model to keep, below."
        elif plan is not None and not plan.enough:
            tip = plan.shortage_message()
        else:
            tip = "Train a new model on the reviewed images. You can keep working meanwhile."
        self.retrain_button.setToolTip(tip)
        self.cancel_button.setEnabled(running)
        self.settings_box.set_running(running)
        self.history_button.setEnabled(self._project is not None)

    def _set_message(self, text: str, kind: str = "info") -> None:
        self.message_label.setStyleSheet(MESSAGE_STYLES.get(kind, ""))
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _log(self, line: str) -> None:
        self.progress_box.log(line)

    # ---------------------------------------------------------------- running

    def _build_command(self, settings, out: Path) -> tuple[str, list[str]]:
        """(program, arguments) of the trainer; tests replace this to simulate failures."""
        assert self._project is not None
        return train_command(self._project.folder, out, settings)

    def start_retrain(self) -> bool:
        """Start a run if possible; False (with a message on the panel) when not."""
        if self.is_running():
            self._set_message("A retrain is already running. Wait for it or cancel it.", "error")
            return False
        if self._project is None:
            self._set_message("Open a project first.", "error")
            return False
        if self._candidate is not None:
            self._set_message("First choose which model to keep (below).", "error")
            return False
        self.refresh()
        plan = self._plan
        if plan is None or not plan.enough:
            self._set_message(plan.shortage_message() if plan else "", "error")
            return False
        settings = self.settings()
        active = self._active_model()
        try:
            apply_plan(self._project, plan)  # lock validation before the child reads it
            version = new_version_name(self._project)
            self._project.models_dir.mkdir(parents=True, exist_ok=True)
        except (SpineguiError, OSError) as exc:
            msg = exc.message if isinstance(exc, SpineguiError) else str(exc)
            self._set_message(f"Retraining could not start: {msg}", "error")
            return False
        out = self._project.models_dir / f"{version}.safetensors"
        self.settings_box.remember(self._project, settings)
        program, args = self._build_command(settings, out)
        self._run = RetrainRun(
            version, out, settings, active.version if active is not None else None, plan
        )
        box = self.progress_box
        box.reset()
        self.result_box.setVisible(False)
        box.setVisible(True)
        box.log_view.clear()
        box.log("$ spinegui " + shlex.join(args[2:] if args[:2] == ["-m", "spinegui"] else args))
        box.log(
            f"Training {version} on {len(plan.train_ids)} images, validating on "
            f"{len(plan.val_ids)}."
        )
        box.status_label.setText("Starting the trainer and reading the images…")
        box.progress_bar.setRange(0, 0)  # busy until the first event sizes it
        self._set_message("")
        self._proc.start(program, args, cwd=str(self._project.folder))
        self._update_enabled()
        self.runningChanged.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the run; the trainer gets a few seconds to stop cleanly, then it is killed."""
        if self.is_running():
            self.progress_box.status_label.setText("Cancelling…")
            self._proc.cancel()

    def _on_event(self, event) -> None:
        run = self._run
        if run is None:
            return
        kind = getattr(event, "kind", None)
        if kind == "end":
            run.end = event
        elif kind == "comparison":
            run.comparison = event
        self.progress_box.show_event(run, event)

    def _on_finished(self, outcome: str, exit_code: int) -> None:
        run, self._run = self._run, None
        self.runningChanged.emit(False)
        if run is None:
            self._update_enabled()
            return
        if outcome == "finished" and run.succeeded and run.out.is_file():
            run.fingerprint = _fingerprint(run.out)
            self._candidate = run
            self.progress_box.finished(f"Done. {run.end.message}")
            self.progress_box.progress_bar.setValue(1000)
            self.result_box.show_run(run)
            self.result_box.setVisible(True)
            self._set_message(
                f"The new model {run.version} is ready. Compare it below, then choose which "
                "model to keep.",
                "ok",
            )
        else:
            self._discard_files(run)
            if outcome == "finished" and run.end is not None:
                text = (
                    f"Retraining ended without a new model: {run.end.message} "
                    "The current model is unchanged."
                )
            else:
                text = describe_exit(outcome, exit_code, self._proc.stderr_tail())
            self.progress_box.finished("Cancelled." if outcome == "cancelled" else "Stopped.")
            self._set_message(text, "info" if outcome == "cancelled" else "error")
            self._log(text)
        self._update_enabled()


def _fingerprint(checkpoint: Path) -> str | None:
    """The finished file's card fingerprint (None if unreadable: Adopt then says why)."""
    try:
        return read_model_card(checkpoint).get("fingerprint")
    except SpineguiError:
        return None
