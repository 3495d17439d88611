"""Real mouse drags on the canvas viewport: the corner lands where the mouse took it.

Events go through QTest to the view's viewport, the widget that receives
them in the running application, so the event filter, the screen-pixel grab
radius and the image<->screen mapping are all exercised. Positions are mapped
image -> viewport with the canvas's own transform, and expectations are
mapped back, so the test holds at any zoom.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from spinegui.core.cobb import cobb_angles
from spinegui.core.curves import measure_curves
from spinegui.core.review import ReviewSession
from spinegui.core.store import Project
from spinegui.core.templates import get_template
from spinegui.gui.canvas import GRAB_RADIUS_PX, XrayCanvas
from spinegui.gui.editing import connect_canvas

V = 18


def spine(offset=0.0) -> np.ndarray:
    """A straight C7-L5 spine of 18 boxes, 60 px wide, 40 px tall, 10 px gaps."""
    boxes = []
    for v in range(V):
        top = 40.0 + 50.0 * v
        x0 = 200.0 + offset
        boxes.append([[x0, top], [x0 + 60, top], [x0, top + 40], [x0 + 60, top + 40]])
    return np.array(boxes, dtype=np.float64)


def make_canvas(qtbot, truth=None, prediction=None) -> XrayCanvas:
    canvas = XrayCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(500, 700)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_image(np.zeros((1000, 500), np.float32), (0.0, 1.0))
    canvas.set_template("C7-L5")
    canvas.set_ground_truth(truth)
    canvas.set_prediction(prediction)
    return canvas


def viewport_point(canvas: XrayCanvas, x: float, y: float) -> QPoint:
    return canvas.image_to_viewport(x, y).toPoint()


def drag(canvas: XrayCanvas, start: QPoint, end: QPoint, steps: int = 6, pause_ms: int = 0) -> None:
    """Press at ``start``, move in ``steps`` to ``end``, release: what a user's hand does.

    ``pause_ms`` between moves matters only for gestures pyqtgraph handles
    (pan), which drops mouse moves closer than 10 ms apart.
    """
    viewport = canvas.view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        t = i / steps
        p = QPoint(
            round(start.x() + t * (end.x() - start.x())),
            round(start.y() + t * (end.y() - start.y())),
        )
        QTest.mouseMove(viewport, p)
        if pause_ms:
            QTest.qWait(pause_ms)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def image_delta(canvas: XrayCanvas, start: QPoint, end: QPoint) -> np.ndarray:
    a = np.array(canvas.viewport_to_image(QPointF(start)))
    b = np.array(canvas.viewport_to_image(QPointF(end)))
    return b - a


def blank_xray(path, width: int = 500, height: int = 1000, grey: int = 0):
    """A flat PNG of the test spine's size: what the session loads and the canvas shows."""
    import cv2

    cv2.imwrite(str(path), np.full((height, width), grey, np.uint8))
    return path


@pytest.fixture
def project(tmp_path):
    from spinegui.core.imageio import file_sha256

    proj = Project.create(tmp_path / "proj", "C7-L5")
    path = blank_xray(tmp_path / "x.png")
    image_id = proj.add_image(path, width=500, height=1000, sha256=file_sha256(path))
    proj.add_model("m1", tmp_path / "m1.safetensors")
    proj.set_active_model("m1")
    yield proj, image_id
    proj.close()


def wire(qtbot, proj, image_id, on_error=None) -> tuple[XrayCanvas, ReviewSession]:
    """A canvas on a review session showing ``image_id``, wired as the window wires it."""
    canvas = make_canvas(qtbot)
    session = ReviewSession()
    connect_canvas(canvas, session, on_error=on_error)
    session.project = proj  # the fixture owns the project; open() would take it over
    session.refresh_entries()
    session.show(image_id)
    return canvas, session


@pytest.fixture
def wired(qtbot, project):
    """Canvas + review session + real project, connected as the main window connects them."""
    proj, image_id = project

    def build(truth=None, prediction=None):
        if truth is not None:
            proj.set_ground_truth(image_id, truth, "import", "import")
        if prediction is not None:
            proj.set_prediction(image_id, "m1", prediction)
        canvas, session = wire(qtbot, proj, image_id)
        return canvas, session

    return proj, image_id, build


@pytest.mark.parametrize("zoom", [None, 4.0], ids=["fit", "zoom4x"])
def test_corner_drag_moves_exactly_that_corner_by_the_mouse_distance(qtbot, zoom):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    v, c = 7, 3  # T7 bottom-right
    if zoom is not None:
        canvas.set_zoom(zoom, tuple(truth[v, c]))
        assert canvas.zoom() == pytest.approx(zoom)
    start = viewport_point(canvas, *truth[v, c])
    end = start + QPoint(23, -17)
    moved = []
    canvas.cornerMoved.connect(lambda *args: moved.append(args))
    view_before = canvas.viewbox.viewRect()

    drag(canvas, start, end)

    assert canvas.viewbox.viewRect() == view_before  # the handle took the drag, not the pan

    expected = truth[v, c] + image_delta(canvas, start, end)
    after = canvas.ground_truth()
    np.testing.assert_allclose(after[v, c], expected, atol=1e-6)
    others = np.ones((V, 4), bool)
    others[v, c] = False
    np.testing.assert_array_equal(after[others], truth[others])
    assert len(moved) == 1  # one signal, on release only
    mv, mc, before, new = moved[0]
    assert (mv, mc) == (v, c)
    np.testing.assert_array_equal(before, truth[v, c])
    np.testing.assert_allclose(new, expected, atol=1e-6)
    # 23 screen px are 23 / zoom image px: finer when zoomed in.
    assert abs(new[0] - before[0]) == pytest.approx(23 / canvas.zoom(), rel=0.05)


def test_grab_radius_is_in_screen_pixels(qtbot):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    canvas.set_zoom(8.0, tuple(truth[3, 0]))
    corner = canvas.image_to_viewport(*truth[3, 0])
    near = corner + QPointF(GRAB_RADIUS_PX - 2, 0)
    far = corner + QPointF(-(GRAB_RADIUS_PX + 3), 0)
    assert canvas.handle_at(near) == (3, 0)
    assert canvas.handle_at(far) is None  # only 11/8 image px away, but 11 screen px


def test_dragging_empty_image_pans_instead_of_editing(qtbot):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    canvas.set_zoom(2.0, (250, 500))
    before_range = canvas.viewbox.viewRect()
    start = viewport_point(canvas, 340, 500)  # inside the view, far from every box
    drag(canvas, start, start + QPoint(40, 30), pause_ms=20)
    np.testing.assert_array_equal(canvas.ground_truth(), truth)
    assert canvas.viewbox.viewRect() != before_range


def test_store_holds_the_drag_and_undo_redo_restore_it(wired):
    proj, image_id, build = wired
    truth = spine()
    canvas, session = build(truth=truth)
    canvas.set_zoom(4.0, tuple(truth[10, 0]))
    start = viewport_point(canvas, *truth[10, 0])
    end = start + QPoint(-12, 9)
    drag(canvas, start, end)
    expected = truth[10, 0] + image_delta(canvas, start, end)

    np.testing.assert_allclose(proj.ground_truth(image_id)[10, 0], expected, atol=1e-6)
    assert len(session.history.entries) == 1
    session.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), truth)
    np.testing.assert_array_equal(canvas.ground_truth(), truth)  # the view follows the store
    session.redo()
    np.testing.assert_allclose(proj.ground_truth(image_id)[10, 0], expected, atol=1e-6)
    np.testing.assert_allclose(canvas.ground_truth()[10, 0], expected, atol=1e-6)
    kinds = [e.kind for e in proj.history(image_id)]
    assert kinds.count("move_corner") == 3  # do, undo, redo


def test_dragging_the_centre_moves_all_four_corners(wired):
    proj, image_id, build = wired
    truth = spine()
    canvas, session = build(truth=truth)
    centre = truth[5].mean(axis=0)
    start = viewport_point(canvas, *centre)
    end = start + QPoint(30, 12)
    drag(canvas, start, end)
    shift = image_delta(canvas, start, end)

    stored = proj.ground_truth(image_id)
    np.testing.assert_allclose(stored[5], truth[5] + shift, atol=1e-6)
    np.testing.assert_array_equal(np.delete(stored, 5, axis=0), np.delete(truth, 5, axis=0))
    assert canvas.selection() == (5, -1)
    session.undo()
    np.testing.assert_array_equal(proj.ground_truth(image_id), truth)


def test_drag_without_truth_starts_it_from_prediction_and_one_undo_removes_both(wired):
    proj, image_id, build = wired
    pred = spine(offset=5.0)
    canvas, session = build(prediction=pred)
    assert canvas.editable_layer() == "prediction"
    start = viewport_point(canvas, *pred[2, 1])
    end = start + QPoint(15, 0)
    drag(canvas, start, end)
    expected = pred.copy()
    expected[2, 1] += image_delta(canvas, start, end)

    stored = proj.ground_truth(image_id)
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    np.testing.assert_array_equal(canvas.prediction(), pred)  # the red boxes stay the model's
    assert canvas.editable_layer() == "truth"
    assert len(session.history.entries) == 1

    session.undo()
    assert proj.ground_truth(image_id) is None
    assert not proj.image(image_id).has_ground_truth
    assert canvas.ground_truth() is None
    assert canvas.editable_layer() == "prediction"
    session.redo()
    np.testing.assert_allclose(proj.ground_truth(image_id), expected, atol=1e-6)


def test_click_without_moving_changes_nothing(wired):
    proj, image_id, build = wired
    pred = spine()
    canvas, session = build(prediction=pred)
    p = viewport_point(canvas, *pred[4, 0])
    QTest.mouseClick(canvas.view.viewport(), Qt.MouseButton.LeftButton, pos=p)
    assert canvas.selection() == (4, 0)
    assert canvas.ground_truth() is None  # a click is not an edit
    assert proj.ground_truth(image_id) is None
    assert session.history.entries == []


def test_right_drag_changes_window_not_landmarks(qtbot):
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    seen = []
    canvas.levelsChanged.connect(lambda lo, hi: seen.append((lo, hi)))
    viewport = canvas.view.viewport()
    start = viewport_point(canvas, 100, 100)
    QTest.mousePress(viewport, Qt.MouseButton.RightButton, pos=start)
    QTest.mouseMove(viewport, start + QPoint(100, 0))
    QTest.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=start + QPoint(100, 0))
    low, high = canvas.levels()
    assert high - low > 1.2  # dragging right widened the window from 1.0
    assert seen and seen[-1] == (low, high)
    np.testing.assert_array_equal(canvas.ground_truth(), truth)


def test_cobb_lines_follow_a_drag_before_release(qtbot):
    """Tilting L5 during a drag shows the new angle at once; the store is written on release."""
    canvas = make_canvas(qtbot, truth=spine())
    names = get_template("C7-L5").vertebrae
    canvas.set_curves(measure_curves(spine(), 1000, names), None)
    assert canvas.cobb_overlay.drawn_angles() == []  # a straight spine has no curve
    viewport = canvas.view.viewport()
    x, y = spine()[17, 1]  # L5 top-right corner
    start = viewport_point(canvas, x, y)
    end = viewport_point(canvas, x, y - 25)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 5):
        QTest.mouseMove(
            viewport, QPoint(start.x(), round(start.y() + i * (end.y() - start.y()) / 4))
        )
    live = canvas.cobb_overlay.drawn_angles()
    moved = canvas.overlay.points("truth")
    main = max(live, key=lambda d: d[2])
    assert main[0] == "truth" and main[3][1] == 17  # the main angle now ends at L5
    assert main[2] == pytest.approx(cobb_angles(moved, 1000).main, abs=1e-6)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
