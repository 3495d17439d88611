"""The review window driven as a clinician drives it: real mouse and key events only.

Presses, moves and releases go to the X-ray view's viewport and keys to the
focused widget, through the same event filter, shortcut map and session as
in the running application. Several tests are the bugs of the first trial.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

import spinegui.core.cobb as cobb_module
from tests.gui.test_drag import blank_xray, drag, image_delta
from tests.gui.test_main_window import N_VERTEBRAE, key, wait_drawn

LEFT = Qt.MouseButton.LeftButton


def on_canvas(qtbot, window, qt_key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed while the X-ray has the focus (after a click on it, say)."""
    window.canvas.view.setFocus()
    qtbot.keyClick(window.canvas.view, qt_key, modifier)


def handle_point(window, v: int, c: int) -> QPoint:
    pts = window.canvas.ground_truth()
    if pts is None:
        pts = window.canvas.prediction()
    return window.canvas.image_to_viewport(*pts[v, c]).toPoint()


def box_point(window, v: int) -> QPoint:
    """Inside vertebra v's box, off its centre handle."""
    pts = window.canvas.ground_truth()
    if pts is None:
        pts = window.canvas.prediction()
    inside = 0.7 * pts[v].mean(axis=0) + 0.3 * pts[v, 0]
    return window.canvas.image_to_viewport(*inside).toPoint()


@pytest.fixture
def shown(qtbot, window, demo_project):
    """The window on the demo project, first image (with truth) predicted and drawn."""
    window.open_project(demo_project)
    first = window.session.worklist.visible_ids()[0]
    wait_drawn(qtbot, window, first)
    qtbot.waitUntil(window.is_settled, timeout=60_000)
    return window


def test_drag_a_corner_undo_nudge_and_review_next(qtbot, shown):
    window, canvas = shown, shown.canvas
    first, second = window.session.worklist.visible_ids()[:2]
    truth = canvas.ground_truth()
    start = handle_point(window, 5, 0)
    end = start + QPoint(12, -8)
    drag(canvas, start, end)
    moved = truth[5, 0] + image_delta(canvas, start, end)
    np.testing.assert_allclose(window.project.ground_truth(first)[5, 0], moved, atol=1e-6)
    assert window.session.worklist.entries[first].status == "in_review"

    key(qtbot, window, "Ctrl+Z")  # the view has the focus since the press
    np.testing.assert_array_equal(window.project.ground_truth(first), truth)
    np.testing.assert_array_equal(canvas.ground_truth(), truth)
    assert window.session.worklist.entries[first].status == "not_started"  # bug 3

    QTest.mouseClick(canvas.view.viewport(), LEFT, pos=handle_point(window, 7, 1))
    assert canvas.selection() == (7, 1)
    on_canvas(qtbot, window, Qt.Key.Key_Right)
    on_canvas(qtbot, window, Qt.Key.Key_Right)
    on_canvas(qtbot, window, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_allclose(window.project.ground_truth(first)[7, 1], truth[7, 1] + (2, 10))
    assert len(window.session.history.entries) == 3  # the undone drag cannot be redone now

    key(qtbot, window, "Ctrl+Return")
    assert window.session.current_id == second
    assert window.session.worklist.entries[first].status == "reviewed"
    assert window.project.image(first).reviewer


def test_the_selected_corner_does_not_follow_to_the_next_image(qtbot, shown):
    """Bug 4: the selected-corner marker carried over after Ctrl+Enter."""
    window, canvas = shown, shown.canvas
    QTest.mouseClick(canvas.view.viewport(), LEFT, pos=handle_point(window, 5, 2))
    QTest.mouseMove(canvas.view.viewport(), handle_point(window, 6, 1))  # hover another
    assert canvas.selection() == (5, 2)
    key(qtbot, window, "Ctrl+Return")
    assert canvas.selection() == (-1, -1)
    assert canvas.overlay._selection == (-1, -1) and canvas.overlay._hover is None
    assert not window.inspector.table.selectionModel().selectedRows()


def test_new_project_from_folder_with_ctrl_n(qtbot, window, tmp_path, monkeypatch):
    """Bug 1: the action's checked=False landed in the folder argument (TypeError)."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    folder = tmp_path / "xrays"
    folder.mkdir()
    for i in range(2):
        blank_xray(folder / f"spine_{i}.png", width=60, height=120, grey=i)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QInputDialog, "getItem", lambda _p, _t, _l, items, *a: (items[0], True))
    key(qtbot, window, "Ctrl+N")
    assert window.project is not None and window.project.folder == folder.resolve()
    assert len(window.session.worklist.entries) == 2
    assert window.session.current_id is not None


def test_the_new_project_question_names_the_model_each_template_gets(
    qtbot, window, tmp_path, monkeypatch
):
    """Real X-rays went into C7-L5, the first choice, whose model never saw a real X-ray."""
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from spinegui.core.model_card import newest_shipped_model

    folder = tmp_path / "xrays"
    folder.mkdir()
    blank_xray(folder / "spine.png", width=60, height=120)
    offered = []

    def choose(_parent, _title, _label, items, *_a):
        offered.extend(items)
        return next(i for i in items if i.startswith("T1-L5")), True

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QInputDialog, "getItem", choose)
    key(qtbot, window, "Ctrl+N")
    for template in ("C7-L5", "T1-L5"):
        card = newest_shipped_model(template)
        [item] = [i for i in offered if i.startswith(template)]
        assert f"model: {card['version']}" in item
    assert window.project.template.name == "T1-L5"
    assert window.project.active_model().version == newest_shipped_model("T1-L5")["version"]


def test_prediction_lines_with_truth_present_and_hidden_truth_takes_its_lines(qtbot, shown):
    """Bug 2: prediction lines never drawn while there was truth; G left the truth's lines."""
    window, canvas = shown, shown.canvas
    assert {d[0] for d in canvas.cobb_overlay.drawn_angles()} == {"truth"}
    window.actions_["cobb_prediction"].trigger()
    assert {d[0] for d in canvas.cobb_overlay.drawn_angles()} == {"prediction"}
    window.actions_["cobb_both"].trigger()
    assert {d[0] for d in canvas.cobb_overlay.drawn_angles()} == {"truth", "prediction"}
    canvas.grab()  # paint: the labels show both values side by side
    assert any("model" in text and "°" in text for text, _ in canvas.cobb_overlay.drawn_labels)

    on_canvas(qtbot, window, Qt.Key.Key_G)  # hide the ground truth
    assert not canvas.layer_visible("truth")
    assert {d[0] for d in canvas.cobb_overlay.drawn_angles()} == {"prediction"}
    window.actions_["cobb_truth"].trigger()  # truth chosen but hidden: the visible boxes' lines
    assert {d[0] for d in canvas.cobb_overlay.drawn_angles()} == {"prediction"}
    rows = window.inspector.cobb_text()
    assert rows and all(len(r) == 4 for r in rows)  # both angle sets still listed


def test_single_letter_shortcuts_act_only_on_the_x_ray(qtbot, shown):
    window, canvas = shown, shown.canvas
    window.worklist.search.setFocus()
    qtbot.keyClicks(window.worklist.search, "g")
    assert canvas.layer_visible("truth")  # typing in the search field hides nothing
    assert window.worklist.search.text() == "g"
    window.worklist.search.clear()
    on_canvas(qtbot, window, Qt.Key.Key_G)
    assert not canvas.layer_visible("truth")
    on_canvas(qtbot, window, Qt.Key.Key_G)
    assert canvas.layer_visible("truth")


def test_accept_all_says_how_many_vertebrae_it_changed(qtbot, shown):
    window = shown
    second = window.session.worklist.visible_ids()[1]
    key(qtbot, window, "PgDown")
    wait_drawn(qtbot, window, second)
    on_canvas(qtbot, window, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    message = window.statusBar().currentMessage()
    assert f"for {N_VERTEBRAE} vertebrae" in message
    assert window.project.ground_truth(second) is not None
    key(qtbot, window, "Ctrl+Z")
    assert window.project.ground_truth(second) is None
    # The status bar said "Accepted ... for 18 vertebrae" still, after the undo.
    assert window.statusBar().currentMessage().startswith("Undone: Accept the whole prediction")
    key(qtbot, window, "Ctrl+Shift+Z")
    assert window.project.ground_truth(second) is not None
    assert window.statusBar().currentMessage().startswith("Redone: Accept the whole prediction")


def test_one_drag_costs_one_write_one_read_and_one_cobb_computation(qtbot, shown, monkeypatch):
    """Was 24 statements (8 re-reading the image row) and 3 Cobb computations per release."""
    window, canvas = shown, shown.canvas
    drag(canvas, handle_point(window, 4, 0), handle_point(window, 4, 0) + QPoint(5, 0))
    start = handle_point(window, 9, 1)  # the second drag: the image is already in review
    vp = canvas.view.viewport()
    QTest.mousePress(vp, LEFT, Qt.KeyboardModifier.NoModifier, start)
    for dx in (2, 4, 6):
        QTest.mouseMove(vp, start + QPoint(dx, 0))
    calls, statements = [], []
    real = cobb_module.cobb_angles
    monkeypatch.setattr(
        cobb_module, "cobb_angles", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    conn = window.project._db()
    conn.set_trace_callback(statements.append)
    QTest.mouseRelease(vp, LEFT, Qt.KeyboardModifier.NoModifier, start + QPoint(8, 0))
    canvas.grab()  # and let everything repaint
    conn.set_trace_callback(None)
    commit = statements.index("COMMIT")
    assert statements[0] == "BEGIN IMMEDIATE"
    assert len(statements[commit + 1 :]) == 1  # one read of the image's state
    assert len(statements) <= 7
    assert len(calls) == 1


def test_choose_end_vertebrae_by_clicking_them_then_undo(qtbot, shown):
    window, canvas = shown, shown.canvas
    first = window.session.current_id
    automatic = window.session.measurement().truth.curves
    on_canvas(qtbot, window, Qt.Key.Key_E)
    QTest.mouseClick(canvas.view.viewport(), LEFT, pos=box_point(window, 12))
    QTest.mouseClick(canvas.view.viewport(), LEFT, pos=box_point(window, 4))
    assert window.project.curve_ends(first) == ((4, 12),)
    # The automatic curves it overlaps vanish with it: the status bar names each one.
    kept = window.session.measurement().truth.curves
    gone = [c for c in automatic if c not in kept]
    assert gone
    message = window.statusBar().currentMessage()
    assert "replaces the automatic" in message
    assert all(c.ends(window.session.names) in message for c in gone)
    rows = window.inspector.cobb_text()
    assert any("chosen by the reader" in r[0] and "T4–T12" in r[1] for r in rows)
    assert any(d[3] == (4, 12) for d in canvas.cobb_overlay.drawn_angles())
    key(qtbot, window, "Ctrl+Z")
    assert window.project.curve_ends(first) == ()
    assert not any("chosen by the reader" in r[0] for r in window.inspector.cobb_text())


def test_choose_end_vertebrae_from_the_panel(qtbot, shown):
    window = shown
    inspector = window.inspector
    inspector.upper_box.setCurrentIndex(6)
    inspector.lower_box.setCurrentIndex(13)
    qtbot.mouseClick(inspector.measure_button, LEFT)
    assert window.project.curve_ends(window.session.current_id) == ((6, 13),)
    assert any("chosen by the reader" in r[0] and "T6–L1" in r[1] for r in inspector.cobb_text())
    qtbot.mouseClick(inspector.clear_button, LEFT)
    assert window.project.curve_ends(window.session.current_id) == ()


def test_first_start_fits_the_screen_and_a_saved_size_is_clamped(
    qtbot, tmp_path, make_inference_service
):
    """Bug 6: the window was 1400 x 900 whatever the screen."""
    from spinegui.gui.main_window import MainWindow
    from spinegui.gui.settings import Settings

    settings = Settings.at(tmp_path / "fresh.ini")
    first = MainWindow(settings, inference=make_inference_service(device="cpu"))
    qtbot.addWidget(first)
    available = first.screen().availableGeometry()
    assert available.contains(first.geometry())
    first.setGeometry(available.x() + 300, available.y() + 200, 3000, 2000)  # a big old monitor
    settings.save_window(first.saveGeometry(), first.saveState())
    first.close()

    again = MainWindow(settings, inference=make_inference_service(device="cpu"))
    qtbot.addWidget(again)
    assert available.contains(again.geometry())
    again.close()


# ----------------------------------------------------------------------- exports


def _rgb(image) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB32)
    shape = (image.height(), image.width(), 4)
    return np.frombuffer(image.constBits(), np.uint8).reshape(shape).copy()  # outlives image


def test_png_export_draws_the_overlay_on_the_full_image_without_handles(qtbot, shown, tmp_path):
    from PySide6.QtGui import QImage

    from spinegui.gui.export_render import render_annotated

    window, canvas = shown, shown.canvas
    canvas.set_zoom(4.0)  # what the screen shows does not matter
    plain = _rgb(QImage(str(window.export_png(tmp_path / "plain.png"))))
    assert plain.shape[:2] == (canvas.image_size()[1], canvas.image_size()[0])
    full = _rgb(render_annotated(canvas, handles=True, uncertainty=True))
    truth, pred = canvas.ground_truth(), canvas.prediction()
    x, y = np.round(truth[6, 1]).astype(int)
    # A handle's outline sits HANDLE_SIZE/2 * k px from its corner: only the full export has it.
    differs = np.abs(full.astype(int) - plain.astype(int)).sum(axis=2) > 60
    assert differs[y - 12 : y + 13, x - 12 : x + 13].any()
    marks_x = int(pred[:, (1, 3), 0].max()) + 12
    assert differs[:, marks_x : marks_x + 30].any()  # the uncertainty marks, right of the boxes
    green = (plain[..., 1] > 150) & (plain[..., 2] < 140) & (plain[..., 0] < 160)
    assert green.sum() > 500  # the ground truth's boxes are drawn on the export


def test_a_ruler_drawn_on_the_image_gives_millimetres_and_is_undoable(qtbot, shown, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    window, canvas = shown, shown.canvas
    asked = []

    def get_double(_parent, _title, label, *_a, **_k):
        # The line stays on the image while its length is asked (it vanished on release).
        asked.append((label, canvas.tools.line.isVisible()))
        return 100.0, True

    monkeypatch.setattr(QInputDialog, "getDouble", get_double)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    on_canvas(qtbot, window, Qt.Key.Key_K)
    a = canvas.image_to_viewport(100, 200).toPoint()
    b = canvas.image_to_viewport(100, 700).toPoint()
    drag(canvas, a, b)
    drawn = np.subtract(canvas.viewport_to_image(b), canvas.viewport_to_image(a))
    [(label, line_shown)] = asked
    assert line_shown and f"{np.hypot(*drawn):.0f} pixels long" in label
    assert not canvas.tools.line.isVisible()  # and goes once answered
    calibration = window.project.calibration(window.session.current_id)
    assert calibration is not None
    assert calibration.mm_per_px == pytest.approx(100.0 / np.hypot(*drawn), rel=1e-9)
    assert "ruler drawn on this image" in window.inspector.scale_label.text()
    assert window.inspector.table.item(0, 2).text().endswith(" mm")
    assert canvas.spacing_mm() == pytest.approx((calibration.mm_per_px,) * 2)
    key(qtbot, window, "Ctrl+Z")
    assert window.project.calibration(window.session.current_id) is None


def test_the_export_has_a_scale_bar_only_when_the_image_has_a_scale(qtbot, shown):
    from spinegui.gui.export_render import bar_length_mm, render_annotated

    canvas = shown.canvas
    w, h = canvas.image_size()
    corner = np.s_[int(0.85 * h) :, : w // 3]

    def white_in_corner() -> int:
        return int((_rgb(render_annotated(canvas))[corner][..., :3] > 245).all(axis=2).sum())

    canvas.set_spacing(None)
    without = white_in_corner()
    canvas.set_spacing((0.2, 0.2))
    assert white_in_corner() > without + 100  # the white bar
    assert bar_length_mm(w, 0.2) == 20  # the longest round length under a fifth of the width
