"""Keyboard nudges, accepting predictions and review status: each one undo step, all durable."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtTest import QTest

from spinegui.core.store import Project
from spinegui.gui.editing import (
    CornerStep,
    EditController,
    StatusStep,
    TruthStep,
    apply_steps,
    connect_canvas,
)
from tests.gui.test_drag import make_canvas, spine


@pytest.fixture
def project(tmp_path):
    proj = Project.create(tmp_path / "proj", "C7-L5")
    ids = [
        proj.add_image(tmp_path / f"x{i}.png", width=500, height=1000, sha256=f"{i}" * 64)
        for i in range(2)
    ]
    proj.add_model("m1", tmp_path / "m1.safetensors")
    proj.set_active_model("m1")
    yield proj, ids
    proj.close()


@pytest.fixture
def controller(qtbot, project):
    proj, _ = project
    stack = QUndoStack()
    ctl = EditController(proj, stack)
    yield ctl, stack
    stack.clear()


def _edited_canvas(qtbot, project, controller):
    """(image id, truth, canvas): the first image's truth stored and shown, edits wired."""
    proj, (image_id, _) = project
    truth = spine()
    proj.set_ground_truth(image_id, truth, "import", "import")
    canvas = make_canvas(qtbot, truth=truth)
    connect_canvas(canvas, controller[0], lambda: image_id)
    return image_id, truth, canvas


def test_arrow_keys_nudge_selected_corner_one_step_per_press(qtbot, project, controller):
    proj, stack = project[0], controller[1]
    image_id, truth, canvas = _edited_canvas(qtbot, project, controller)
    canvas.select(4, 2)
    canvas.setFocus()

    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    QTest.keyClick(canvas.view, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(canvas.view, Qt.Key.Key_Down)

    expected = truth.copy()
    expected[4, 2] += (1.0, -10.0 + 1.0)
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    np.testing.assert_array_equal(canvas.ground_truth(), expected)
    assert stack.count() == 3
    stack.undo()  # the last press only
    expected[4, 2, 1] -= 1.0
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    stack.undo()
    stack.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), truth)


def test_arrow_keys_move_whole_vertebra_when_its_centre_is_selected(qtbot, project, controller):
    proj, stack = project[0], controller[1]
    image_id, truth, canvas = _edited_canvas(qtbot, project, controller)
    canvas.select(9, -1)
    QTest.keyClick(canvas.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(proj.ground_truth(image_id)[9], truth[9] - (10.0, 0.0))
    assert stack.count() == 1


def test_nudge_without_selection_or_with_ctrl_does_nothing(qtbot):
    canvas = make_canvas(qtbot, truth=spine())
    moved = []
    canvas.cornerMoved.connect(lambda *a: moved.append(a))
    assert not canvas.nudge(1, 0)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right)
    canvas.select(2, 0)
    QTest.keyClick(canvas.view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)  # next image
    assert moved == []


def test_accept_one_vertebra_then_all_each_one_undo_step(project, controller):
    proj, (image_id, _) = project
    ctl, stack = controller
    truth, pred = spine(), spine(offset=7.0)
    proj.set_ground_truth(image_id, truth, "import", "import")

    assert ctl.accept_prediction(image_id, pred, vertebra=3)
    expected = truth.copy()
    expected[3] = pred[3]
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    assert ctl.accept_prediction(image_id, pred)
    np.testing.assert_array_equal(proj.ground_truth(image_id), pred)
    assert proj.image(image_id).gt_source == "accepted_prediction"
    assert stack.count() == 2
    assert not ctl.accept_prediction(image_id, pred)  # nothing left to accept: no empty step

    stack.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    stack.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), truth)
    assert proj.image(image_id).gt_source == "manual"


def test_accept_all_on_image_without_truth_undoes_to_no_truth(project, controller):
    proj, (image_id, _) = project
    ctl, stack = controller
    pred = spine()
    changed = []
    ctl.landmarksChanged.connect(changed.append)
    assert ctl.accept_prediction(image_id, pred)
    np.testing.assert_array_equal(proj.ground_truth(image_id), pred)
    stack.undo()
    assert proj.ground_truth(image_id) is None
    assert changed == [image_id, image_id]  # after the edit and after the undo


def test_set_status_is_undoable_and_logged(project, controller):
    proj, (image_id, _) = project
    ctl, stack = controller
    seen = []
    ctl.statusChanged.connect(lambda i, s: seen.append((i, s)))
    assert ctl.set_status(image_id, "reviewed")
    assert proj.image(image_id).status == "reviewed"
    assert not ctl.set_status(image_id, "reviewed")  # unchanged: no step
    stack.undo()
    assert proj.image(image_id).status == "not_started"
    stack.redo()
    assert proj.image(image_id).status == "reviewed"
    assert seen == [(image_id, "reviewed"), (image_id, "not_started"), (image_id, "reviewed")]
    assert [e.kind for e in proj.history(image_id)][-3:] == ["status"] * 3
    assert "reviewed" in stack.text(0).lower()


def test_undo_spans_images_and_says_which(project, controller):
    proj, (first, second) = project
    ctl, stack = controller
    truth = spine()
    for image_id in (first, second):
        proj.set_ground_truth(image_id, truth, "import", "import")
    ctl.move_corner(first, 0, 0, truth[0, 0], (1.0, 2.0))
    ctl.move_vertebra(second, 17, truth[17], truth[17] + 5.0)
    changed = []
    ctl.landmarksChanged.connect(changed.append)

    assert "L5" in stack.text(1) and "x1.png" in stack.text(1)
    assert "C7 top-left" in stack.text(0) and "x0.png" in stack.text(0)
    stack.undo()
    stack.undo()
    assert changed == [second, first]
    np.testing.assert_array_equal(proj.ground_truth(first), truth)
    np.testing.assert_array_equal(proj.ground_truth(second), truth)


def test_edit_on_image_with_nothing_to_edit_is_reported_not_pushed(project, controller):
    _, (image_id, _) = project
    ctl, stack = controller
    failures = []
    ctl.editFailed.connect(lambda msg, hint: failures.append((msg, hint)))
    assert not ctl.move_corner(image_id, 0, 0, (0, 0), (1, 1))
    assert stack.count() == 0
    assert failures and "no landmarks" in failures[0][0]


def test_edit_uses_stored_prediction_when_canvas_gives_none(project, controller):
    proj, (image_id, _) = project
    ctl, stack = controller
    pred = spine()
    proj.set_prediction(image_id, "m1", pred)
    assert ctl.move_corner(image_id, 1, 1, pred[1, 1], (300.0, 95.0))
    expected = pred.copy()
    expected[1, 1] = (300.0, 95.0)
    np.testing.assert_array_equal(proj.ground_truth(image_id), expected)
    stack.undo()
    assert proj.ground_truth(image_id) is None


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
