"""File > Open from PACS: search, see the series with thumbnails, pick, retrieve.

Every network step runs in a ``PacsJob`` thread, so the window never freezes:
the search fills the list, thumbnails arrive one by one afterwards, and a
retrieval shows a progress bar with Cancel. A failure shows its message and
hint in the dialog with a Retry button (a refused login asks for the
password again first). Retrieved images go into the project given by
``project_provider`` (the open project, or the Inbox), and ``imagesAdded``
tells the window which ones to list and show.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from spinegui.core.errors import SpineguiError
from spinegui.core.store import Project
from spinegui.gui.pacs_results import ICON_PX, StudyTree
from spinegui.gui.pacs_settings import PacsSettingsDialog, ask_secret
from spinegui.gui.pacs_worker import PacsJob, stop_when_window_closes
from spinegui.pacs.config import ServerConfig, load_config
from spinegui.pacs.credentials import Credentials
from spinegui.pacs.errors import LoginRefused, PacsError
from spinegui.pacs.pull import PullResult, pull_series
from spinegui.pacs.search import (
    X_RAY_MODALITIES,
    SeriesHit,
    StudyQuery,
    list_series,
    search_studies,
    series_thumbnail,
)


class OpenFromPacsDialog(QDialog):
    imagesAdded = Signal(list)

    def __init__(
        self,
        project_provider: Callable[[], Project | None],
        *,
        config: ServerConfig | None = None,
        credentials: Credentials | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.resize(980, 620)
        self.project_provider = project_provider
        self.config = config if config is not None else load_config()
        self.credentials = credentials or Credentials()
        self.jobs: dict[str, PacsJob] = {}
        self._retry: Callable[[], None] | None = None
        self.last_result: PullResult | None = None
        self._build()
        self._show_server()
        stop_when_window_closes(self, self.stop_jobs)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.server_label = QLabel()
        settings = QPushButton("Server settings…")
        settings.setToolTip("DICOMweb address, login and certificate checks")
        settings.clicked.connect(self.edit_settings)
        top = QHBoxLayout()
        top.addWidget(self.server_label, 1)
        top.addWidget(settings)

        self.patient_id = QLineEdit()
        self.patient_name = QLineEdit()
        self.patient_name.setPlaceholderText("family name, or its beginning")
        self.accession = QLineEdit()
        self.study_date = QLineEdit()
        self.study_date.setPlaceholderText("2024-01-31, or 2024-01-01 - 2024-01-31")
        self.modalities = {m: QCheckBox(m) for m in X_RAY_MODALITIES}
        for box in self.modalities.values():
            box.setChecked(True)
            box.setToolTip("CR: computed radiography; DX: digital radiography")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.setToolTip("Search the PACS (Enter)")
        self.search_button.clicked.connect(self.search)
        form = QGridLayout()
        fields = (
            ("Patient ID", self.patient_id),
            ("Patient name", self.patient_name),
            ("Accession no.", self.accession),
            ("Study date", self.study_date),
        )
        for i, (label, widget) in enumerate(fields):
            form.addWidget(QLabel(label), i // 2, (i % 2) * 2)
            form.addWidget(widget, i // 2, (i % 2) * 2 + 1)
            widget.returnPressed.connect(self.search)
        mods = QHBoxLayout()
        mods.addWidget(QLabel("Modality"))
        for box in self.modalities.values():
            mods.addWidget(box)
        mods.addStretch(1)
        mods.addWidget(self.search_button)
        form.addLayout(mods, 2, 0, 1, 4)

        self.tree = StudyTree()
        self.tree.itemChanged.connect(self._update_buttons)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Try the last step again")
        self.retry_button.clicked.connect(self.retry)
        self.progress = QProgressBar()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the image being retrieved")
        self.cancel_button.clicked.connect(self.cancel)
        status = QHBoxLayout()
        status.addWidget(self.message, 1)
        status.addWidget(self.retry_button)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)

        select_all = QPushButton("Select all")
        select_all.clicked.connect(lambda: self.set_all_checked(True))
        select_none = QPushButton("Select none")
        select_none.clicked.connect(lambda: self.set_all_checked(False))
        self.open_button = QPushButton("Open selected")
        self.open_button.setToolTip("Retrieve the ticked series into the project")
        self.open_button.clicked.connect(self.retrieve)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(select_all)
        bottom.addWidget(select_none)
        bottom.addStretch(1)
        bottom.addWidget(self.open_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.tree, 1)
        layout.addLayout(status)
        layout.addLayout(bottom)
        self._set_busy(None)

    def _show_server(self) -> None:
        c = self.config
        if not c.url:
            self.server_label.setText("No PACS server set up yet: choose Server settings…")
            return
        who = f" as {c.username}" if c.auth == "basic" else ""
        self.server_label.setText(f"Server: {c.url}{who}")
        self.server_label.setToolTip(c.plain_http_warning())

    # ------------------------------------------------------------------ actions

    def edit_settings(self) -> bool:
        dialog = PacsSettingsDialog(self.config, self.credentials, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        self.config = dialog.config
        self._show_server()
        return True

    def query(self) -> StudyQuery:
        return StudyQuery(
            patient_id=self.patient_id.text(),
            patient_name=self.patient_name.text(),
            accession=self.accession.text(),
            study_date=self.study_date.text(),
            modalities=tuple(m for m, box in self.modalities.items() if box.isChecked()),
        )

    def search(self) -> None:
        query = self.query()

        def work(client, ctx):
            studies = search_studies(client, query)
            for study in studies:
                if ctx.cancelled():
                    break
                study.series.extend(list_series(client, study.study_uid))
            return studies

        self._stop("thumbnails")
        self._start("search", work, self._show_studies, retry=self.search)

    def retrieve(self) -> None:
        series = self.checked_series()
        project = self.project_provider()
        if not series or project is None:
            return

        def work(client, ctx):
            return pull_series(
                client, project, series, progress=ctx.progress, cancelled=ctx.cancelled
            )

        self._stop("thumbnails")
        self._start("retrieve", work, self._retrieved, retry=self.retrieve)

    def retry(self) -> None:
        if self._retry is not None:
            self._retry()

    def cancel(self) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.message.setText("Cancelling after the current image…")

    # ------------------------------------------------------------------ results

    def _show_studies(self, studies) -> None:
        wanted = self.tree.show_studies(studies)
        count = len(studies)
        self.message.setText(
            f"{count} stud{'y' if count == 1 else 'ies'} found. Tick the series to open."
            if count
            else "No matching study. Loosen the search (fewer fields, a wider date range)."
        )
        self._update_buttons()
        if wanted:
            self._start_thumbnails(wanted)

    def _start_thumbnails(self, series: list[SeriesHit]) -> None:
        def work(client, ctx):
            for s in series:
                if ctx.cancelled():
                    return
                try:
                    picture = series_thumbnail(client, s, ICON_PX)
                except PacsError:
                    continue  # a missing thumbnail is not worth a message
                if picture is not None:
                    ctx.partial((s.series_uid, picture))

        self._start("thumbnails", work, lambda _: None, quiet=True)
        self.jobs["thumbnails"].partial.connect(self._set_thumbnail)

    def _set_thumbnail(self, value) -> None:
        self.tree.set_thumbnail(*value)

    def _retrieved(self, result: PullResult) -> None:
        self.last_result = result
        text = result.summary()
        if result.retrieved.failed or result.kept_local:
            text += "\n" + "\n".join((result.retrieved.failed + result.kept_local)[:5])
        if result.retrieved.error is not None:
            self._failed(result.retrieved.error, retry=self.retrieve, prefix=text + "\n")
        else:
            self.message.setText(text + ".")
        if result.retrieved.image_ids:
            self.imagesAdded.emit(list(result.retrieved.image_ids))

    # ------------------------------------------------------------------ plumbing

    def series_items(self):
        return self.tree.series_items()

    def checked_series(self) -> list[SeriesHit]:
        return self.tree.checked_series()

    def set_all_checked(self, checked: bool) -> None:
        self.tree.set_all_checked(checked)

    def _start(self, name, work, on_success, *, retry=None, quiet=False) -> None:
        try:
            config = self.config.checked()
        except SpineguiError as exc:
            self._failed(exc, retry=None)
            if not self.config.url and self.edit_settings():
                self._start(name, work, on_success, retry=retry, quiet=quiet)
            return
        secret = ask_secret(self, config, self.credentials)
        if secret is None:
            self.message.setText("Cancelled: the PACS needs your login.")
            return
        self._stop(name)
        job = PacsJob(config, secret, work, self)
        self.jobs[name] = job
        job.progressed.connect(self._progress)
        job.succeeded.connect(lambda result: self._job_done(name, quiet, on_success, result))
        job.failed.connect(lambda error: self._job_failed(error, quiet, retry))
        if not quiet:
            self._retry = retry
            self._set_busy(name)
        job.start()

    def _job_done(self, name: str, quiet: bool, on_success, result) -> None:
        if not quiet:
            self._set_busy(None)
        on_success(result)

    def _job_failed(self, error, quiet: bool, retry) -> None:
        if isinstance(error, LoginRefused):
            self.credentials.forget(self.config)  # Retry asks for the password again
        if not quiet:
            self._set_busy(None)
            self._failed(error, retry=retry)

    def _failed(self, error, *, retry, prefix: str = "") -> None:
        if isinstance(error, SpineguiError):
            text = f"{error.message} {error.hint}".strip()
        else:
            text = str(error)
        self.message.setText(prefix + text)
        self.message.setStyleSheet("color: #b00020;")
        self._retry = retry
        self.retry_button.setVisible(retry is not None)

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.message.setText(text)

    def _set_busy(self, name: str | None) -> None:
        self.busy = name
        busy = name is not None
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.message.setStyleSheet("")
            self.retry_button.setVisible(False)
            self.message.setText("Retrieving…" if name == "retrieve" else "Searching…")
        self.search_button.setEnabled(not busy)
        self._update_buttons()

    def _update_buttons(self, *_) -> None:
        idle = getattr(self, "busy", None) is None
        self.open_button.setEnabled(bool(self.checked_series()) and idle)

    def _stop(self, name: str) -> None:
        job = self.jobs.pop(name, None)
        if job is not None:
            job.stop()

    def stop_jobs(self) -> None:
        for name in list(self.jobs):
            self._stop(name)

    def done(self, result: int) -> None:
        self.stop_jobs()
        super().done(result)

    def closeEvent(self, event) -> None:
        self.stop_jobs()
        super().closeEvent(event)
