"""Opening, adding, dropping and exporting: the window's file commands.

Each command comes in two halves, as in SLEAP: ``choose_*`` asks the user
(file dialogs) and the plain method does the work, so tests drive the plain
methods without dialogs. Loose files go to the open project, else to the
Inbox project (see ``importing``), so no correction is ever made outside a
project.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QInputDialog

from spinegui.core.errors import SpineguiError
from spinegui.core.model_card import newest_shipped_model, register_shipped_model
from spinegui.core.outputs import check_targets
from spinegui.core.store import Project
from spinegui.core.store.db import local_time
from spinegui.core.templates import TEMPLATES
from spinegui.gui import importing
from spinegui.gui.dialogs import show_error
from spinegui.gui.report import ReportInfo, export_pdf, save_png

IMAGE_FILTER = (
    "X-ray images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.dcm *.dicom *.dic);;"
    "DICOM files (*.dcm *.dicom *.dic *);;All files (*)"
)
STATUS_WORDS = {"not_started": "not started", "in_review": "in review", "reviewed": "reviewed"}


class _BusyCursor:
    def __enter__(self):
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)

    def __exit__(self, *exc):
        QGuiApplication.restoreOverrideCursor()


class FileActionsMixin:
    """File commands of MainWindow; relies on its project, settings and set_project."""

    # ----------------------------------------------------------------- projects

    def open_project(self, folder: Path) -> bool:
        try:
            project = Project.open(folder)
        except SpineguiError as exc:
            show_error(self, "Could not open the project", exc)
            return False
        register_shipped_model(project)
        self.set_project(project)
        self.statusBar().showMessage(f"Opened project {project.folder}.", 5000)
        return True

    def choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self,
            "Open a spinegui project (the folder holding project.sqlite)",
            self.settings.last_folder(),
        )
        if folder:
            self.settings.set_last_folder(Path(folder).parent)
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> bool:
        """A project folder opens; any other folder becomes a new project after asking."""
        if importing.is_project_folder(folder):
            return self.open_project(folder)
        return self.choose_new_project(folder)

    def choose_new_project(self, folder: Path | None = None) -> bool:
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(
                self,
                "Choose the folder of X-rays to make a project of",
                self.settings.last_folder(),
            )
            if not chosen:
                return False
            folder = Path(chosen)
        if importing.is_project_folder(folder):
            return self.open_project(folder)
        names = list(TEMPLATES)
        default = names.index(importing.INBOX_TEMPLATE)
        labels = [template_choice(n) for n in names]
        choice, ok = QInputDialog.getItem(
            self,
            "New project",
            f"A project will be created inside\n{folder}\nwith every X-ray found there.\n\n"
            "Which vertebrae are to be marked? The model named with each choice places\n"
            "them; its name says what it learnt from (synthetic or real X-rays).",
            labels,
            default,
            False,
        )
        if not ok:
            return False
        return self.new_project_from_folder(folder, names[labels.index(choice)])

    def new_project_from_folder(self, folder: Path, template: str) -> bool:
        try:
            with _BusyCursor():
                project, report = importing.create_project_from_folder(folder, template)
                register_shipped_model(project)
        except SpineguiError as exc:
            show_error(self, "Could not create the project", exc)
            return False
        self.set_project(project)
        self._tell_import(report, f"New project in {folder}")
        return True

    def open_demo(self) -> bool:
        from spinegui.core.demo import build_demo_project, default_demo_folder

        try:
            with _BusyCursor():
                self.statusBar().showMessage("Preparing the demo project…")
                folder = build_demo_project(default_demo_folder())
        except SpineguiError as exc:
            show_error(self, "Could not prepare the demo", exc)
            return False
        return self.open_project(folder)

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        for folder in recent:
            act = self.recent_menu.addAction(folder.name)
            act.setToolTip(str(folder))
            act.triggered.connect(lambda _=False, f=folder: self.open_project(f))
        if not recent:
            self.recent_menu.addAction("(no recent projects)").setEnabled(False)

    # -------------------------------------------------------------------- files

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add X-ray files", self.settings.last_folder(), IMAGE_FILTER
        )
        if files:
            self.settings.set_last_folder(Path(files[0]).parent)
            self.add_files([Path(f) for f in files])

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add every X-ray in a folder", self.settings.last_folder()
        )
        if folder:
            self.settings.set_last_folder(Path(folder))
            self.add_files(importing.image_files_in(Path(folder)))

    def add_files(self, paths: list[Path]) -> importing.ImportReport | None:
        """Add files to the open project, or to the Inbox when none is open; show the first."""
        if not paths:
            self.statusBar().showMessage("No X-ray files found there.", 5000)
            return None
        had_project = self.project is not None
        project = self.project_or_inbox()
        if project is None:
            return None
        where = "the project" if had_project else f"your Inbox project ({project.folder})"
        with _BusyCursor():
            report = importing.add_image_files(self.project, paths)
        self.refresh_worklist()
        self._tell_import(report, f"Added to {where}")
        first = (report.added or report.already_there or [None])[0]
        if first is not None:
            self.show_image(first)
        return report

    def project_or_inbox(self) -> Project | None:
        """The open project, or the Inbox (opened now) when none is: no image lives outside one."""
        if self.project is not None:
            return self.project
        try:
            inbox = importing.open_or_create_inbox(self.inbox)
            register_shipped_model(inbox)
        except SpineguiError as exc:
            show_error(self, "Could not open your Inbox project", exc)
            return None
        self.set_project(inbox)
        return inbox

    def _tell_import(self, report: importing.ImportReport, what: str) -> None:
        self.statusBar().showMessage(f"{what}: {report.summary()}.", 10000)
        if report.failed:
            listed = "\n".join(report.failed[:10])
            more = f"\n… and {len(report.failed) - 10} more" if len(report.failed) > 10 else ""
            show_error(
                self,
                "Some files were not added",
                f"{len(report.failed)} file(s) could not be read as X-rays:\n{listed}{more}",
                "Check that they are PNG, JPEG, BMP, TIFF or DICOM images and not damaged.",
            )

    # ------------------------------------------------------------- drag & drop

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.open_paths(paths)

    def open_paths(self, paths: list[Path]) -> None:
        """What a drop (or command line) does: a project opens, anything else is added."""
        folders = [p for p in paths if p.is_dir()]
        if len(paths) == 1 and folders and importing.is_project_folder(folders[0]):
            self.open_project(folders[0])
            return
        files = [p for p in paths if p.is_file()]
        for folder in folders:
            files += importing.image_files_in(folder)
        self.add_files(files)

    # ------------------------------------------------------------------ exports

    def _default_export(self, suffix: str) -> str:
        rec = self.project.image(self.current_id)
        return str(Path(self.settings.last_folder()) / f"{rec.path.stem}{suffix}")

    def _ask_export_path(self, title: str, suffix: str, file_filter: str) -> Path | None:
        """The file the user picks (its folder remembered for next time), or None."""
        path, _ = QFileDialog.getSaveFileName(
            self, title, self._default_export(suffix), file_filter
        )
        if not path:
            return None
        try:  # the dialog asked before replacing a file, but never an X-ray of the project
            check_targets(
                [Path(path)], overwrite=True, inputs=[r.path for r in self.project.images()]
            )
        except SpineguiError as exc:
            show_error(self, title, exc)
            return None
        self.settings.set_last_folder(Path(path).parent)
        return Path(path)

    def choose_export_png(self, full: bool = False) -> None:
        path = self._ask_export_path(
            "Export the image as PNG", "_annotated.png", "PNG image (*.png)"
        )
        if path:
            self.export_png(path, full=full)

    def choose_export_pdf(self) -> None:
        path = self._ask_export_path(
            "Save the report as PDF", "_report.pdf", "PDF document (*.pdf)"
        )
        if path:
            self.export_pdf(path)

    def export_png(self, path: Path, full: bool = False) -> Path | None:
        """The X-ray at full resolution with its overlay; handles and uncertainty if ``full``."""
        from spinegui.gui.export_render import render_annotated

        try:
            picture = render_annotated(self.canvas, handles=full, uncertainty=full)
            out = save_png(picture, path)
        except SpineguiError as exc:
            show_error(self, "Could not export the picture", exc)
            return None
        self.statusBar().showMessage(f"Saved {out}.", 8000)
        return out

    def export_pdf(self, path: Path) -> Path | None:
        from spinegui.gui.export_render import render_annotated

        try:
            out = export_pdf(path, render_annotated(self.canvas), self.report_info())
        except SpineguiError as exc:
            show_error(self, "Could not save the report", exc)
            return None
        self.statusBar().showMessage(f"Saved report {out}.", 8000)
        return out

    def report_info(self) -> ReportInfo:
        from spinegui.core.review.report_fields import patient_fields

        state = self.session.state
        rec = state.record
        m = self.session.measurement()
        has_truth = state.truth is not None
        curves = [
            (row.name, _describe(row.truth, m.names), _describe(row.prediction, m.names))
            for row in m.rows
        ]
        model = self.project.active_model()
        return ReportInfo(
            image_name=rec.path.name,
            image_size=(rec.width, rec.height),
            curves=curves,
            cobb_source="The ground truth (green boxes) is the measurement; the prediction is "
            "shown for comparison."
            if has_truth
            else "Only the model's prediction (red boxes) exists: not yet confirmed by a reader.",
            model=None if model is None else model.version,
            reviewer=rec.reviewer,
            reviewed_at=local_time(rec.reviewed_at),
            status=STATUS_WORDS.get(rec.status, rec.status),
            project=str(self.project.folder),
            scale=None if m.spacing is None else m.spacing.describe(),
            patient=patient_fields(rec.path) if self.session.image.format == "dicom" else [],
        )


def template_choice(name: str) -> str:
    """'T1-L5: 17 vertebrae, ... (model: t1l5-aasce-two-stage)': what a new project gets.

    The two templates' shipped models learnt from different data (synthetic
    phantoms, real X-rays); without naming them a reader with real X-rays took
    the first choice and got a model that had never seen one.
    """
    card = newest_shipped_model(name)
    model = f"model: {card['version']}" if card else "no model ships for it yet"
    return f"{name}: {TEMPLATES[name].description} ({model})"


def _describe(curve, names) -> str:
    return "—" if curve is None else curve.describe(names)
