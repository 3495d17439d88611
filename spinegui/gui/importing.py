"""Adding X-ray files to a project, and where loose files go when no project is open.

Qt-free on purpose ("do the change" apart from "ask the user", as SLEAP splits
its commands), so tests and the window share one code path.

Loose files policy: every annotation must live in a project, because only the
project store makes edits durable and undoable. When the user opens loose
files while no project is open, they are added to the **Inbox** project, a
project kept in the user data folder (``inbox_dir()``). The X-ray files are not
copied or moved: the project remembers their absolute path and content hash,
so nothing is duplicated and a moved file is found again by its hash. The
window says so in its status bar and the Inbox shows up in File > Recent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from spinegui.core.errors import SpineguiError
from spinegui.core.imageio import IMAGE_SUFFIXES, load_image
from spinegui.core.project_records import ImagesAdded
from spinegui.core.store import DB_NAME, Project

INBOX_TEMPLATE = "C7-L5"
"""The shipped model is trained on C7-L5 (as in the paper), so the Inbox uses it too."""


class ImportReport(ImagesAdded):
    """What happened to each file, so the window can tell the user in plain words."""


def inbox_dir() -> Path:
    """The Inbox project folder; ``SPINEGUI_INBOX`` overrides it (tests, portable installs)."""
    override = os.environ.get("SPINEGUI_INBOX")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("spinegui", appauthor=False)) / "inbox"


def open_or_create_inbox(folder: Path | None = None) -> Project:
    folder = Path(folder) if folder is not None else inbox_dir()
    if (folder / DB_NAME).is_file():
        return Project.open(folder)
    return Project.create(folder, INBOX_TEMPLATE)


def is_project_folder(folder: Path) -> bool:
    return (Path(folder) / DB_NAME).is_file()


def image_files_in(folder: Path) -> list[Path]:
    """X-ray files in a folder and its subfolders, by extension, in a stable order."""
    folder = Path(folder)
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def add_image_files(
    project: Project,
    paths: Iterable[Path],
    *,
    on_progress: Callable[[int], bool] | None = None,
) -> ImportReport:
    """Add each readable file; a bad file is reported, never stops the rest.

    Each file is decoded once so that its size, bit depth and (for DICOM)
    pixel spacing come from the real pixels. ``on_progress(done)`` may return
    False to stop early (the Cancel button of a progress dialog).
    """
    report = ImportReport()
    for done, path in enumerate(paths, start=1):
        try:
            image = load_image(path)
            existing = project.find_image_by_hash(image.sha256)
            if existing is not None:
                report.already_there.append(existing.id)
            else:
                report.added.append(
                    project.add_image(
                        path,
                        width=image.width,
                        height=image.height,
                        sha256=image.sha256,
                        spacing_mm=image.spacing_mm,
                        bit_depth=image.bit_depth,
                    )
                )
        except SpineguiError as exc:
            report.failed.append(f"{Path(path).name}: {exc.message}")
        if on_progress is not None and on_progress(done) is False:
            break
    return report


def create_project_from_folder(folder: Path, template: str) -> tuple[Project, ImportReport]:
    """A new project inside ``folder`` holding every X-ray found there."""
    project = Project.create(folder, template)
    files = [p for p in image_files_in(folder) if project.models_dir not in p.parents]
    return project, add_image_files(project, files)
