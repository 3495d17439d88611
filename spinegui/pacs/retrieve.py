"""WADO-RS retrieval into the project's DICOM cache, each image added like any other.

The cache is the folder ``dicom/<study>/<series>/<instance>.dcm`` inside the
project, not a user cache that the system may clean: the project's image
paths point at these files, and reports sent back need their headers. Files
are written to a temporary name and renamed, so a crash or a dropped
connection never leaves half an X-ray that looks complete.

The instance list is fetched when retrieval starts, not taken from the
search, because a study can change in between (an image deleted, one added);
an instance that vanished is reported and the rest still come. A lost
connection stops the run with a message; what arrived stays in the project,
and a retry skips it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydicom import Dataset, dcmread

from spinegui.core.errors import OutputError, SpineguiError
from spinegui.core.imageio import load_image
from spinegui.core.outputs import atomic_path
from spinegui.core.project_records import ImagesAdded
from spinegui.core.store import Project
from spinegui.core.store.dicom import DicomSource
from spinegui.pacs.client import PacsClient
from spinegui.pacs.errors import NotOnServer, PacsError
from spinegui.pacs.search import SeriesHit

CACHE_DIR = "dicom"
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")

Progress = Callable[[int, int, str], None]
"""(done, total, what is happening) for a progress bar."""


@dataclass
class RetrieveReport(ImagesAdded):
    """What a retrieval did, for a summary a person reads."""

    error: PacsError | None = None
    """Set when the run stopped early (server gone, login refused); what came is kept."""
    cancelled: bool = False

    FAILED: ClassVar[str] = "could not be retrieved"
    NOTHING: ClassVar[str] = "nothing retrieved"

    @property
    def image_ids(self) -> list[int]:
        return self.added + self.already_there

    def summary_parts(self) -> list[str]:
        parts = super().summary_parts()
        if self.cancelled:
            parts.append("cancelled")
        if self.error is not None:
            parts.append("stopped: " + self.error.message)
        return parts


def check_uid(uid: str) -> str:
    """A UID as a safe file name: digits and dots only (a hostile server cannot escape)."""
    uid = str(uid).strip()
    if not _UID.match(uid) or len(uid) > 64:
        raise PacsError(
            f"The PACS sent an invalid DICOM identifier {uid[:80]!r}.",
            "Tell your PACS administrator; spinegui cannot store this object.",
        )
    return uid


def cache_path(project: Project, study_uid: str, series_uid: str, sop_uid: str) -> Path:
    parts = (check_uid(study_uid), check_uid(series_uid), check_uid(sop_uid) + ".dcm")
    return project.folder.joinpath(CACHE_DIR, *parts)


def write_atomically(ds: Dataset, path: Path) -> None:
    """Save a dataset as a DICOM file that is either complete or absent."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    except (OSError, OutputError) as exc:
        message = getattr(exc, "message", f"Could not write {path}: {exc}.")
        raise PacsError(
            message,
            "Free some disk space or check the project folder's permissions, then retry.",
        ) from exc


def retrieve_series(
    client: PacsClient,
    project: Project,
    series: Sequence[SeriesHit],
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> RetrieveReport:
    """Retrieve every image instance of ``series`` into the project."""
    report = RetrieveReport()
    todo: list[tuple[SeriesHit, str]] = []
    try:
        for s in series:
            if not s.is_image:
                continue
            try:
                instances = client.search_instances(s.study_uid, s.series_uid)
            except NotOnServer:
                instances = []
            if not instances:
                report.failed.append(
                    f"series {s.description or s.series_uid}: no longer on the PACS"
                )
            todo += [(s, str(Dataset.from_json(i).get("SOPInstanceUID", ""))) for i in instances]
    except PacsError as exc:
        report.error = exc
        return report
    for done, (s, sop) in enumerate(todo):
        if cancelled is not None and cancelled():
            report.cancelled = True
            break
        if progress is not None:
            progress(done, len(todo), f"Retrieving image {done + 1} of {len(todo)}")
        try:
            _retrieve_one(client, project, s, sop, report)
        except NotOnServer:
            report.failed.append(f"image {sop}: deleted from the PACS since the search")
        except PacsError as exc:
            report.error = exc
            break
    else:
        if progress is not None:
            progress(len(todo), len(todo), "Done")
    return report


def _retrieve_one(
    client: PacsClient, project: Project, series: SeriesHit, sop: str, report: RetrieveReport
) -> None:
    existing = project.image_for_sop(sop)
    if existing is not None:
        report.already_there.append(existing)
        return
    path = cache_path(project, series.study_uid, series.series_uid, sop)
    if not _readable(path):
        ds = client.retrieve_instance(series.study_uid, series.series_uid, sop)
        write_atomically(ds, path)
    try:
        image_id, new = add_dicom_file(project, path, server=client.config.url)
    except SpineguiError as exc:
        report.failed.append(f"image {sop}: {exc.message}")
        return
    (report.added if new else report.already_there).append(image_id)


def add_dicom_file(project: Project, path: Path, *, server: str | None) -> tuple[int, bool]:
    """Add a cached DICOM file (hashed, spacing from its header) and keep its identity.

    Returns (image id, whether it was new). An image already in the project by
    content gets its DICOM identity added if it lacked one.
    """
    image = load_image(path)
    header = dcmread(path, stop_before_pixels=True)
    existing = project.find_image_by_hash(image.sha256)
    new = existing is None
    image_id = (
        project.add_image(
            path,
            width=image.width,
            height=image.height,
            sha256=image.sha256,
            spacing_mm=image.spacing_mm,
            bit_depth=image.bit_depth,
        )
        if new
        else existing.id
    )
    if new or project.dicom_source(image_id) is None:
        project.set_dicom_source(image_id, source_of(header, server))
    return image_id, new


def source_of(ds: Dataset, server: str | None) -> DicomSource:
    def text(keyword: str) -> str | None:
        value = ds.get(keyword)
        return None if value in (None, "") else str(value)

    return DicomSource(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        patient_id=text("PatientID"),
        patient_name=text("PatientName"),
        study_date=text("StudyDate"),
        accession=text("AccessionNumber"),
        modality=text("Modality"),
        study_description=text("StudyDescription"),
        server=server,
    )


def _readable(path: Path) -> bool:
    """A cached file from an earlier, interrupted run that is complete enough to reuse."""
    if not path.is_file():
        return False
    try:
        dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    return True
