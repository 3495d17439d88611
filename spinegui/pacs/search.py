"""QIDO-RS searches as plain values: studies, their series, a thumbnail per series.

What people type (a name without wildcards, a date as 2024-01-05, a range) is
turned into QIDO-RS filters here, so the dialog and the command line search
alike. QIDO-RS matches one value per attribute (multiple values are for UIDs
only), so asking for CR *and* DX is one search per modality, merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from pydicom import Dataset

from spinegui.pacs.client import PacsClient
from spinegui.pacs.errors import LoginRefused, PacsError, Unreachable

X_RAY_MODALITIES = ("CR", "DX")
STUDY_FIELDS = (
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "PatientBirthDate",
)
SERIES_FIELDS = ("SeriesDescription", "NumberOfSeriesRelatedInstances", "SeriesNumber")
THUMBNAIL_SIZE = 96
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-?\d{2}-?\d{2})?\s*-\s*(\d{4}-?\d{2}-?\d{2})?$")


@dataclass(frozen=True)
class StudyQuery:
    """What to look for; empty fields match anything."""

    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    study_date: str = ""
    """A date (2024-01-05 or 20240105) or a range (2024-01-01 - 2024-01-31, open ends allowed)."""
    modalities: tuple[str, ...] = X_RAY_MODALITIES
    limit: int = 200

    def filters(self) -> list[dict[str, str]]:
        """One QIDO-RS filter set per modality (or one set when no modality is asked)."""
        base: dict[str, str] = {}
        if self.patient_id.strip():
            base["PatientID"] = self.patient_id.strip()
        if self.patient_name.strip():
            # "Doe, Jane", "DOE^JANE", "Doe Jane" -> DOE*JANE*: the parts of a name
            # joined by wildcards. Not "^": a URL must percent-encode it, and
            # Orthanc 1.10's DICOMweb plugin does not decode query values.
            parts = [p for p in re.split(r"[\s,^]+", self.patient_name.strip()) if p]
            name = "*".join(parts)
            base["PatientName"] = name if name.endswith("*") else name + "*"
        if self.accession.strip():
            base["AccessionNumber"] = self.accession.strip()
        if self.study_date.strip():
            base["StudyDate"] = dicom_date_range(self.study_date)
        mods = [m.strip().upper() for m in self.modalities if m.strip()]
        return [{**base, "ModalitiesInStudy": m} for m in mods] or [base]


@dataclass(frozen=True)
class SeriesHit:
    study_uid: str
    series_uid: str
    modality: str
    description: str
    number: int | None
    instances: int | None

    @property
    def is_image(self) -> bool:
        return self.modality not in ("SR", "KO", "PR", "DOC")


@dataclass(frozen=True)
class StudyHit:
    study_uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    study_date: str
    accession: str
    description: str
    modalities: tuple[str, ...]
    series_count: int | None
    instance_count: int | None
    series: list[SeriesHit] = field(default_factory=list, compare=False)


def dicom_date_range(text: str) -> str:
    """'2024-01-05', '20240105', '2024-01-01 - 2024-01-31', '2024-01-01 -' -> QIDO form."""
    text = text.strip()
    single = _DATE.match(text)
    span = None if single else _RANGE.match(text)
    if single:
        return _valid("".join(single.groups()), text)
    if not span or not any(span.groups()):
        raise _not_a_date(text)
    start, end = (_valid(re.sub(r"\D", "", g), text) if g else "" for g in span.groups())
    return f"{start}-{end}"


def _valid(digits: str, text: str) -> str:
    try:
        datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        raise _not_a_date(text) from None
    return digits


def _not_a_date(text: str) -> PacsError:
    return PacsError(
        f"{text!r} is not a date.",
        "Write dates as 2024-01-31 (or 20240131); a range as 2024-01-01 - 2024-01-31.",
    )


def search_studies(client: PacsClient, query: StudyQuery) -> list[StudyHit]:
    """Matching studies, newest first, each listed once."""
    found: dict[str, StudyHit] = {}
    for filters in query.filters():
        for item in client.search_studies(filters, STUDY_FIELDS, query.limit):
            hit = _study(Dataset.from_json(item))
            if hit.study_uid and hit.study_uid not in found:
                found[hit.study_uid] = hit
    return sorted(found.values(), key=lambda s: (s.study_date, s.study_uid), reverse=True)


def list_series(client: PacsClient, study_uid: str) -> list[SeriesHit]:
    items = client.search_series(study_uid, SERIES_FIELDS)
    series = [_series(study_uid, Dataset.from_json(item)) for item in items]
    return sorted(series, key=lambda s: (s.number is None, s.number or 0, s.series_uid))


def series_thumbnail(
    client: PacsClient, series: SeriesHit, size: int = THUMBNAIL_SIZE
) -> np.ndarray | None:
    """A small uint8 grey picture of the series' first image, or None when it has none.

    The server renders it (WADO-RS /rendered) when it can; otherwise the
    instance is retrieved and shrunk here, which costs a full download.
    """
    if not series.is_image:
        return None
    instances = client.search_instances(series.study_uid, series.series_uid)
    if not instances:
        return None
    sop = str(Dataset.from_json(instances[0]).get("SOPInstanceUID", ""))
    try:
        data = client.rendered(series.study_uid, series.series_uid, sop, size)
        picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if picture is not None:
            return fit(picture, size)
    except (LoginRefused, Unreachable):
        raise
    except PacsError:
        pass  # this server does not render: make the thumbnail ourselves
    ds = client.retrieve_instance(series.study_uid, series.series_uid, sop)
    return thumbnail_of(ds, size)


def thumbnail_of(ds: Dataset, size: int = THUMBNAIL_SIZE) -> np.ndarray | None:
    """The default-windowed picture of a dataset, shrunk to fit ``size``."""
    from spinegui.core.errors import SpineguiError
    from spinegui.core.imageio.dicom import DicomFrame, modality_pixels
    from spinegui.core.imageio.loaded import percentile_window

    try:
        stored = ds.pixel_array
    except Exception:  # no or undecodable pixels (pydicom raises many types): no thumbnail
        return None
    if stored.ndim == 3 and "NumberOfFrames" in ds:
        stored = stored[0]
    try:
        pixels = modality_pixels(DicomFrame(stored, ds), Path(str(ds.get("SOPInstanceUID", ""))))
    except SpineguiError:
        return None
    center, width = pixels.window or percentile_window(pixels.pixels)
    grey = np.clip((pixels.pixels - (center - width / 2)) / width * 255.0, 0, 255)
    return fit(grey.astype(np.uint8), size)


def fit(picture: np.ndarray, size: int) -> np.ndarray:
    h, w = picture.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return np.ascontiguousarray(picture)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(picture, new, interpolation=cv2.INTER_AREA)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword))
    except (TypeError, ValueError):
        return None


def _study(ds: Dataset) -> StudyHit:
    mods = ds.get("ModalitiesInStudy") or []
    if isinstance(mods, str):
        mods = [mods]
    return StudyHit(
        study_uid=_text(ds, "StudyInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        birth_date=_text(ds, "PatientBirthDate"),
        study_date=_text(ds, "StudyDate"),
        accession=_text(ds, "AccessionNumber"),
        description=_text(ds, "StudyDescription"),
        modalities=tuple(str(m) for m in mods),
        series_count=_int(ds, "NumberOfStudyRelatedSeries"),
        instance_count=_int(ds, "NumberOfStudyRelatedInstances"),
    )


def _series(study_uid: str, ds: Dataset) -> SeriesHit:
    return SeriesHit(
        study_uid=study_uid,
        series_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality"),
        description=_text(ds, "SeriesDescription"),
        number=_int(ds, "SeriesNumber"),
        instances=_int(ds, "NumberOfSeriesRelatedInstances"),
    )
