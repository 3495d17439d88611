"""Reader-chosen end vertebrae and rulers in the store: migration, round trip, history."""

from __future__ import annotations

import sqlite3

import pytest

from spinegui.core.calibration import DICOM_SPACING, Calibration, CalibrationError
from spinegui.core.errors import LandmarkError
from spinegui.core.store import DB_NAME, Project, schema
from tests.core.test_store import make_v1, sha, spine


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj", "T1-L5", user="tester") as p:
        yield p


def test_a_v1_project_gains_the_tables_and_keeps_its_data(tmp_path):
    make_v1(tmp_path / "old")
    with Project.open(tmp_path / "old") as p:
        assert p.schema_version == schema.schema_version() >= 2
        assert p.curve_ends(1) == ()
        assert p.calibration(1) is None and p.calibration() is None
        state = p.review_state(1)
        assert state.truth is not None and state.spacing is None


def test_chosen_ends_round_trip_are_logged_and_validated(project):
    image_id = project.add_image(project.folder / "a.png", width=800, height=1600, sha256=sha(1))
    assert project.set_curve_ends(image_id, [(9, 3)]) == ()
    assert project.curve_ends(image_id) == ((3, 9),)
    assert project.set_curve_ends(image_id, []) == ((3, 9),)
    assert project.curve_ends(image_id) == ()
    kinds = [(e.kind, e.after) for e in project.history(image_id)[-2:]]
    assert kinds == [("curve_ends", [[3, 9]]), ("curve_ends", [])]
    with pytest.raises(LandmarkError):
        project.set_curve_ends(image_id, [(4, 4)])
    with pytest.raises(LandmarkError):
        project.set_curve_ends(image_id, [(0, 17)])  # T1-L5 has 17 vertebrae: 0..16


def test_rulers_per_image_and_per_project(project):
    a = project.add_image(project.folder / "a.png", width=800, height=1600, sha256=sha(1))
    b = project.add_image(
        project.folder / "b.dcm", width=800, height=1600, sha256=sha(2), spacing_mm=(0.2, 0.2)
    )
    for_project = Calibration.from_line(0, 0, 0, 500, 100.0)  # 0.2 mm/px
    on_a = Calibration.from_line(10, 10, 310, 10, 90.0)  # 0.3 mm/px
    assert project.set_calibration(None, for_project) is None
    assert project.review_state(a).spacing.row_mm == pytest.approx(0.2)
    assert "project" in project.review_state(a).spacing.source
    project.set_calibration(a, on_a)
    assert project.review_state(a).spacing.row_mm == pytest.approx(0.3)
    assert project.review_state(b).spacing.source == DICOM_SPACING  # beats the project's
    assert project.set_calibration(a, None) == on_a
    assert project.calibration(a) is None and project.calibration() == for_project
    assert [e.kind for e in project.history()][-3:] == ["calibration"] * 3


def test_only_one_project_ruler_can_exist(project):
    project.set_calibration(None, Calibration.from_line(0, 0, 0, 100, 10.0))
    project.set_calibration(None, Calibration.from_line(0, 0, 0, 100, 20.0))
    con = sqlite3.connect(project.folder / DB_NAME)
    assert con.execute("SELECT count(*) FROM calibrations").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO calibrations (image_id, mm_per_px, length_mm, line, updated) "
                    "VALUES (NULL, 1, 1, '[]', 'now')")  # fmt: skip
    con.close()


@pytest.mark.parametrize(
    ("line", "length", "match"),
    [((0, 0, 3, 0), 10.0, "only 3.0 pixels"), ((0, 0, 100, 0), 0.0, "positive"),
     ((0, 0, 100, 0), 1000.0, "coarser"), ((0, 0, float("nan"), 0), 10.0, "not a number")],
)  # fmt: skip
def test_unusable_rulers_are_explained(line, length, match):
    with pytest.raises(CalibrationError, match=match):
        Calibration.from_line(*line, length)


def test_worklist_rows_and_review_state_are_one_statement_each(project):
    ids = [
        project.add_image(project.folder / f"{i}.png", width=800, height=1600, sha256=sha(i))
        for i in range(5)
    ]
    project.set_ground_truth(ids[1], spine())
    statements = []
    project._db().set_trace_callback(statements.append)
    rows = project.worklist_rows()
    state = project.review_state(ids[1])
    project._db().set_trace_callback(None)
    assert len(statements) == 2
    assert [r.record.id for r in rows] == ids
    assert rows[1].truth is not None and rows[0].truth is None
    assert state.record.id == ids[1] and state.truth.shape == (17, 4, 2)
