"""Keyboard nudges on the canvas, wired to a review session: one undo step each, all durable.

The Qt-free rules (accepting, status, undo across images) are tested in
tests/core/test_review_session.py; here the keys reach the store through the
canvas exactly as in the window.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from spinegui.core.errors import SpineguiError
from spinegui.core.review.steps import CornerStep, StatusStep, TruthStep, apply_steps
from spinegui.core.store import Project
from tests.gui.test_drag import blank_xray, make_canvas, spine, wire


@pytest.fixture
def project(tmp_path):
    from spinegui.core.imageio import file_sha256

    proj = Project.create(tmp_path / "proj", "C7-L5")
    ids = []
    for i in range(2):
        path = blank_xray(tmp_path / f"x{i}.png", grey=i)
        ids.append(proj.add_image(path, width=500, height=1000, sha256=file_sha256(path)))
    proj.add_model("m1", tmp_path / "m1.safetensors")
    proj.set_active_model("m1")
    yield proj, ids
    proj.close()


def _edited_canvas(qtbot, project):
    """(image id, truth, canvas, session): the first image's truth stored and shown."""
    proj, (image_id, _) = project
    truth = spine()
    proj.set_ground_truth(image_id, truth, "import", "import")
    canvas, session = wire(qtbot, proj, image_id)
    return image_id, truth, canvas, session


def test_arrow_keys_nudge_selected_corner_one_step_per_press(qtbot, project):
    proj = project[0]
    image_id, truth, canvas, session = _edited_canvas(qtbot, project)
    canvas.select(4, 2)
    canvas.setFocus()

    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    QTest.keyClick(canvas.view, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(canvas.view, Qt.Key.Key_Down)

    expected = truth.copy()
    expected[4, 2] += (1.0, -10.0 + 1.0)
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    np.testing.assert_array_equal(canvas.ground_truth(), expected)
    assert len(session.history.entries) == 3
    session.undo()  # the last press only
    expected[4, 2, 1] -= 1.0
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    session.undo()
    session.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), truth)
    assert proj.image(image_id).status == "not_started"  # the review start went with them


def test_arrow_keys_move_whole_vertebra_when_its_centre_is_selected(qtbot, project):
    proj = project[0]
    image_id, truth, canvas, session = _edited_canvas(qtbot, project)
    canvas.select(9, -1)
    QTest.keyClick(canvas.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(proj.ground_truth(image_id)[9], truth[9] - (10.0, 0.0))
    assert len(session.history.entries) == 1
    assert proj.history(image_id)[-2].kind == "move_vertebra"  # a shift, logged as one


def test_nudge_without_selection_or_with_ctrl_does_nothing(qtbot):
    canvas = make_canvas(qtbot, truth=spine())
    moved = []
    canvas.cornerMoved.connect(lambda *a: moved.append(a))
    assert not canvas.nudge(1, 0)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    canvas.select(2, 0)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)  # next image
    assert moved == []


def test_an_edit_the_store_refuses_is_explained_and_the_canvas_shows_the_store(qtbot, project):
    proj, (image_id, _) = project
    errors = []
    canvas, session = wire(qtbot, proj, image_id, errors.append)  # no truth, no prediction
    canvas.set_ground_truth(spine())  # as if the view had stale boxes
    canvas.select(3, 0)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    assert errors and isinstance(errors[0], SpineguiError)
    assert "no landmarks" in errors[0].message
    assert canvas.ground_truth() is None  # redrawn from the store
    assert session.history.entries == []


def test_failed_step_is_rolled_back_without_qt(project):
    """The store steps work without Qt; a failure leaves no half-applied edit."""
    proj, (image_id, _) = project
    truth = spine()
    steps = [
        TruthStep(image_id, truth, "accepted_prediction", "accept_prediction"),
        CornerStep(image_id, 99, 0, np.array([1.0, 1.0])),  # no vertebra 99: fails
    ]
    with pytest.raises(Exception, match="outside template"):
        apply_steps(proj, steps)
    assert proj.ground_truth(image_id) is None


def test_status_step_round_trip_without_qt(project):
    proj, (image_id, _) = project
    step = StatusStep(image_id, "in_review")
    step.apply(proj)
    assert proj.image(image_id).status == "in_review"
    step.revert(proj)
    assert proj.image(image_id).status == "not_started"
