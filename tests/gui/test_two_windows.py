"""Two windows on one project: an overtaken edit is refused with a message and the
window shows the other's edit; a window brings in the other's commits on focus or timer."""

from __future__ import annotations

import numpy as np
import pytest

from spinegui.core.store import Project


@pytest.fixture
def annotated_id(demo_project) -> int:
    with Project.open(demo_project) as p:
        return next(r.id for r in p.images() if r.has_ground_truth)


def _open(window, folder, image_id):
    assert window.open_project(folder)
    assert window.show_image(image_id)


def test_an_overtaken_drag_is_refused_with_a_message_and_the_window_reloads(
    make_window, demo_project, annotated_id, no_dialogs
):
    first, second = make_window("one.ini"), make_window("two.ini")
    _open(first, demo_project, annotated_id)
    _open(second, demo_project, annotated_id)
    theirs = second.session.state.truth[4, 2] + (6.0, 3.0)
    second.canvas.cornerMoved.emit(4, 2, second.session.state.truth[4, 2], theirs)
    stale = first.session.state.truth[4, 2]
    first.canvas.cornerMoved.emit(4, 2, stale, np.add(stale, (-9.0, 0.0)))
    assert len(no_dialogs) == 1 and "T4" in no_dialogs[0][0]
    assert "Not saved" in first.statusBar().currentMessage()
    np.testing.assert_array_equal(first.session.state.truth[4, 2], theirs)
    with Project.open(demo_project) as p:
        np.testing.assert_array_equal(p.ground_truth(annotated_id)[4, 2], theirs)


def test_a_window_brings_in_the_other_windows_commits(make_window, demo_project, annotated_id):
    first, second = make_window("one.ini"), make_window("two.ini")
    _open(first, demo_project, annotated_id)
    _open(second, demo_project, annotated_id)
    second.session.set_status("reviewed")
    moved = second.session.state.truth[0, 0] + (2.0, 2.0)
    second.session.move_corner(0, 0, moved)
    assert first.check_for_changes()  # what the focus event and the timer call
    assert first.session.state.record.status == "reviewed"
    statuses = {e.image_id: e.status for e in first.worklist.entries()}
    assert statuses[annotated_id] == "reviewed"
    np.testing.assert_array_equal(first.session.state.truth[0, 0], moved)
    assert "another window" in first.statusBar().currentMessage()
    assert not first.check_for_changes(), "nothing new the second time"
