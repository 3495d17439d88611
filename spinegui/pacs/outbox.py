"""Reports waiting for the PACS: written into the project first, then sent with STOW-RS.

Two steps, so nothing is lost when the network is not there: ``queue_reports``
writes each new report as a DICOM file under ``dicom/outbox`` and records it
as queued in the project (durable before anyone is told "queued");
``send_queued`` sends every queued report, oldest first, marks each one sent
when the PACS acknowledged it and leaves failures queued with their error
for the next try.

No duplicates: a report whose content hash equals the image's latest report
is not made again. A changed one continues the same SR series with the next
instance number and names its predecessor; if the predecessor was never sent
it is marked replaced and never sent at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
from pydicom import dcmread

from spinegui.core.errors import SpineguiError
from spinegui.core.imageio import load_image
from spinegui.core.store import ImageRecord, Project
from spinegui.core.store.dicom import REPORT_KINDS, ReportRecord
from spinegui.core.templates import get_template
from spinegui.pacs.capture import build_capture, render_annotated
from spinegui.pacs.client import PacsClient
from spinegui.pacs.errors import LoginRefused, PacsError, Unreachable
from spinegui.pacs.retrieve import write_atomically
from spinegui.pacs.sr_write import Predecessor, ReportContent, build_report

OUTBOX_DIR = ("dicom", "outbox")
KIND_WORDS = {"sr": "measurement report", "capture": "annotated view"}
"""What each kind of DICOM object made for an image is to a reader."""
CURRENT = ("queued", "sent", "found")
"""Report states that count as the image's latest version."""


@dataclass
class QueueResult:
    queued: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"new reports for {len(self.queued)} image(s)"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} unchanged since last sent")
        if self.skipped:
            parts.append(f"{len(self.skipped)} image(s) skipped")
        return ", ".join(parts)


@dataclass
class SendResult:
    sent: list[ReportRecord] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    still_queued: int = 0
    error: PacsError | None = None
    """Why sending stopped early (server unreachable, login refused)."""

    def summary(self) -> str:
        """'1 measurement report and 1 annotated view sent': what reached the PACS."""
        kinds = Counter(r.kind for r in self.sent)
        made = [_count(kinds[k], KIND_WORDS[k]) for k in REPORT_KINDS if kinds[k]]
        made += [_count(n, k) for k, n in kinds.items() if k not in KIND_WORDS]
        parts = [(" and ".join(made) or "nothing") + " sent"]
        if self.still_queued:
            parts.append(f"{self.still_queued} still waiting (will be retried)")
        return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def report_content(project: Project, rec: ImageRecord) -> ReportContent:
    """What the report of a reviewed image says; SpineguiError when it cannot have one."""
    points = project.ground_truth(rec.id)
    if points is None:
        raise SpineguiError(f"{rec.path.name} has no landmarks.", "Review it first.")
    if project.dicom_source(rec.id) is None:
        raise SpineguiError(
            f"{rec.path.name} did not come from a PACS.",
            "Only images opened from a PACS can have their report sent back.",
        )
    try:
        source = dcmread(rec.path, stop_before_pixels=True)
    except Exception as exc:
        raise SpineguiError(
            f"The DICOM file of {rec.path.name} cannot be read ({exc}).",
            "Open the study from the PACS again to restore it.",
        ) from exc
    prediction = project.prediction(rec.id)
    return ReportContent(
        source=source,
        template=rec.template,
        landmarks=points,
        image_height=rec.height,
        reviewer=rec.reviewer or project.user,
        model=prediction.model_version if prediction is not None else None,
        curve_ends=project.curve_ends(rec.id),
    )


def queue_reports(
    project: Project, image_ids: Iterable[int] | None = None, *, capture: bool = False
) -> QueueResult:
    """Write a report for each reviewed PACS image whose measurements changed since the last."""
    wanted = None if image_ids is None else {int(i) for i in image_ids}
    result = QueueResult()
    for rec in project.images():
        if wanted is not None and rec.id not in wanted:
            continue
        if rec.status != "reviewed":
            if wanted is not None:
                result.skipped.append(f"{rec.path.name}: not marked reviewed yet")
            continue
        try:
            content = report_content(project, rec)
            if _queue_one(project, rec, content, capture):
                result.queued.append(rec.id)
            else:
                result.unchanged.append(rec.id)
        except SpineguiError as exc:
            result.skipped.append(f"{rec.path.name}: {exc.message}")
    return result


def _queue_one(project: Project, rec: ImageRecord, content: ReportContent, capture: bool) -> bool:
    digest = content.content_hash()
    history = [r for r in project.reports(rec.id) if r.kind == "sr" and r.state in CURRENT]
    latest = history[-1] if history else None
    if latest is not None and latest.content_hash == digest:
        return False
    series_uid = latest.series_uid if latest else str(hd.UID())
    number = 1 + max((r.instance_number for r in history if r.series_uid == series_uid), default=0)
    previous = None
    sent = [r for r in history if r.state in ("sent", "found")]
    if sent:
        p = sent[-1]
        previous = Predecessor(p.study_uid, p.series_uid, p.sop_uid, p.sop_class_uid)
    sop_uid = str(hd.UID())
    sr = build_report(
        content, series_uid=series_uid, sop_uid=sop_uid, instance_number=number, previous=previous
    )
    _store(project, rec.id, "sr", sr, digest)
    if capture:
        shots = [r for r in project.reports(rec.id) if r.kind == "capture"]
        shot_series = shots[-1].series_uid if shots else str(hd.UID())
        rgb = render_annotated(
            load_image(rec.path),
            content.landmarks,
            content.curves,
            get_template(rec.template).vertebrae,
        )
        sc = build_capture(
            content.source,
            rgb,
            series_uid=shot_series,
            sop_uid=str(hd.UID()),
            instance_number=1 + max((r.instance_number for r in shots), default=0),
        )
        _store(project, rec.id, "capture", sc, digest)
    return True


def _store(project: Project, image_id: int, kind: str, ds, digest: str) -> ReportRecord:
    path = project.folder.joinpath(*OUTBOX_DIR, f"{ds.SOPInstanceUID}.dcm")
    write_atomically(ds, path)
    return project.add_report(
        image_id,
        kind=kind,
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        instance_number=int(ds.InstanceNumber),
        content_hash=digest,
        file=path.relative_to(project.folder).as_posix(),
    )


def send_queued(
    project: Project,
    client: PacsClient,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SendResult:
    """Send every queued report; failures stay queued with their reason."""
    queue = project.reports(state="queued")
    result = SendResult()
    for done, report in enumerate(queue):
        if cancelled is not None and cancelled():
            break
        if progress is not None:
            progress(done, len(queue), f"Sending report {done + 1} of {len(queue)}")
        try:
            ds = _read_outbox(project, report)
            client.store([ds], report.study_uid)
        except PacsError as exc:
            project.mark_report_failed(report.id, exc.message)
            result.failed.append(exc.message)
            if isinstance(exc, Unreachable | LoginRefused):
                result.error = exc
                break
            continue
        project.mark_report_sent(report.id)
        result.sent.append(report)
    result.still_queued = len(project.reports(state="queued"))
    if progress is not None:
        progress(len(queue), len(queue), "Done")
    return result


def _read_outbox(project: Project, report: ReportRecord):
    path = project.folder / Path(report.file or "")
    try:
        return dcmread(path)
    except Exception as exc:
        raise PacsError(
            f"The queued report file {path.name} is missing or damaged.",
            "Mark the image reviewed again and send it anew.",
        ) from exc
