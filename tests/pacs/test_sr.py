"""The measurement report and the capture: written with highdicom, validated, read back."""

from __future__ import annotations

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread

from spinegui.core.curves import measure_curves
from spinegui.core.imageio import load_image
from spinegui.core.templates import get_template
from spinegui.pacs.capture import build_capture, render_annotated
from spinegui.pacs.sr_read import latest_reports, read_report
from spinegui.pacs.sr_write import (
    PIXEL_ORIGIN,
    Predecessor,
    ReportContent,
    build_report,
)
from tests.pacs.dx import make_dx

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture
def dx():
    return make_dx(patient_id="SR-TEST")


def content(dx, landmarks=None, **kw) -> ReportContent:
    return ReportContent(
        source=dx.dataset,
        template="C7-L5",
        landmarks=dx.landmarks if landmarks is None else landmarks,
        image_height=256,
        reviewer=kw.get("reviewer", "Dr^Reviewer"),
        model=kw.get("model", "c7l5-test-model"),
        curve_ends=kw.get("curve_ends", ()),
    )


def written(tmp_path, report, name="sr.dcm"):
    path = tmp_path / name
    report.save_as(path, enforce_file_format=True)
    return path


def validator_errors(path) -> list[str]:
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]


def test_report_round_trips_corners_angles_reviewer_and_model(dx, tmp_path):
    c = content(dx)
    sr = build_report(c, series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1)
    back = read_report(dcmread(written(tmp_path, sr)))
    assert back.template == "C7-L5"
    np.testing.assert_allclose(back.landmarks, dx.landmarks, atol=1e-4)  # 32-bit SCOORDs
    names = get_template("C7-L5").vertebrae
    expected = measure_curves(dx.landmarks, 256, names).curves
    assert expected  # the phantom is curved: the report has angles to carry
    np.testing.assert_allclose(back.angles, [round(c.angle, 2) for c in expected])
    assert back.ends == tuple((names[c.upper], names[c.lower]) for c in expected)
    assert back.curves == tuple(c.name for c in expected)  # the window's words, not AASCE's
    assert back.chosen_by_reader == (False,) * len(expected)
    assert (back.reviewer, back.model) == ("Dr Reviewer", "c7l5-test-model")
    assert back.image_sop_uid == dx.dataset.SOPInstanceUID
    assert back.study_uid == dx.dataset.StudyInstanceUID  # same study as the X-ray
    assert sr.PatientID == "SR-TEST"


def test_reader_chosen_end_vertebrae_are_measured_and_said_so(dx, tmp_path):
    names = get_template("C7-L5").vertebrae
    chosen = (names.index("T3"), names.index("T11"))
    sr = build_report(
        content(dx, curve_ends=(chosen,)), series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1
    )
    back = read_report(dcmread(written(tmp_path, sr)))
    picked = [k for k, by_reader in enumerate(back.chosen_by_reader) if by_reader]
    assert [back.ends[k] for k in picked] == [("T3", "T11")]
    expected = measure_curves(dx.landmarks, 256, names, [chosen]).curves
    assert back.angles == tuple(round(c.angle, 2) for c in expected)
    assert content(dx, curve_ends=(chosen,)).content_hash() != content(dx).content_hash()


def test_coordinates_follow_dicoms_pixel_centre_and_corner_order(dx):
    sr = build_report(content(dx), series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1)
    report = hd.sr.ComprehensiveSR.from_dataset(sr).content
    t7 = next(g for g in report.get_planar_roi_measurement_groups() if "T7" in str(
        g.tracking_identifier))  # fmt: skip
    polygon = np.asarray(t7.roi.value)
    tl, tr, bl, br = dx.landmarks[get_template("C7-L5").index("T7")]
    expected = np.array([tl, tr, br, bl, tl]) + PIXEL_ORIGIN  # closed TL-TR-BR-BL
    np.testing.assert_allclose(polygon, expected, atol=1e-4)
    assert t7.finding_type.value == "62487009"  # SNOMED CT: T7 vertebra


def test_manual_landmarks_have_no_model(dx):
    sr = build_report(
        content(dx, model=None), series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1
    )
    assert read_report(sr).model is None


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_report_and_capture_pass_the_dicom_validator(dx, tmp_path):
    first = build_report(content(dx), series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1)
    second = build_report(
        content(dx),
        series_uid=first.SeriesInstanceUID,
        sop_uid=hd.UID(),
        instance_number=2,
        previous=Predecessor(
            first.StudyInstanceUID,
            first.SeriesInstanceUID,
            first.SOPInstanceUID,
            first.SOPClassUID,
        ),
    )
    assert validator_errors(written(tmp_path, second)) == []
    image_path = tmp_path / "dx.dcm"
    image_path.write_bytes(dx.to_bytes())
    image = load_image(image_path)
    names = get_template("C7-L5").vertebrae
    rgb = render_annotated(image, dx.landmarks, measure_curves(dx.landmarks, 256, names), names)
    capture = build_capture(
        dx.dataset, rgb, series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1
    )
    path = written(tmp_path, capture, "sc.dcm")
    assert validator_errors(path) == []
    back = dcmread(path)
    assert back.StudyInstanceUID == dx.dataset.StudyInstanceUID
    assert back.pixel_array.shape == (256, 128, 3)
    green = (back.pixel_array[..., 1] > back.pixel_array[..., 0] + 60).sum()
    assert green > 500  # the boxes are drawn


def test_superseded_versions_are_dropped_and_the_newest_wins(dx):
    series = hd.UID()
    shifted = dx.landmarks + 1.0
    v1 = build_report(content(dx), series_uid=series, sop_uid=hd.UID(), instance_number=1)
    prev = Predecessor(v1.StudyInstanceUID, series, v1.SOPInstanceUID, v1.SOPClassUID)
    v2 = build_report(
        content(dx, shifted), series_uid=series, sop_uid=hd.UID(), instance_number=2, previous=prev
    )
    reports = [read_report(v2), read_report(v1)]
    (only,) = latest_reports(reports).values()
    assert only.sop_uid == v2.SOPInstanceUID
    np.testing.assert_allclose(only.landmarks, shifted, atol=1e-4)


def test_other_objects_are_not_spinegui_reports(dx):
    assert read_report(dx.dataset) is None  # an image
    foreign = build_report(content(dx), series_uid=hd.UID(), sop_uid=hd.UID(), instance_number=1)
    foreign.Modality = "SR"
    foreign.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.67"  # an X-ray dose report
    assert read_report(foreign) is None


def test_content_hash_ignores_when_but_not_what(dx):
    a, b = content(dx), content(dx)
    assert a.content_hash() == b.content_hash()
    moved = dx.landmarks.copy()
    moved[3, 1] += 0.5
    assert content(dx, moved).content_hash() != a.content_hash()
    assert content(dx, reviewer="Someone^Else").content_hash() != a.content_hash()


def test_a_send_says_what_reached_the_pacs_in_words():
    """It said "1 report(s) queued; 2 report(s) sent" for one image's report and picture."""
    from types import SimpleNamespace

    from spinegui.pacs.outbox import QueueResult, SendResult

    sent = SendResult(sent=[SimpleNamespace(kind="sr"), SimpleNamespace(kind="capture")])
    assert sent.summary() == "1 measurement report and 1 annotated view sent"
    assert SendResult().summary() == "nothing sent"
    assert QueueResult(queued=[7]).summary() == "new reports for 1 image(s)"
