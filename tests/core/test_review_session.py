"""The review session without widgets: navigation, status rules, undo, measurements, cost.

The session is what the review window does, minus drawing: these tests are
the window's rules, run with a real project store and real image files.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import spinegui.core.cobb as cobb_module
from spinegui.core.calibration import Calibration
from spinegui.core.errors import SpineguiError
from spinegui.core.imageio import file_sha256
from spinegui.core.review import ReviewSession
from spinegui.core.review.predictions import PredictionResult
from spinegui.core.store import Project
from tests.core.test_curves import bent_spine


@pytest.fixture
def session(tmp_path):
    """A session on a C7-L5 project of three 600 x 1000 images.

    Image 1 has imported truth and a prediction; images 2 and 3 only a prediction.
    """
    project = Project.create(tmp_path / "proj", "C7-L5", user="reader")
    ids = []
    for i in range(3):
        path = tmp_path / f"xray_{i}.png"
        cv2.imwrite(str(path), np.full((1000, 600), 40 * i, np.uint8))
        ids.append(project.add_image(path, width=600, height=1000, sha256=file_sha256(path)))
    project.add_model("m1", tmp_path / "m1.safetensors")
    project.set_active_model("m1")
    truth = bent_spine((4, 11, -40.0), (11, 17, 60.0))
    project.set_ground_truth(ids[0], truth, "import", "import")
    for image_id in ids:
        project.set_prediction(image_id, "m1", truth + 3.0, np.full((18, 4), 2.0))
    s = ReviewSession()
    s.open(project)
    changes = []
    s.subscribe(changes.append)
    s.test_ids, s.test_changes, s.test_truth = ids, changes, truth
    yield s
    s.close()


def test_open_lists_images_with_their_main_cobb_and_shows_nothing_yet(session):
    rows = session.worklist.rows()
    assert [r.image_id for r in rows] == session.test_ids
    assert rows[0].main_cobb_from == "truth" and rows[1].main_cobb_from == "prediction"
    assert rows[0].main_cobb == pytest.approx(cobb_module.cobb_angles(session.test_truth).main)
    assert session.current_id is None and session.measurement() is None


def test_show_reads_one_state_and_loads_pixels(session):
    first = session.test_ids[0]
    assert session.show(first)
    assert session.image.pixels.shape == (1000, 600)
    assert "image" in session.test_changes[-1]
    m = session.measurement()
    assert [r.name for r in m.rows][-1] == "Thoracolumbar/lumbar"
    assert m.rows[-1].truth is not None and m.rows[-1].prediction is not None


def test_first_edit_starts_review_and_one_undo_takes_back_both(session):
    """Bug 3: the automatic "in review" was not part of the edit's undo step."""
    second = session.test_ids[1]
    session.show(second)
    assert session.state.record.status == "not_started" and session.state.truth is None
    pred = session.state.prediction.points
    assert session.move_corner(4, 1, pred[4, 1] + (5.0, 0.0))
    assert session.state.record.status == "in_review"
    assert session.worklist.entries[second].status == "in_review"
    assert len(session.history.entries) == 1
    session.undo()
    assert session.state.truth is None
    assert session.state.record.status == "not_started"
    assert session.worklist.entries[second].status == "not_started"
    session.redo()
    assert session.state.record.status == "in_review"


def test_undo_shows_the_image_it_changes(session):
    first, second, _ = session.test_ids
    session.show(first)
    session.move_vertebra(3, session.state.truth[3] + 4.0)
    session.show(second)
    session.undo()
    assert session.current_id == first
    np.testing.assert_array_equal(session.state.truth, session.test_truth)
    assert "Move T3" in session.history.redo_text() and "xray_0.png" in session.history.redo_text()


def test_one_drag_costs_one_read_and_one_cobb_computation(session, monkeypatch):
    """A corner edit: one write transaction, one read back, one Cobb computation."""
    first = session.test_ids[0]
    session.show(first)
    session.move_corner(5, 0, session.state.truth[5, 0] + (1.0, 0.0))  # starts the review
    session.measurement()  # as shown: both sets measured
    calls = []
    real = cobb_module.cobb_angles
    monkeypatch.setattr(
        cobb_module, "cobb_angles", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    statements = []
    conn = session.project._db()
    conn.set_trace_callback(statements.append)
    session.move_corner(6, 0, session.state.truth[6, 0] + (2.0, 1.0))
    for _view in range(3):  # the canvas, the inspector and the worklist all ask
        session.measurement()
    conn.set_trace_callback(None)
    write_end = statements.index("COMMIT")
    reads_after = statements[write_end + 1 :]
    assert statements[0].startswith("BEGIN")
    assert len(reads_after) == 1 and reads_after[0].lstrip().startswith("SELECT")
    assert len(statements) <= 7
    assert len(calls) == 1


def test_accept_all_counts_what_changed_and_is_one_step(session):
    first = session.test_ids[0]
    session.show(first)
    session.move_corner(2, 2, session.state.prediction.points[2, 2])  # one corner agrees now
    assert session.accept_prediction() == 18  # every vertebra still differed somewhere
    assert session.accept_prediction() == 0  # nothing left: no empty undo step
    assert session.history.index == 2
    session.undo()
    assert session.state.record.gt_source == "manual"


def test_reader_chosen_ends_are_stored_measured_and_undoable(session):
    first = session.test_ids[0]
    session.show(first)
    assert session.choose_curve_ends(15, 10)
    m = session.measurement()
    chosen = [r for r in m.rows if r.chosen_by_reader]
    assert len(chosen) == 1
    assert (chosen[0].truth.upper, chosen[0].truth.lower) == (10, 15)
    assert (chosen[0].prediction.upper, chosen[0].prediction.lower) == (10, 15)
    assert session.project.curve_ends(first) == ((10, 15),)
    session.undo()
    assert session.project.curve_ends(first) == ()
    assert not any(r.chosen_by_reader for r in session.measurement().rows)
    with pytest.raises(SpineguiError):
        session.choose_curve_ends(4, 4)


def test_a_ruler_gives_millimetres_and_is_undoable(session):
    first = session.test_ids[0]
    session.show(first)
    assert session.measurement().vertebrae[0].error_mm is None
    session.calibrate(Calibration.from_line(0, 0, 0, 400, 100.0))  # 0.25 mm per pixel
    row = session.measurement().vertebrae[0]
    assert row.error_mm == pytest.approx(row.error_px * 0.25)
    session.calibrate(Calibration.from_line(0, 0, 0, 400, 200.0), for_project=True)
    assert session.state.spacing.source == "ruler drawn on this image"  # the image's wins
    session.undo()
    session.undo()
    assert session.state.spacing is None


def test_mark_reviewed_and_next_follows_the_visible_order(session):
    _, second, third = session.test_ids
    session.set_view(sort_key="name", reverse=True)
    session.show(third)
    assert session.mark_reviewed_and_next() == second
    assert session.worklist.entries[third].status == "reviewed"
    assert session.state.record.id == second
    session.set_view(filter_key="todo")
    assert third not in session.worklist.visible_ids()


def test_a_result_for_another_image_updates_only_its_row(session, tmp_path):
    first, second, _ = session.test_ids
    session.show(first)
    result = PredictionResult(
        image_id=second,
        model_version="m1",
        landmarks=bent_spine((9, 17, 50.0)),
        spread=np.full((18, 4), 7.0),
        seconds=0.1,
        model_path=tmp_path / "m1.safetensors",
        template="C7-L5",
        image_path=session.project.image(second).path,
    )
    assert session.record_prediction(result)
    assert session.current_id == first
    entry = session.worklist.entries[second]
    assert entry.uncertainty == pytest.approx(7.0)
    assert entry.main_cobb == pytest.approx(cobb_module.cobb_angles(result.landmarks).main)


def test_sorting_by_main_cobb(session):
    session.set_view(sort_key="cobb")
    angles = [e.main_cobb for e in session.worklist.rows()]
    assert angles == sorted(angles, reverse=True)
    session.set_view(reverse=True)
    assert [e.main_cobb for e in session.worklist.rows()] == sorted(angles)


def test_images_from_a_pacs_are_listed_by_patient_and_study_date(session):
    """Their file names are SOP instance UIDs ("1.2.826...783.dcm"): nobody's X-ray by name."""
    from spinegui.core.store.dicom import DicomSource

    first, second, third = session.test_ids
    for image_id, sop in ((first, "1.2.3.1"), (second, "1.2.3.2")):
        session.project.set_dicom_source(
            image_id,
            DicomSource(
                "1.2.3",
                "1.2.3.9",
                sop,
                "1.2.840.10008.5.1.4.1.1.1.1",
                patient_id="P1",
                patient_name="DOE^JANE",
                study_date="20240131",
            ),
        )
    session.refresh_entries()
    names = session.worklist.shown_names()
    assert names[first] == "DOE, JANE · 2024-01-31 (1)"
    assert names[second] == "DOE, JANE · 2024-01-31 (2)"
    assert names[third] == "xray_2.png"
    session.set_view(text="doe")  # the search finds them by patient too
    assert session.worklist.visible_ids() == [first, second]
