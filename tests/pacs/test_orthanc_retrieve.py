"""Search and retrieval against a real Orthanc (DICOMweb plugin), with failures on purpose."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pydicom.uid import generate_uid

from spinegui.core.imageio import file_sha256
from spinegui.core.store import Project
from spinegui.pacs.client import PacsClient
from spinegui.pacs.errors import LoginRefused, Unreachable
from spinegui.pacs.retrieve import retrieve_series
from spinegui.pacs.search import StudyQuery, list_series, search_studies, series_thumbnail
from tests.pacs import orthanc
from tests.pacs.conftest import config_for
from tests.pacs.dx import SPACING_MM, make_dx


def upload_study(server, patient_id, *, images=1, **fields):
    """One study with one DX series of ``images`` phantoms; returns the SyntheticDx list."""
    study, series = generate_uid(), generate_uid()
    made = [
        make_dx(
            patient_id=patient_id,
            study_uid=study,
            series_uid=series,
            instance_number=i + 1,
            seed=i + 1,
            **fields,
        )
        for i in range(images)
    ]
    for dx in made:
        server.upload(dx.to_bytes())
    return made


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj", "C7-L5", user="tester") as p:
        yield p


def test_search_finds_the_study_by_each_field(orthanc_server, pacs, patient_id):
    name = "QUERY^" + patient_id[-6:]
    kw = {"patient_name": name}
    upload_study(orthanc_server, patient_id, accession="A-" + patient_id[-6:], **kw)
    upload_study(orthanc_server, patient_id, study_date="20230301", modality="CR", **kw)
    by_id = search_studies(pacs, StudyQuery(patient_id=patient_id))
    assert len(by_id) == 2
    assert [s.study_date for s in by_id] == ["20240105", "20230301"]  # newest first
    by_name = search_studies(pacs, StudyQuery(patient_name=name.lower()))  # a prefix, any case
    assert [s.patient_name for s in by_name] == [name, name]
    by_accession = search_studies(pacs, StudyQuery(accession="A-" + patient_id[-6:]))
    assert [s.patient_id for s in by_accession] == [patient_id]
    by_date = search_studies(
        pacs, StudyQuery(patient_id=patient_id, study_date="2023-01-01 - 2023-12-31")
    )
    assert [s.study_date for s in by_date] == ["20230301"]
    only_cr = search_studies(pacs, StudyQuery(patient_id=patient_id, modalities=("CR",)))
    assert [s.modalities for s in only_cr] == [("CR",)]


def test_series_list_and_thumbnail(orthanc_server, pacs, patient_id):
    upload_study(orthanc_server, patient_id)
    (study,) = search_studies(pacs, StudyQuery(patient_id=patient_id))
    (series,) = list_series(pacs, study.study_uid)
    assert (series.modality, series.description, series.instances) == ("DX", "AP standing", 1)
    thumb = series_thumbnail(pacs, series, size=64)
    assert thumb.dtype == np.uint8 and max(thumb.shape) == 64
    assert thumb.std() > 5  # a picture, not a blank


def test_retrieve_adds_images_with_spacing_and_patient_fields(
    orthanc_server, pacs, patient_id, project
):
    made = upload_study(orthanc_server, patient_id, images=2, patient_name="DOE^JANE")
    (study,) = search_studies(pacs, StudyQuery(patient_id=patient_id))
    series = list_series(pacs, study.study_uid)
    steps = []
    report = retrieve_series(pacs, project, series, progress=lambda d, t, _: steps.append((d, t)))
    assert report.error is None and len(report.added) == 2 and not report.failed
    assert steps[0] == (0, 2) and steps[-1] == (2, 2)
    sops = {dx.dataset.SOPInstanceUID for dx in made}
    for image_id in report.added:
        rec = project.image(image_id)
        source = project.dicom_source(image_id)
        assert source.sop_uid in sops
        assert (source.patient_id, source.patient_name, source.modality) == (
            patient_id,
            "DOE^JANE",
            "DX",
        )
        assert source.study_uid == study.study_uid and source.server == pacs.config.url
        assert rec.spacing_mm == SPACING_MM
        assert (rec.width, rec.height) == (128, 256)
        assert rec.sha256 == file_sha256(rec.path)  # hashed like any image
        assert rec.path.is_relative_to(project.folder / "dicom")
    again = retrieve_series(pacs, project, series)
    assert again.added == [] and sorted(again.already_there) == sorted(report.added)


def test_wrong_password_is_a_login_message(orthanc_server, patient_id):
    upload_study(orthanc_server, patient_id)
    with (
        PacsClient(config_for(orthanc_server), "not-the-password") as client,
        pytest.raises(LoginRefused) as info,
    ):
        search_studies(client, StudyQuery(patient_id=patient_id))
    assert "refused the login for clinician" in info.value.message
    assert "password" in info.value.hint


def test_secrets_never_reach_the_log(orthanc_server, patient_id, caplog):
    caplog.set_level(logging.DEBUG)
    with PacsClient(config_for(orthanc_server), orthanc.PASSWORD) as client:
        search_studies(client, StudyQuery(patient_id=patient_id))
    token_config = config_for(orthanc_server).__class__(
        url=orthanc_server.dicomweb_url, auth="bearer"
    )
    with PacsClient(token_config, "secret-token-xyz") as client, pytest.raises(LoginRefused):
        search_studies(client, StudyQuery(patient_id=patient_id))
    assert caplog.records, "the client logged nothing: this test would prove nothing"
    assert orthanc.PASSWORD not in caplog.text
    assert "secret-token-xyz" not in caplog.text


def test_server_stopped_mid_retrieval_keeps_what_came_and_retry_finishes(
    own_orthanc, patient_id, tmp_path
):
    upload_study(own_orthanc, patient_id, images=3)
    with (
        Project.create(tmp_path / "p", "C7-L5") as project,
        PacsClient(config_for(own_orthanc), orthanc.PASSWORD) as client,
    ):
        (study,) = search_studies(client, StudyQuery(patient_id=patient_id))
        series = list_series(client, study.study_uid)

        def stop_after_first(done, total, _text):
            if done == 1:
                own_orthanc.stop()

        report = retrieve_series(client, project, series, progress=stop_after_first)
        assert isinstance(report.error, Unreachable)
        assert "cannot be reached" in report.error.message
        assert len(report.added) == 1 and len(project.images()) == 1
        assert not list((project.folder / "dicom").rglob("*.part*"))  # no half-written file
        own_orthanc.start()
        retry = retrieve_series(client, project, series)
        assert retry.error is None
        assert len(retry.added) == 2 and retry.already_there == report.added
        assert len(project.images()) == 3


def test_study_changed_between_search_and_retrieve(orthanc_server, pacs, patient_id, project):
    made = upload_study(orthanc_server, patient_id, images=2)
    (study,) = search_studies(pacs, StudyQuery(patient_id=patient_id))
    series = list_series(pacs, study.study_uid)
    # After the search: one image deleted, one added to the same series.
    orthanc_server.delete_instance(made[0].dataset.SOPInstanceUID)
    late = make_dx(
        patient_id=patient_id,
        study_uid=study.study_uid,
        series_uid=series[0].series_uid,
        instance_number=3,
        seed=9,
    )
    orthanc_server.upload(late.to_bytes())
    report = retrieve_series(pacs, project, series)
    assert report.error is None
    got = {project.dicom_source(i).sop_uid for i in report.added}
    assert got == {made[1].dataset.SOPInstanceUID, late.dataset.SOPInstanceUID}
    # A whole series deleted after the search is named, not a crash.
    orthanc_server.rest("DELETE", f"/series/{orthanc_server.orthanc_id(series[0].series_uid)}")
    gone = retrieve_series(pacs, project, series)
    assert gone.error is None and gone.added == []
    assert "no longer on the PACS" in gone.failed[0]


def test_cancel_stops_between_images(orthanc_server, pacs, patient_id, project):
    upload_study(orthanc_server, patient_id, images=3)
    (study,) = search_studies(pacs, StudyQuery(patient_id=patient_id))
    series = list_series(pacs, study.study_uid)
    asked = []

    def cancel_after_one():
        asked.append(1)
        return len(asked) > 1

    report = retrieve_series(pacs, project, series, cancelled=cancel_after_one)
    assert report.cancelled and len(report.added) == 1
    assert "cancelled" in report.summary()
