"""A study from the PACS into the project, with its spinegui reports as the truth.

After the images of the chosen series are retrieved, every Structured Report
of their studies is read; the current spinegui report of each image (see
``sr_read.latest_reports``) becomes its ground truth. Local work is never
overwritten: an image whose landmarks differ from the PACS report keeps the
local ones, and the result says so. Reports found are remembered, so a later
report for the same image continues their series and supersedes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

from spinegui.core.errors import SpineguiError
from spinegui.core.store import Project
from spinegui.core.templates import get_template
from spinegui.pacs.client import PacsClient
from spinegui.pacs.errors import NotOnServer, PacsError
from spinegui.pacs.retrieve import Progress, RetrieveReport, retrieve_series
from spinegui.pacs.search import SeriesHit, list_series
from spinegui.pacs.sr_read import ReadReport, latest_reports, read_report
from spinegui.pacs.sr_write import ReportContent

SAME_POINTS_PX = 1e-3
"""Landmarks this close count as the same (SR coordinates are 32-bit floats)."""


@dataclass
class PullResult:
    retrieved: RetrieveReport
    truth_from_pacs: list[int] = field(default_factory=list)
    kept_local: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = self.retrieved.summary()
        if self.truth_from_pacs:
            text += f"; landmarks from PACS reports on {len(self.truth_from_pacs)} image(s)"
        if self.kept_local:
            text += f"; local landmarks kept on {len(self.kept_local)} image(s)"
        return text


def pull_series(
    client: PacsClient,
    project: Project,
    series: Sequence[SeriesHit],
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PullResult:
    """Retrieve ``series`` and apply the spinegui reports of their studies."""
    result = PullResult(
        retrieve_series(client, project, series, progress=progress, cancelled=cancelled)
    )
    if result.retrieved.error is not None or result.retrieved.cancelled:
        return result
    reports: list[ReadReport] = []
    try:
        for study_uid in dict.fromkeys(s.study_uid for s in series):
            reports += study_reports(client, study_uid)
    except PacsError as exc:
        result.retrieved.error = exc
        return result
    apply_reports(project, reports, result)
    return result


def study_reports(client: PacsClient, study_uid: str) -> list[ReadReport]:
    """Every spinegui report in a study (SRs are small: all of them are retrieved)."""
    found = []
    for s in list_series(client, study_uid):
        if s.modality != "SR":
            continue
        try:
            instances = client.search_instances(study_uid, s.series_uid)
        except NotOnServer:
            continue
        for item in instances:
            sop = str(Dataset.from_json(item).get("SOPInstanceUID", ""))
            try:
                ds = client.retrieve_instance(study_uid, s.series_uid, sop)
            except NotOnServer:
                continue
            report = read_report(ds)
            if report is not None:
                found.append(report)
    return found


def apply_reports(project: Project, reports: Sequence[ReadReport], result: PullResult) -> None:
    known = {r.sop_uid for r in project.reports()}
    for image_sop, report in latest_reports(reports).items():
        image_id = project.image_for_sop(image_sop)
        if image_id is None:
            continue
        rec = project.image(image_id)
        if report.template != rec.template:
            result.kept_local.append(
                f"{rec.path.name}: the PACS report marks {report.template}, "
                f"this project {rec.template}"
            )
            continue
        if report.sop_uid not in known:
            _remember(project, rec, report)
        local = project.ground_truth(image_id)
        if local is None:
            project.set_ground_truth(image_id, report.landmarks, source="import", kind="import")
            if ends := _reader_ends(report, rec.template):
                project.set_curve_ends(image_id, ends)
            result.truth_from_pacs.append(image_id)
        elif not np.allclose(local, report.landmarks, atol=SAME_POINTS_PX):
            result.kept_local.append(
                f"{rec.path.name}: local landmarks differ from the PACS report and were kept"
            )


def _reader_ends(report: ReadReport, template: str) -> list[tuple[int, int]]:
    """The end vertebrae the report's reader chose, as template indices."""
    index = {name: i for i, name in enumerate(get_template(template).vertebrae)}
    return [
        (index[upper], index[lower])
        for (upper, lower), chosen in zip(report.ends, report.chosen_by_reader, strict=True)
        if chosen and upper in index and lower in index
    ]


def _remember(project: Project, rec, report: ReadReport) -> None:
    try:
        source = dcmread(rec.path, stop_before_pixels=True)
        digest = ReportContent(
            source=source,
            template=report.template,
            landmarks=report.landmarks,
            image_height=rec.height,
            reviewer=report.reviewer or "",
            model=report.model,
            curve_ends=tuple(_reader_ends(report, report.template)),
        ).content_hash()
    except (OSError, InvalidDicomError, SpineguiError):
        digest = ""  # unreadable file or degenerate landmarks: remembered without a fingerprint
    project.add_report(
        rec.id,
        kind="sr",
        study_uid=report.study_uid,
        series_uid=report.series_uid,
        sop_uid=report.sop_uid,
        sop_class_uid=report.sop_class_uid,
        instance_number=report.instance_number,
        content_hash=digest,
        file=None,
        state="found",
    )
