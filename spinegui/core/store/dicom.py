"""Where an image came from in a PACS, and the DICOM reports made for it.

Kept in the project (not in a cache beside it) because both outlive a
session: the study and instance UIDs are what a report sent back must refer
to, and the report rows are the send queue, which must survive a crash or a
network outage until every report has reached the PACS. Patient and study
fields are kept so the worklist can show whose X-ray it is.

A report row is ``queued`` until the PACS acknowledged it (then ``sent``), or
``replaced`` when a newer version was queued before it could be sent (so an
outdated report never reaches the PACS after a newer one). ``found`` rows are
reports that were already on the PACS when the study was pulled, remembered so
a new report continues their series and supersedes them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING

from spinegui.core.errors import StoreError
from spinegui.core.store.db import unknown_image, utc_now

if TYPE_CHECKING:
    from spinegui.core.store.project import Project

REPORT_KINDS = ("sr", "capture")
REPORT_STATES = ("queued", "sent", "found", "replaced")


@dataclass(frozen=True)
class DicomSource:
    """The DICOM identity of an image retrieved from a PACS."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    patient_id: str | None = None
    patient_name: str | None = None
    study_date: str | None = None
    accession: str | None = None
    modality: str | None = None
    study_description: str | None = None
    server: str | None = None
    """Base URL of the DICOMweb service, never with credentials."""


@dataclass(frozen=True)
class ReportRecord:
    """One DICOM object made for an image: a Structured Report or a secondary capture.

    ``file`` is relative to the project folder (None for reports found on the
    PACS); ``content_hash`` fingerprints what the report says, so an unchanged
    image is never sent twice.
    """

    id: int
    image_id: int
    kind: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    instance_number: int
    content_hash: str
    file: str | None
    state: str
    created: str
    sent_at: str | None
    attempts: int
    last_error: str | None


_SOURCE_COLUMNS = ", ".join(f.name for f in fields(DicomSource))
_REPORT_COLUMNS = ", ".join(f.name for f in fields(ReportRecord))


class DicomMixin:
    """The PACS half of ``Project`` (split out only to keep modules short)."""

    def set_dicom_source(self: Project, image_id: int, source: DicomSource) -> None:
        """Remember (or update) where an image came from; one SOP instance, one image."""
        with self._write("save the image's DICOM identity") as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id = ?", (int(image_id),)).fetchone():
                raise unknown_image(image_id)
            other = conn.execute(
                "SELECT image_id FROM dicom_sources WHERE sop_uid = ? AND image_id != ?",
                (source.sop_uid, int(image_id)),
            ).fetchone()
            if other is not None:
                raise StoreError(
                    f"DICOM instance {source.sop_uid} is already image {other[0]} of this project.",
                    "Each DICOM image is added once; open the existing image instead.",
                )
            conn.execute(
                f"INSERT OR REPLACE INTO dicom_sources (image_id, {_SOURCE_COLUMNS}) "
                f"VALUES (?, {', '.join('?' * len(fields(DicomSource)))})",
                (int(image_id), *astuple(source)),
            )

    def dicom_source(self: Project, image_id: int) -> DicomSource | None:
        rows = self._query(
            "read the image's DICOM identity",
            f"SELECT {_SOURCE_COLUMNS} FROM dicom_sources WHERE image_id = ?",
            (int(image_id),),
        )
        return DicomSource(*rows[0]) if rows else None

    def dicom_sources(self: Project) -> dict[int, DicomSource]:
        """Every image that came from a PACS, by image id."""
        rows = self._query(
            "read the DICOM identities",
            f"SELECT image_id, {_SOURCE_COLUMNS} FROM dicom_sources ORDER BY image_id",
        )
        return {r[0]: DicomSource(*r[1:]) for r in rows}

    def image_for_sop(self: Project, sop_uid: str) -> int | None:
        rows = self._query(
            "find the DICOM image",
            "SELECT image_id FROM dicom_sources WHERE sop_uid = ?",
            (str(sop_uid),),
        )
        return int(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ reports

    def add_report(
        self: Project,
        image_id: int,
        *,
        kind: str,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        sop_class_uid: str,
        instance_number: int,
        content_hash: str,
        file: str | None,
        state: str = "queued",
    ) -> ReportRecord:
        """Record a report written to ``file`` (queued) or found on the PACS (found)."""
        if kind not in REPORT_KINDS or state not in REPORT_STATES:
            raise StoreError(
                f"Unknown report kind/state {kind!r}/{state!r}.",
                f"Use a kind of {REPORT_KINDS} and a state of {REPORT_STATES}.",
            )
        with self._write("queue the report") as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id = ?", (int(image_id),)).fetchone():
                raise unknown_image(image_id)
            try:
                cur = conn.execute(
                    "INSERT INTO dicom_reports (image_id, kind, study_uid, series_uid, sop_uid, "
                    "sop_class_uid, instance_number, content_hash, file, state, created) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (int(image_id), kind, study_uid, series_uid, sop_uid, sop_class_uid,
                     int(instance_number), content_hash, file, state, utc_now()),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                # Another window recorded the same instance first: keep theirs.
                return self._report_where("sop_uid = ?", (sop_uid,))[0]
            if state == "queued":
                conn.execute(
                    "UPDATE dicom_reports SET state = 'replaced' WHERE image_id = ? AND kind = ? "
                    "AND state = 'queued' AND id != ?",
                    (int(image_id), kind, int(cur.lastrowid)),
                )
            self._log(conn, int(image_id), f"report_{state}", after={"kind": kind, "sop": sop_uid})
            report_id = int(cur.lastrowid)
        return self._report_where("id = ?", (report_id,))[0]

    def reports(
        self: Project, image_id: int | None = None, *, state: str | None = None
    ) -> list[ReportRecord]:
        """Reports oldest first, of one image or all, optionally in one state."""
        where, params = [], []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(int(image_id))
        if state is not None:
            where.append("state = ?")
            params.append(state)
        return self._report_where(" AND ".join(where) or "1", tuple(params))

    def mark_report_sent(self: Project, report_id: int) -> None:
        with self._write("record the sent report") as conn:
            conn.execute(
                "UPDATE dicom_reports SET state = 'sent', sent_at = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE id = ?",
                (utc_now(), int(report_id)),
            )

    def mark_report_failed(self: Project, report_id: int, error: str) -> None:
        """Count a failed attempt; the report stays queued for the next try."""
        with self._write("record the failed send") as conn:
            conn.execute(
                "UPDATE dicom_reports SET attempts = attempts + 1, last_error = ? "
                "WHERE id = ? AND state = 'queued'",
                (str(error), int(report_id)),
            )

    def _report_where(self: Project, where: str, params: tuple) -> list[ReportRecord]:
        rows = self._query(
            "read the reports",
            f"SELECT {_REPORT_COLUMNS} FROM dicom_reports WHERE {where} ORDER BY id",
            params,
        )
        return [ReportRecord(*r) for r in rows]
