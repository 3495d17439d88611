"""Who and what a report is about, from a DICOM file's own header.

A report for the patient record must say whose X-ray it is. A DICOM file
says so itself (patient name and ID, birth date, sex, study date and
description, accession number, institution); this reads those fields only
(no pixels) and writes them as people read them: "Doe, John" rather than
"Doe^John", "2024-01-31" rather than "20240131". PNG and JPEG files carry
none of this, so their reports give the file name only.
"""

from __future__ import annotations

from pathlib import Path

FIELDS = (
    ("PatientName", "Patient"),
    ("PatientID", "Patient ID"),
    ("PatientBirthDate", "Born"),
    ("PatientSex", "Sex"),
    ("StudyDate", "Study date"),
    ("StudyDescription", "Study"),
    ("AccessionNumber", "Accession no."),
    ("InstitutionName", "Institution"),
)


def dicom_date(value: str) -> str:
    """'20240131' -> '2024-01-31'; anything else as it is."""
    v = str(value).strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def person_name(value: str) -> str:
    """'DOE^JANE^MARIE' -> 'DOE, JANE MARIE': a DICOM person name as people write it."""
    parts = [p.strip() for p in str(value).split("^") if p.strip()]
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")


def patient_fields(path: str | Path) -> list[tuple[str, str]]:
    """(label, text) for each patient/study field the file states; [] for non-DICOM files.

    Never raises for a file that is not DICOM or is damaged: a report without
    these lines is still a report.
    """
    try:
        import pydicom

        ds = pydicom.dcmread(
            str(path), stop_before_pixels=True, specific_tags=[k for k, _ in FIELDS]
        )
    except Exception:  # not DICOM, unreadable, damaged header: no patient block
        return []
    out = []
    for keyword, label in FIELDS:
        value = getattr(ds, keyword, None)
        if value is None or str(value).strip() == "":
            continue
        text = str(value)
        if keyword.endswith("Date"):
            text = dicom_date(text)
        elif keyword == "PatientName":
            text = person_name(text)
        out.append((label, text))
    return out
