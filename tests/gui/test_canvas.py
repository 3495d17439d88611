"""Canvas state: image, window/level, zoom, layers, selection and the cursor readout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from spinegui.gui.canvas import XrayCanvas
from tests.gui.test_drag import drag, make_canvas, spine, viewport_point


def test_opening_image_draws_one_box_per_vertebra_on_each_layer(qtbot):
    canvas = make_canvas(qtbot, truth=spine(), prediction=spine(offset=4))
    assert canvas.overlay.box_count("truth") == 18
    assert canvas.overlay.box_count("prediction") == 18
    partial = spine()
    partial[3] = np.nan  # a vertebra the model could not place is not drawn
    canvas.set_prediction(partial)
    assert canvas.overlay.box_count("prediction") == 17


def test_new_image_clears_previous_landmarks_and_fits(qtbot):
    canvas = make_canvas(qtbot, truth=spine(), prediction=spine())
    canvas.select(2, 1)
    canvas.set_zoom(5.0)
    canvas.set_image(np.zeros((3000, 1500), np.uint16), (100.0, 4000.0))
    assert canvas.overlay.box_count("truth") == canvas.overlay.box_count("prediction") == 0
    assert canvas.selection() == (-1, -1)
    assert canvas.image_size() == (1500, 3000)
    rect = canvas.viewbox.viewRect()
    assert rect.contains(QPointF(0, 0)) and rect.contains(QPointF(1499, 2999))
    assert canvas.levels() == (100.0, 4000.0)


def test_large_16bit_image_is_shown_without_copy(qtbot):
    canvas = make_canvas(qtbot)
    pixels = np.zeros((2000, 800), np.uint16)
    canvas.set_image(pixels, (0.0, 65535.0))
    assert np.shares_memory(canvas.image_item.image, pixels)  # pyqtgraph's fast path
    assert canvas.image_item.levels is not None  # explicit levels: no auto-levelling pass


def test_fit_stays_fitted_on_resize_until_user_zooms(qtbot):
    canvas = make_canvas(qtbot)
    canvas.resize(300, 900)
    qtbot.wait(10)
    rect = canvas.viewbox.viewRect()
    assert rect.width() >= 500 and rect.height() >= 1000
    canvas.set_zoom(3.0)
    canvas.resize(600, 600)
    qtbot.wait(10)
    assert canvas.zoom() == pytest.approx(3.0)


def test_zoom_signal_reports_screen_pixels_per_image_pixel(qtbot):
    canvas = make_canvas(qtbot)
    seen = []
    canvas.zoomChanged.connect(seen.append)
    canvas.set_zoom(4.0, (250, 500))
    assert seen and seen[-1] == pytest.approx(4.0)
    centre = canvas.viewport_to_image(QPointF(canvas.view.viewport().rect().center()))
    assert centre == pytest.approx((250, 500), abs=0.5)


def test_wheel_zooms_in(qtbot):
    canvas = make_canvas(qtbot)
    before = canvas.zoom()
    canvas.viewbox.scaleBy((0.5, 0.5))  # what a wheel step does in pyqtgraph
    assert canvas.zoom() == pytest.approx(2 * before)


def test_levels_and_invert(qtbot):
    canvas = make_canvas(qtbot)
    seen = []
    canvas.levelsChanged.connect(lambda lo, hi: seen.append((lo, hi)))
    canvas.set_levels(0.8, 0.2)  # reversed input is put in order
    assert canvas.levels() == (0.2, 0.8)
    assert tuple(canvas.image_item.levels) == pytest.approx((0.2, 0.8))
    assert seen == [(0.2, 0.8)]
    canvas.set_inverted(True)
    assert canvas.inverted()
    assert canvas.image_item.lut[0] == 255 and canvas.image_item.lut[-1] == 0
    canvas.set_inverted(False)
    assert canvas.image_item.lut is None


def test_layer_toggles_hide_boxes_and_editing(qtbot):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth, prediction=spine(offset=3))
    canvas.set_layer_visible("prediction", False)
    assert canvas.overlay.box_count("prediction") == 0
    assert canvas.overlay.box_count("truth") == 18
    corner = canvas.image_to_viewport(*truth[0, 0])
    assert canvas.handle_at(corner) == (0, 0)
    canvas.set_layer_visible("handles", False)
    assert canvas.handle_at(corner) is None  # no visible handle, nothing to grab
    canvas.set_layer_visible("cobb", False)
    assert not canvas.layer_visible("cobb")
    with pytest.raises(ValueError):
        canvas.set_layer_visible("bones", True)


def test_editable_layer_follows_what_exists(qtbot):
    canvas = make_canvas(qtbot)
    assert canvas.editable_layer() is None
    canvas.set_prediction(spine())
    assert canvas.editable_layer() == "prediction"
    canvas.set_ground_truth(spine())
    assert canvas.editable_layer() == "truth"


def test_selection_survives_reload_click_in_box_selects_it_click_outside_clears(qtbot):
    canvas = make_canvas(qtbot, truth=spine())
    seen = []
    canvas.selectionChanged.connect(lambda v, c: seen.append((v, c)))
    p = viewport_point(canvas, *spine()[6, 3])
    QTest.mouseClick(canvas.view.viewport(), Qt.MouseButton.LeftButton, pos=p)
    assert canvas.selection() == (6, 3)
    canvas.set_ground_truth(spine(offset=1))  # the store reloads after an edit
    assert canvas.selection() == (6, 3)
    inside = viewport_point(canvas, *(spine(offset=1)[11].mean(axis=0) + np.array([12, 9])))
    QTest.mouseClick(canvas.view.viewport(), Qt.MouseButton.LeftButton, pos=inside)
    assert canvas.selection() == (11, -1)  # the whole vertebra: arrows then move all of it
    empty = viewport_point(canvas, 450, 950)
    QTest.mouseClick(canvas.view.viewport(), Qt.MouseButton.LeftButton, pos=empty)
    assert canvas.selection() == (-1, -1)
    assert seen == [(6, 3), (11, -1), (-1, -1)]


def test_escape_cancels_a_drag_in_progress(qtbot):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    moved = []
    canvas.cornerMoved.connect(lambda *a: moved.append(a))
    viewport = canvas.view.viewport()
    start = viewport_point(canvas, *truth[1, 1])
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(viewport, start + QPoint(30, 30))
    assert not np.array_equal(canvas.ground_truth(), truth)  # live feedback while dragging
    QTest.keyClick(canvas.view, Qt.Key.Key_Escape)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=start + QPoint(30, 30))
    np.testing.assert_array_equal(canvas.ground_truth(), truth)
    assert moved == []


def test_cursor_readout_in_image_pixels_and_nan_outside(qtbot):
    canvas = make_canvas(qtbot)
    seen = []
    canvas.cursorMoved.connect(lambda x, y: seen.append((x, y)))
    QTest.mouseMove(canvas.view.viewport(), viewport_point(canvas, 120, 340))
    assert seen[-1] == pytest.approx((120, 340), abs=1.5)
    QTest.mouseMove(canvas.view.viewport(), QPoint(2, 2))  # the black margin
    assert all(math.isnan(v) for v in seen[-1])


def test_canvas_without_image_ignores_mouse(qtbot):
    canvas = XrayCanvas()
    qtbot.addWidget(canvas)
    canvas.show()
    drag(canvas, QPoint(10, 10), QPoint(50, 50))
    assert canvas.image_size() is None
    canvas.fit()  # nothing to fit: no error


def test_zoom_is_bounded_both_ways(qtbot):
    from spinegui.gui.canvas import MIN_VIEW_PX

    canvas = XrayCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(500, 700)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.zeros((1000, 500), np.float32), (0.0, 1.0))
    canvas.set_zoom(10_000.0)
    width, height = canvas.viewbox.viewRect().width(), canvas.viewbox.viewRect().height()
    assert min(width, height) >= MIN_VIEW_PX - 1e-6
    canvas.set_zoom(1e-4)
    assert canvas.viewbox.viewRect().height() <= 4 * 1000 + 1e-6
