"""A report names the patient and study a DICOM file states, as people write them."""

from __future__ import annotations

import numpy as np

from spinegui.core.review.report_fields import patient_fields
from tests.core.test_imageio import write_dicom


def test_dicom_header_fields_read_as_people_read_them(tmp_path):
    path = write_dicom(
        tmp_path / "x.dcm",
        np.zeros((8, 4), np.uint16),
        PatientName="Doe^Jane",
        PatientID="P0042",
        PatientBirthDate="20110507",
        StudyDate="20250228",
        StudyDescription="Spine AP standing",
        AccessionNumber="",
    )
    fields = dict(patient_fields(path))
    assert fields["Patient"] == "Doe, Jane"
    assert fields["Patient ID"] == "P0042"
    assert fields["Born"] == "2011-05-07" and fields["Study date"] == "2025-02-28"
    assert fields["Study"] == "Spine AP standing"
    assert "Accession no." not in fields  # empty fields are left out


def test_files_that_are_not_dicom_state_no_patient(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert patient_fields(png) == []
    assert patient_fields(tmp_path / "missing.dcm") == []
