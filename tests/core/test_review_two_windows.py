"""Two review sessions (two windows) on one project: neither overwrites the other unseen.

A session's edits carry the state the person saw; one overtaken by the other
window is refused with ProjectConflict, and the session then shows what the
store holds. Undo refuses to revert an edit the other window has built on.
``check_for_changes`` brings in the other window's commits.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from spinegui.core.errors import ProjectConflict
from spinegui.core.review import ReviewSession
from spinegui.core.store import Project, file_sha256


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "xray.png"
    cv2.imwrite(str(path), np.full((1000, 600), 90, np.uint8))
    with Project.create(tmp_path / "proj", "C7-L5", user="setup") as p:
        image_id = p.add_image(path, width=600, height=1000, sha256=file_sha256(path))
        truth = np.zeros((18, 4, 2))
        truth[:, :, 0] = [200, 400, 200, 400]
        truth[:, :, 1] = 50.0 * np.arange(18)[:, None] + [0, 0, 40, 40]
        p.set_ground_truth(image_id, truth, source="import", kind="import")
    return tmp_path / "proj"


@pytest.fixture
def two(folder):
    sessions = []
    for user in ("alice", "bob"):
        s = ReviewSession()
        s.open(Project.open(folder, user=user))
        s.show(1)
        sessions.append(s)
    yield sessions
    for s in sessions:
        s.close()


def test_an_edit_overtaken_by_the_other_window_is_refused_and_reloaded(two):
    alice, bob = two
    bob.move_corner(3, 0, (210.0, 160.0))
    with pytest.raises(ProjectConflict, match="T3"):
        alice.move_corner(3, 0, (250.0, 170.0))  # alice still sees the old corner
    assert alice.state.truth[3, 0].tolist() == [210.0, 160.0], "alice now sees bob's edit"
    assert alice.history.next_undo() is None, "nothing half done to undo"
    alice.move_corner(3, 0, (250.0, 170.0))  # based on what she sees now: saved
    assert bob.project.ground_truth(1)[3, 0].tolist() == [250.0, 170.0]


def test_undo_does_not_revert_the_other_windows_later_edit(two):
    alice, bob = two
    alice.move_corner(5, 1, (420.0, 255.0))
    bob.check_for_changes()
    bob.move_corner(5, 1, (430.0, 260.0))
    with pytest.raises(ProjectConflict):
        alice.undo()
    assert bob.project.ground_truth(1)[5, 1].tolist() == [430.0, 260.0]


def test_status_and_vertebra_edits_check_their_base(two):
    alice, bob = two
    bob.set_status("reviewed")
    with pytest.raises(ProjectConflict, match="review status"):
        alice.set_status("in_review")
    assert alice.state.record.status == "reviewed"
    bob.move_vertebra(7, bob.state.truth[7] + 5)
    with pytest.raises(ProjectConflict, match="T7"):
        alice.move_vertebra(7, alice.state.truth[7] - 5)


def test_the_other_windows_commits_are_brought_in(two):
    alice, bob = two
    seen = []
    alice.subscribe(seen.append)
    assert alice.check_for_changes() is False  # nothing new: no re-read, no redraw
    assert seen == []
    bob.move_corner(0, 0, (190.0, -5.0))
    assert alice.check_for_changes() is True
    assert alice.state.truth[0, 0].tolist() == [190.0, -5.0]
    assert alice.worklist.entries[1].status == "in_review"
    assert any("landmarks" in change for change in seen)


def test_chosen_end_vertebrae_and_rulers_check_their_base(two):
    from spinegui.core.calibration import Calibration

    alice, bob = two
    bob.choose_curve_ends(2, 9)
    with pytest.raises(ProjectConflict, match="end vertebrae"):
        alice.choose_curve_ends(4, 12)  # alice still sees the rules' ends
    assert bob.project.curve_ends(1) == ((2, 9),), "bob's choice kept"
    assert alice.state.curve_ends == ((2, 9),), "alice now sees bob's choice"

    bob.calibrate(Calibration.from_line(0, 0, 100, 0, 50.0))
    with pytest.raises(ProjectConflict, match="ruler"):
        alice.calibrate(Calibration.from_line(0, 0, 200, 0, 50.0))
    assert bob.project.calibration(1).mm_per_px == pytest.approx(0.5)

    bob.calibrate(Calibration.from_line(0, 0, 100, 0, 10.0), for_project=True)
    with pytest.raises(ProjectConflict, match="project's ruler"):
        alice.calibrate(Calibration.from_line(0, 0, 300, 0, 10.0), for_project=True)
    assert bob.project.calibration(None).mm_per_px == pytest.approx(0.1)


def test_undoing_a_choice_the_other_window_changed_since_is_refused(two):
    alice, bob = two
    alice.choose_curve_ends(2, 9)
    bob.check_for_changes()
    bob.clear_curve_ends()
    with pytest.raises(ProjectConflict):
        alice.undo()
    assert bob.project.curve_ends(1) == ()
