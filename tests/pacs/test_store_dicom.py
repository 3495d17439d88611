"""The project tables for PACS images and their reports (schema version 2)."""

from __future__ import annotations

import pytest

from spinegui.core.errors import StoreError
from spinegui.core.store import Project, schema
from spinegui.core.store.dicom import DicomSource
from tests.core.test_store import make_v1, sha

SOURCE = DicomSource(
    study_uid="1.2.3",
    series_uid="1.2.3.4",
    sop_uid="1.2.3.4.5",
    sop_class_uid="1.2.840.10008.5.1.4.1.1.1.1",
    patient_id="P1",
    patient_name="DOE^JANE",
    study_date="20240105",
    accession="A1",
    modality="DX",
    server="https://pacs.example.org/dicom-web",
)


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p", "C7-L5", user="tester") as p:
        yield p


def add(project, n=1):
    return project.add_image(project.folder / f"{n}.dcm", width=10, height=20, sha256=sha(n))


def report(project, image_id, sop, state="queued", kind="sr"):
    return project.add_report(
        image_id,
        kind=kind,
        study_uid="1.2.3",
        series_uid="1.9",
        sop_uid=sop,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.33",
        instance_number=1,
        content_hash="h",
        file=None,
        state=state,
    )


def test_an_old_project_gains_the_pacs_tables_and_keeps_its_data(tmp_path):
    make_v1(tmp_path / "old")
    with Project.open(tmp_path / "old") as p:
        assert p.schema_version == schema.schema_version()
        assert p.dicom_sources() == {} and p.reports() == []
        p.set_dicom_source(1, SOURCE)
        assert p.dicom_source(1) == SOURCE


def test_dicom_identity_is_kept_and_one_instance_is_one_image(project):
    a, b = add(project, 1), add(project, 2)
    project.set_dicom_source(a, SOURCE)
    assert project.dicom_source(a) == SOURCE and project.dicom_source(b) is None
    assert project.image_for_sop(SOURCE.sop_uid) == a
    with pytest.raises(StoreError, match="already image"):
        project.set_dicom_source(b, SOURCE)
    with pytest.raises(StoreError, match="no image 99"):
        project.set_dicom_source(99, SOURCE)


def test_a_newer_queued_report_replaces_the_unsent_one(project):
    image = add(project)
    first = report(project, image, "1.1")
    second = report(project, image, "1.2")
    assert [r.state for r in project.reports(image)] == ["replaced", "queued"]
    project.mark_report_failed(second.id, "server down")
    (queued,) = project.reports(state="queued")
    assert (queued.attempts, queued.last_error) == (1, "server down")
    project.mark_report_sent(second.id)
    (sent,) = project.reports(state="sent")
    assert sent.sop_uid == "1.2" and sent.sent_at and sent.last_error is None
    assert first.state == "queued"  # records are snapshots
    kinds = [e.kind for e in project.history(image)]
    assert kinds.count("report_queued") == 2  # queuing is in the audit trail


def test_the_same_instance_recorded_twice_is_one_row(project):
    image = add(project)
    report(project, image, "1.5", state="found")
    again = report(project, image, "1.5", state="found")
    assert [r.sop_uid for r in project.reports()] == ["1.5"] and again.state == "found"
