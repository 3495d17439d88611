"""The worklist's order decides what a reviewer sees next, so it is tested as plain data."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

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


def test_long_names_are_shortened_in_the_middle_and_the_list_never_scrolls_sideways(qtbot):
    long = "sunhl-1th-02-Jan-2017-162 A AP (scanned again, second copy).jpg"
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 400)
    panel.show()
    panel.set_entries([WorklistEntry(1, long, "not_started", True, 2.0, True, 31.2, "truth")])
    view = panel.view
    assert view.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert view.horizontalScrollBar().maximum() == 0
    header = view.horizontalHeader()
    used = sum(header.sectionSize(c) for c in range(1, 6))
    assert used <= view.viewport().width() + 1  # every column on screen
    assert panel.model.data(panel.model.index(0, 1), Qt.ItemDataRole.ToolTipRole).startswith(long)


def test_clicking_the_cobb_header_sorts_by_the_largest_angle_and_again_reverses(qtbot):
    entries = [
        WorklistEntry(1, "a.png", "not_started", True, None, False, 12.0, "truth"),
        WorklistEntry(2, "b.png", "not_started", False, None, True, 40.0, "prediction"),
        WorklistEntry(3, "c.png", "not_started", False, None, False, None, None),
        WorklistEntry(4, "d.png", "reviewed", True, None, False, 25.0, "truth"),
    ]
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    panel.set_entries(entries)
    cobb_column = 4
    header = panel.view.horizontalHeader()

    def click_header() -> None:
        x = header.sectionViewportPosition(cobb_column) + header.sectionSize(cobb_column) // 2
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))

    click_header()
    assert panel.visible_ids() == [2, 4, 1, 3]  # largest first, unmeasured last
    assert panel.sort_key() == "cobb"
    click_header()
    assert panel.visible_ids() == [1, 4, 2, 3]  # smallest first, unmeasured still last
    text = panel.model.data(panel.model.index(0, cobb_column))
    assert text == "12.0°"
    click_header()
    assert panel.model.data(panel.model.index(0, cobb_column)) == "(40.0°)"  # model's: bracketed


def test_names_sharing_a_long_beginning_stay_distinguishable_in_a_narrow_list(qtbot):
    """Real AASCE names all read "sunhl-1t…B AP.jpg" once shortened to fit the list."""
    names = [  # as a scanner names them: the day and the series differ, little else
        "sunhl-1th-09-Jan-2017-196 E AP.jpg",
        "sunhl-1th-09-Jan-2017-217 A AP.jpg",
        "sunhl-1th-10-Jan-2017-238 B AP.jpg",
        "sunhl-1th-21-Nov-2016-132 C AP.jpg",
    ]
    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.resize(panel.minimumWidth(), 400)  # as narrow as the window lets it be
    panel.show()
    panel.set_entries(
        [
            WorklistEntry(i, n, "not_started", False, 46.3, True, 166.5, "prediction")
            for i, n in enumerate(names, 1)
        ]
    )
    view = panel.view
    width = view.horizontalHeader().sectionSize(1) - 8  # the cell's margins
    metrics = view.fontMetrics()
    seen = [
        metrics.elidedText(panel.model.data(panel.model.index(r, 1)), view.textElideMode(), width)
        for r in range(len(names))
    ]
    assert len(set(seen)) == len(names), seen
    tips = [
        panel.model.data(panel.model.index(r, 1), Qt.ItemDataRole.ToolTipRole)
        for r in range(len(names))
    ]
    assert [t.splitlines()[0] for t in tips] == names  # the full name is one hover away
