"""The worklist's order decides what a reviewer sees next, so it is tested as plain data."""

from __future__ import annotations

import pytest

from spinegui.gui.worklist import WorklistEntry, WorklistPanel, arrange

ENTRIES = [
    WorklistEntry(1, "b.png", "reviewed", True, 1.0, True),
    WorklistEntry(2, "a.png", "not_started", False, None, False),
    WorklistEntry(3, "c.png", "in_review", True, 7.5, True),
    WorklistEntry(4, "D.png", "not_started", False, 3.2, True),
]


def ids(rows):
    return [e.image_id for e in rows]


def test_most_uncertain_first_puts_unknown_last():
    assert ids(arrange(ENTRIES, sort_key="uncertainty")) == [3, 4, 1, 2]


def test_sort_by_name_ignores_case_and_by_status_follows_the_workflow():
    assert ids(arrange(ENTRIES, sort_key="name")) == [2, 1, 3, 4]
    assert ids(arrange(ENTRIES, sort_key="status")) == [2, 4, 3, 1]


@pytest.mark.parametrize(
    ("key", "expected"),
    [("all", [1, 2, 3, 4]), ("todo", [2, 3, 4]), ("reviewed", [1]), ("not_started", [2, 4])],
)
def test_status_filter(key, expected):
    assert ids(arrange(ENTRIES, filter_key=key)) == expected


def test_text_filter_matches_part_of_the_name():
    assert ids(arrange(ENTRIES, text="  D.P ")) == [4]


def test_panel_next_previous_follow_the_visible_order(qtbot):
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.set_entries(ENTRIES)
    panel.set_sort("uncertainty")
    assert panel.visible_ids() == [3, 4, 1, 2]
    panel.select_image(4)
    assert panel.neighbour(+1) == 1
    assert panel.neighbour(-1) == 3
    panel.select_image(2)
    assert panel.neighbour(+1) is None


def test_panel_announces_only_user_choices(qtbot):
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.set_entries(ENTRIES)
    chosen = []
    panel.imageSelected.connect(chosen.append)
    panel.select_image(3)  # the window showing an image must not echo back
    assert chosen == []
    panel.view.selectRow(0)  # a click on the first row
    assert chosen == [1]
    assert panel.current_image() == 1


def test_status_update_moves_a_row_out_of_a_filter(qtbot):
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.set_entries(ENTRIES)
    panel.set_filter("todo")
    panel.update_entry(3, status="reviewed")
    assert panel.visible_ids() == [2, 4]
    assert "1 shown" not in panel.counts.text() and "2 reviewed" in panel.counts.text()
