"""After a retrain: keep the new model or the current one, or go back to an earlier one.

Part of ``RetrainPanel`` (split out to keep modules short). Nothing changes
the project's active model except "Use the new model" here or a choice in the
model history; discarding deletes the candidate's files, never those of a
model that is registered (adopted meanwhile in another window, say).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer

from spinegui.core.errors import SpineguiError
from spinegui.ml.retrain import adopt_candidate, discard_candidate


class RetrainChoiceMixin:
    """Adopt, discard and the model history; relies on the panel's run and widgets."""

    def adopt(self) -> bool:
        """Make the finished run's model the project's active model and announce it."""
        cand = self._candidate
        if cand is None or self._project is None:
            return False
        try:
            record = adopt_candidate(
                self._project,
                cand.version,
                cand.out,
                settings=cand.settings.to_json(),
                comparison=cand.comparison,
                fingerprint=cand.fingerprint,
            )
        except SpineguiError as exc:
            self._set_message(
                f"The new model could not be put into use: {exc.message}\n{exc.hint}", "error"
            )
            return False
        self._candidate = None
        self.result_box.setVisible(False)
        self._set_message(
            f"{record.version} is now the model in use. Predictions are being refreshed.", "ok"
        )
        self._reveal_message()
        self._log(f"Adopted {record.version}.")
        self.refresh()
        self.modelAdopted.emit(record.version, str(record.path))
        return True

    def discard(self) -> None:
        """Keep the current model; delete the candidate."""
        if self._candidate is None:
            return
        version = self._candidate.version
        self._forget_candidate()
        self.result_box.setVisible(False)
        self._set_message(f"Kept the current model; {version} was discarded.", "info")
        self._reveal_message()
        self._log(f"Discarded {version}.")
        self._update_enabled()

    def _reveal_message(self) -> None:
        """Scroll the panel to the message once laid out: the choice was made at the bottom,
        with the plots and the log between it and the words that say what happened."""
        QTimer.singleShot(0, self, lambda: self.scroll_area.ensureWidgetVisible(self.message_label))

    def _forget_candidate(self) -> None:
        cand, self._candidate = self._candidate, None
        if cand is not None:
            self._discard_files(cand)

    def _discard_files(self, run) -> None:
        """Delete a run's files and release its version; never a registered model's file."""
        try:
            discard_candidate(run.out, project=self._project, version=run.version)
        except SpineguiError as exc:  # adopted meanwhile in another window: kept
            self._log(f"{exc.message} {exc.hint}")

    # ---------------------------------------------------------------- history

    def show_history(self) -> None:
        if self._project is None:
            return
        from spinegui.gui.model_history import ModelHistoryDialog

        dialog = ModelHistoryDialog(self._project, self)
        dialog.modelActivated.connect(self._on_history_activated)
        self._history_dialog = dialog
        dialog.show()

    def _on_history_activated(self, version: str, path: str) -> None:
        self.refresh()
        self._set_message(f"{version} is now the model in use.", "ok")
        self.modelAdopted.emit(version, path)
