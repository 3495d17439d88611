"""spinegui measurement reports read back from DICOM SR (the inverse of ``sr_write``).

Any TID 1500 report is parsed with highdicom; it counts as a spinegui report
when its planar-ROI groups carry spinegui's vertebra tracking identifiers,
name vertebrae of one of our templates, and give each as a closed polyline
of four corners on one source image. Anything else (another vendor's SR, a
dose report) is skipped, never an error: a study may hold many reports.

When several versions exist, the ones named as predecessors by another are
dropped and the newest of the rest wins, so a report superseded on the PACS
never becomes the truth again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset

from spinegui.core.templates import TEMPLATES
from spinegui.pacs.sr_write import (
    BY_READER,
    COBB_PREFIX,
    CURVE,
    ENDS_CHOSEN_BY,
    LOWER_END,
    PIXEL_ORIGIN,
    UPPER_END,
    VERTEBRA_PREFIX,
    vertebra_name,
)

log = logging.getLogger(__name__)

_SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.22": hd.sr.EnhancedSR,
    "1.2.840.10008.5.1.4.1.1.88.33": hd.sr.ComprehensiveSR,
    "1.2.840.10008.5.1.4.1.1.88.34": hd.sr.Comprehensive3DSR,
}
"""The SR storage classes that can hold a TID 1500 report with image coordinates."""
PERSON_OBSERVER_NAME = "121008"
DEVICE_OBSERVER_MODEL = "121015"


@dataclass(frozen=True, eq=False)
class ReadReport:
    """What one spinegui SR says, plus its identity on the PACS."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    instance_number: int
    written: str
    """ContentDate + ContentTime, for choosing the newest version."""
    image_sop_uid: str
    template: str
    landmarks: np.ndarray
    angles: tuple[float, ...]
    ends: tuple[tuple[str, str], ...]
    curves: tuple[str, ...]
    chosen_by_reader: tuple[bool, ...]
    """Per curve: whether the reader chose its end vertebrae (else the rules did)."""
    reviewer: str | None
    model: str | None
    supersedes: tuple[str, ...]


def read_report(ds: Dataset) -> ReadReport | None:
    """The spinegui report in ``ds``, or None when it is some other object."""
    if str(ds.get("Modality", "")) != "SR" or str(ds.get("SOPClassUID")) not in _SR_CLASSES:
        return None
    try:
        sr = _SR_CLASSES[str(ds.SOPClassUID)].from_dataset(ds, copy=True)
        report = sr.content
        vertebrae = [
            g
            for g in report.get_planar_roi_measurement_groups()
            if str(g.tracking_identifier or "").startswith(VERTEBRA_PREFIX)
        ]
        if not vertebrae:
            return None
        names, corners, images = [], [], set()
        for group in vertebrae:
            name = vertebra_name(group.finding_type)
            roi = group.roi
            data = np.asarray(roi.value, float) if roi is not None else np.empty((0, 2))
            if name is None or data.shape != (5, 2) or not np.allclose(data[0], data[-1]):
                return None
            tl, tr, br, bl = data[:4] - PIXEL_ORIGIN
            names.append(name)
            corners.append([tl, tr, bl, br])
            images |= {
                str(ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
                for ref in roi.ContentSequence
                if "ReferencedSOPSequence" in ref
            }
        template = next((t.name for t in TEMPLATES.values() if list(t.vertebrae) == names), None)
        if template is None or len(images) != 1:
            return None
        angles, ends, curves, chosen = _cobb_groups(report)
        reviewer, model = _observers(sr)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        log.info("Skipped an SR that is not a readable spinegui report: %s", exc)
        return None
    return ReadReport(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        instance_number=int(ds.get("InstanceNumber") or 0),
        written=f"{ds.get('ContentDate', '')}{ds.get('ContentTime', '')}",
        image_sop_uid=images.pop(),
        template=template,
        landmarks=np.asarray(corners, float),
        angles=angles,
        ends=ends,
        curves=curves,
        chosen_by_reader=chosen,
        reviewer=reviewer,
        model=model,
        supersedes=_predecessors(ds),
    )


def latest_reports(reports: Iterable[ReadReport]) -> dict[str, ReadReport]:
    """The current report per referenced image: superseded versions dropped, newest wins."""
    reports = list(reports)
    superseded = {uid for r in reports for uid in r.supersedes}
    latest: dict[str, ReadReport] = {}
    for r in reports:
        if r.sop_uid in superseded:
            continue
        best = latest.get(r.image_sop_uid)
        if best is None or (r.written, r.instance_number) > (best.written, best.instance_number):
            latest[r.image_sop_uid] = r
    return latest


def _cobb_groups(report) -> tuple[tuple, tuple, tuple, tuple]:
    """(angles, end vertebra names, curve names, chosen by the reader) of the Cobb groups."""
    angles, ends, curves, chosen = [], [], [], []
    for group in report.get_image_measurement_groups():
        if not str(group.tracking_identifier or "").startswith(COBB_PREFIX):
            continue
        values = {q.name.value: q.value for q in group.get_qualitative_evaluations()}
        angles.append(float(group.get_measurements()[0].value))
        curves.append(values[CURVE.value].meaning)
        chosen.append(getattr(values.get(ENDS_CHOSEN_BY.value), "value", None) == BY_READER.value)
        ends.append(
            (vertebra_name(values[UPPER_END.value]), vertebra_name(values[LOWER_END.value]))
        )
    return tuple(angles), tuple(ends), tuple(curves), tuple(chosen)


def _observers(sr: Dataset) -> tuple[str | None, str | None]:
    """(person observer name, device observer model name) from the observation context."""
    reviewer = model = None
    for item in sr.ContentSequence:
        code = item.ConceptNameCodeSequence[0].CodeValue
        if code == PERSON_OBSERVER_NAME and reviewer is None:
            reviewer = str(item.PersonName).replace("^", " ").strip()
        elif code == DEVICE_OBSERVER_MODEL and model is None:
            model = str(item.TextValue)
    if model == "manual landmarks":
        model = None
    return reviewer, model


def _predecessors(ds: Dataset) -> tuple[str, ...]:
    return tuple(
        str(sop.ReferencedSOPInstanceUID)
        for study in ds.get("PredecessorDocumentsSequence", [])
        for series in study.get("ReferencedSeriesSequence", [])
        for sop in series.get("ReferencedSOPSequence", [])
    )
