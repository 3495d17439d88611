"""Send reports to PACS: the reviewed images' Structured Reports, with their status.

The list shows every report of the project (queued, sent, replaced, found on
the PACS) with its attempts and last error, so a clinician can see that a
report that failed is still waiting. Sending runs in a ``PacsJob``: reports of
reviewed images whose landmarks changed are queued first (written into the
project), then every queued report is sent; a failure leaves them queued and
shows Retry.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from spinegui.core.errors import SpineguiError
from spinegui.core.review.worklist import patient_label
from spinegui.core.store import Project
from spinegui.gui.pacs_settings import ask_secret
from spinegui.gui.pacs_worker import PacsJob, stop_when_window_closes
from spinegui.pacs.config import ServerConfig, load_config
from spinegui.pacs.credentials import Credentials
from spinegui.pacs.errors import LoginRefused
from spinegui.pacs.outbox import KIND_WORDS, queue_reports, send_queued

STATE_WORDS = {
    "queued": "waiting to be sent",
    "sent": "sent",
    "found": "on the PACS (pulled)",
    "replaced": "replaced by a newer version before sending",
}


class SendReportsDialog(QDialog):
    def __init__(
        self,
        project: Project,
        *,
        config: ServerConfig | None = None,
        credentials: Credentials | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send reports to PACS")
        self.resize(760, 420)
        self.project = project
        self.config = config if config is not None else load_config()
        self.credentials = credentials or Credentials()
        self.job: PacsJob | None = None
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.capture = QCheckBox("Also send the annotated view as an image (secondary capture)")
        self.capture.setToolTip("For PACS viewers that do not display measurement reports")
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Image", "Object", "Version", "Status", "Tries", "Last error"])
        self.table.setColumnWidth(0, 180)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.send_button = QPushButton("Send reports")
        self.send_button.setDefault(True)
        self.send_button.setToolTip(
            "Send the report of every reviewed PACS image whose landmarks changed since its "
            "last report, and every report still waiting"
        )
        self.send_button.clicked.connect(self.send)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        for widget in (self.summary, self.capture, self.table, self.message):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.refresh()
        stop_when_window_closes(self, self.stop)

    def refresh(self) -> None:
        reports = self.project.reports()
        images = self.project.images()
        sources = self.project.dicom_sources()
        # Whose X-ray, as the image list says it: the file names are SOP instance UIDs.
        names = {rec.id: patient_label(sources.get(rec.id)) or rec.path.name for rec in images}
        reviewed = sum(rec.status == "reviewed" and rec.id in sources for rec in images)
        waiting = sum(r.state == "queued" for r in reports)
        self.summary.setText(
            f"{len(sources)} image(s) of this project came from the PACS, {reviewed} of them "
            f"marked reviewed; {waiting} report(s) waiting to be "
            "sent. Reports go to the study of their X-ray; a changed review is sent as a new "
            "version that supersedes the previous one."
        )
        self.table.clear()
        for r in reversed(reports):
            self.table.addTopLevelItem(
                QTreeWidgetItem(
                    [
                        names.get(r.image_id, str(r.image_id)),
                        KIND_WORDS.get(r.kind, r.kind),
                        str(r.instance_number),
                        STATE_WORDS.get(r.state, r.state),
                        str(r.attempts),
                        r.last_error or "",
                    ]
                )
            )

    def send(self) -> None:
        try:
            config = self.config.checked()
        except SpineguiError as exc:
            self._show(f"{exc.message} {exc.hint}", error=True)
            return
        secret = ask_secret(self, config, self.credentials)
        if secret is None:
            return
        project, capture = self.project, self.capture.isChecked()

        def work(client, ctx):
            queued = queue_reports(project, capture=capture)
            return queued, send_queued(project, client, progress=ctx.progress)

        self.stop()
        self.job = PacsJob(config, secret, work, self)
        self.job.progressed.connect(self._progress)
        self.job.succeeded.connect(self._sent)
        self.job.failed.connect(self._failed)
        self.send_button.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self._show("Writing and sending reports…")
        self.job.start()

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self._show(text)

    def _sent(self, result) -> None:
        queued, sent = result
        self._idle()
        lines = [queued.summary() + "; " + sent.summary() + "."]
        lines += [f"Skipped {line}" for line in queued.skipped[:5]]
        if sent.error is not None or sent.failed:
            if isinstance(sent.error, LoginRefused):
                self.credentials.forget(self.config)
            reason = sent.error.message if sent.error is not None else sent.failed[-1]
            lines.append(f"Not sent: {reason} They stay waiting; press Send reports to retry.")
            self.send_button.setText("Retry")
        else:
            self.send_button.setText("Send reports")
        self._show("\n".join(lines), error=bool(sent.still_queued))

    def _failed(self, error) -> None:
        self._idle()
        if isinstance(error, LoginRefused):
            self.credentials.forget(self.config)
        text = f"{error.message} {error.hint}" if isinstance(error, SpineguiError) else str(error)
        self._show(text, error=True)
        self.send_button.setText("Retry")

    def _idle(self) -> None:
        self.progress.setVisible(False)
        self.send_button.setEnabled(True)
        self.refresh()

    def _show(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()
            self.job = None

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)
