"""Reports back to a real Orthanc: STOW-RS, no duplicates, superseding, queue, round trip."""

from __future__ import annotations

import shutil
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from spinegui.core.cobb import cobb_angles
from spinegui.core.store import Project
from spinegui.pacs.client import PacsClient
from spinegui.pacs.outbox import queue_reports, send_queued
from spinegui.pacs.pull import pull_series
from spinegui.pacs.search import StudyQuery, list_series, search_studies
from spinegui.pacs.sr_read import read_report
from tests.pacs import orthanc
from tests.pacs.conftest import config_for
from tests.pacs.dx import make_dx


def reviewed_project(server, client, folder, patient_id, images=1):
    """Upload a study, pull it into a new project, give each image its true landmarks."""
    study, series = generate_uid(), generate_uid()
    made = [
        make_dx(patient_id=patient_id, study_uid=study, series_uid=series, seed=i + 3)
        for i in range(images)
    ]
    for dx in made:
        server.upload(dx.to_bytes())
    project = Project.create(folder, "C7-L5", user="dr.reviewer")
    (hit,) = search_studies(client, StudyQuery(patient_id=patient_id))
    result = pull_series(client, project, list_series(client, hit.study_uid))
    assert result.retrieved.error is None
    truth = {dx.dataset.SOPInstanceUID: dx.landmarks for dx in made}
    for image_id in result.retrieved.added:
        project.set_ground_truth(image_id, truth[project.dicom_source(image_id).sop_uid])
        project.set_status(image_id, "reviewed")
    return project, hit.study_uid


def reports_on_server(server, study_uid):
    """(series uid, instance number, read report) of every spinegui SR in the study."""
    found = []
    for inst in server.instances_of_study(study_uid):
        ds = dcmread(BytesIO(server.rest("GET", f"/instances/{inst['ID']}/file").content))
        if ds.Modality == "SR":
            found.append((ds.SeriesInstanceUID, int(ds.InstanceNumber), read_report(ds)))
    return sorted(found, key=lambda f: f[1])


def test_push_twice_makes_no_duplicate_and_a_change_supersedes(
    orthanc_server, pacs, patient_id, tmp_path
):
    project, study_uid = reviewed_project(orthanc_server, pacs, tmp_path / "p", patient_id)
    (image_id,) = [i.id for i in project.images()]
    first = queue_reports(project, capture=True)
    assert first.queued == [image_id]
    sent = send_queued(project, pacs)
    assert len(sent.sent) == 2 and sent.still_queued == 0  # the SR and the capture
    assert queue_reports(project).unchanged == [image_id]  # unchanged: nothing new
    assert send_queued(project, pacs).sent == []
    on_server = reports_on_server(orthanc_server, study_uid)
    assert len(on_server) == 1
    modalities = sorted(
        orthanc_server.rest("GET", f"/instances/{i['ID']}/tags?simplify").json()["Modality"]
        for i in orthanc_server.instances_of_study(study_uid)
    )
    assert modalities == ["DX", "OT", "SR"]  # the X-ray, the capture, one report

    project.move_corner(image_id, 5, 0, (40.0, 70.0))  # a second review changes a corner
    assert queue_reports(project).queued == [image_id]
    assert len(send_queued(project, pacs).sent) == 1
    (s1, n1, r1), (s2, n2, r2) = reports_on_server(orthanc_server, study_uid)
    assert s1 == s2 and (n1, n2) == (1, 2)  # same SR series, next instance
    assert r2.supersedes == (r1.sop_uid,)
    assert r2.landmarks[5, 0] == pytest.approx((40.0, 70.0), abs=1e-4)
    project.close()


def test_failed_send_stays_queued_and_is_retried(own_orthanc, patient_id, tmp_path):
    with PacsClient(config_for(own_orthanc), orthanc.PASSWORD) as client:
        project, study_uid = reviewed_project(own_orthanc, client, tmp_path / "p", patient_id)
        queue_reports(project)
        own_orthanc.stop()
        failed = send_queued(project, client)
        assert failed.sent == [] and failed.still_queued == 1
        assert "cannot be reached" in failed.error.message
        (queued,) = project.reports(state="queued")
        assert queued.attempts == 1 and "cannot be reached" in queued.last_error
        own_orthanc.start()
        retried = send_queued(project, client)
        assert len(retried.sent) == 1 and retried.still_queued == 0
        assert [r.state for r in project.reports()] == ["sent"]
        assert len(reports_on_server(own_orthanc, study_uid)) == 1
        project.close()


def test_a_change_before_sending_replaces_the_unsent_report(
    orthanc_server, pacs, patient_id, tmp_path
):
    project, study_uid = reviewed_project(orthanc_server, pacs, tmp_path / "p", patient_id)
    (image_id,) = [i.id for i in project.images()]
    queue_reports(project)
    project.move_corner(image_id, 0, 0, (30.0, 20.0))
    queue_reports(project)
    assert [r.state for r in project.reports()] == ["replaced", "queued"]
    send_queued(project, pacs)
    ((_, _, report),) = reports_on_server(orthanc_server, study_uid)
    assert report.landmarks[0, 0] == pytest.approx((30.0, 20.0), abs=1e-4)
    project.close()


def test_round_trip_push_delete_pull_gives_the_same_corners_and_angles(
    orthanc_server, pacs, patient_id, tmp_path
):
    project, study_uid = reviewed_project(
        orthanc_server, pacs, tmp_path / "first", patient_id, images=2
    )
    before = {
        project.dicom_source(i.id).sop_uid: project.ground_truth(i.id) for i in project.images()
    }
    queue_reports(project)
    assert len(send_queued(project, pacs).sent) == 2
    project.close()
    shutil.rmtree(tmp_path / "first")

    again = Project.create(tmp_path / "second", "C7-L5")
    result = pull_series(pacs, again, list_series(pacs, study_uid))
    assert sorted(result.truth_from_pacs) == sorted(result.retrieved.added)
    assert len(result.truth_from_pacs) == 2
    for rec in again.images():
        sop = again.dicom_source(rec.id).sop_uid
        pulled = again.ground_truth(rec.id)
        np.testing.assert_allclose(pulled, before[sop], atol=1e-4)
        angles = cobb_angles(pulled, image_height=rec.height)
        expected = cobb_angles(before[sop], image_height=rec.height)
        np.testing.assert_allclose(angles.angles, expected.angles, atol=1e-3)
        assert angles.pairs == expected.pairs
    # The found reports are remembered: a new review continues their series.
    found = again.reports(state="found")
    assert len(found) == 2
    first = again.images()[0]
    again.move_corner(first.id, 2, 1, (77.0, 55.0))
    again.set_status(first.id, "reviewed")
    queue_reports(again)
    (new,) = again.reports(state="queued")
    old = next(r for r in found if r.image_id == first.id)
    assert new.series_uid == old.series_uid and new.instance_number == old.instance_number + 1
    again.close()


def test_pull_keeps_local_landmarks_that_differ(orthanc_server, pacs, patient_id, tmp_path):
    project, study_uid = reviewed_project(orthanc_server, pacs, tmp_path / "p", patient_id)
    queue_reports(project)
    send_queued(project, pacs)
    (image_id,) = [i.id for i in project.images()]
    project.move_corner(image_id, 0, 0, (1.0, 2.0))
    result = pull_series(pacs, project, list_series(pacs, study_uid))
    assert result.truth_from_pacs == []
    assert "local landmarks differ" in result.kept_local[0]
    assert project.ground_truth(image_id)[0, 0] == pytest.approx((1.0, 2.0))
    project.close()
