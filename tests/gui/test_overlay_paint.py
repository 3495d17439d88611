"""Painting every overlay: grab the widget and look for the colours where the boxes are.

Also guards against PySide6/pyqtgraph releases that crash while painting
(see design.md, "Known pitfalls").
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from spinegui.core.curves import measure_curves
from spinegui.core.geometry import midlines
from spinegui.core.templates import get_template
from spinegui.gui.canvas import XrayCanvas
from spinegui.gui.overlay import nearest_handle
from tests.gui.test_drag import make_canvas, spine


def curved_spine(offset: float) -> np.ndarray:
    """The straight test spine, each box turned about its centre: a C curve of about 25°."""
    pts = spine(offset)
    angles = np.radians(np.linspace(-10, 15, len(pts)))
    centres = pts.mean(axis=1, keepdims=True)
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    rel = pts - centres
    turned = np.stack([c * rel[..., 0] - s * rel[..., 1], s * rel[..., 0] + c * rel[..., 1]], -1)
    return turned + centres


def grab(canvas: XrayCanvas) -> QImage:
    return canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def colour_at(canvas: XrayCanvas, image: QImage, x: float, y: float) -> QColor:
    p = canvas.view.viewport().mapTo(canvas, canvas.image_to_viewport(x, y).toPoint())
    assert image.rect().contains(p), "sample outside the grabbed view"
    return image.pixelColor(p)


def fraction_along(canvas: XrayCanvas, image: QImage, a, b, test, n: int = 40) -> float:
    """Share of points on segment a-b (its middle 70%) where ``test`` holds.

    Each point may be off by one screen pixel *across* the segment, since an
    antialiased thin line straddles pixels, but not along it, so the gaps of
    a dashed line still count as gaps.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = (b - a) / np.hypot(*(b - a))
    normal = np.array([-d[1], d[0]]) / canvas.zoom()
    hits = [
        any(test(colour_at(canvas, image, *(p + k * normal))) for k in (-1, 0, 1))
        for p in (a + t * (b - a) for t in np.linspace(0.15, 0.85, n))
    ]
    return float(np.mean(hits))


def is_green(col: QColor) -> bool:
    return col.green() > 150 and col.red() < 140 and col.blue() < 160


def is_red(col: QColor) -> bool:
    return col.red() > 170 and col.green() < 120 and col.blue() < 120


@pytest.fixture
def painted(qtbot):
    truth, pred = curved_spine(offset=-80.0), curved_spine(offset=120.0)
    canvas = make_canvas(qtbot, truth=truth, prediction=pred)
    canvas.set_image(np.full((1000, 500), 0.3, np.float32), (0.0, 1.0))
    canvas.set_template("C7-L5")
    canvas.set_ground_truth(truth)
    canvas.set_prediction(pred, spread=np.full((18, 4), 4.0))
    names = get_template("C7-L5").vertebrae
    curves = measure_curves(truth, 1000, names)
    canvas.set_curves(curves, measure_curves(pred, 1000, names))
    canvas.fit()
    return canvas, truth, pred, curves.result


def test_truth_green_solid_prediction_red_dashed(painted):
    canvas, truth, pred, _ = painted
    image = grab(canvas)
    v = 6
    top_truth, top_pred = truth[v, :2], pred[v, :2]  # TL, TR
    assert fraction_along(canvas, image, *top_truth, is_green) > 0.9  # solid
    red = fraction_along(canvas, image, *top_pred, is_red)
    assert 0.3 < red < 0.85  # dashed: red with gaps
    assert fraction_along(canvas, image, *top_pred, is_green) == 0
    assert fraction_along(canvas, image, *top_truth, is_red) == 0
    background = colour_at(canvas, image, 250, 20)
    assert not is_green(background) and not is_red(background)


def test_labels_and_cobb_lines_are_painted(painted):
    canvas, truth, _, result = painted
    image = grab(canvas)
    # Label: light text just left of the box's left edge.
    v = 5
    left_mid = (truth[v, 0] + truth[v, 2]) / 2
    zoom = canvas.zoom()
    region = [left_mid - (dx / zoom, dy / zoom) for dx in range(10, 30) for dy in range(-4, 5)]
    light = [colour_at(canvas, image, *p).lightness() > 200 for p in region]
    assert np.mean(light) > 0.05
    # Main Cobb line: the upper end vertebra's midline extended past the box, in yellow.
    upper, _ = result.main_pair
    a, b = midlines(truth)[upper]
    yellow = fraction_along(
        canvas,
        image,
        b + 0.2 * (b - a),
        b + 0.9 * (b - a),
        lambda c: c.red() > 200 and c.green() > 170,
    )
    assert yellow > 0.9
    drawn = canvas.cobb_overlay.drawn_angles()
    assert {d[0] for d in drawn} == {"truth"}  # the default: the truth's lines only
    assert any(d[1] == "Main thoracic" and d[3] == result.main_pair for d in drawn)


def test_hidden_layers_paint_nothing(painted):
    canvas, truth, pred, _ = painted
    for layer in ("truth", "prediction", "labels", "cobb", "handles", "uncertainty"):
        canvas.set_layer_visible(layer, False)
    image = grab(canvas)
    for a, b in (truth[6, :2], pred[6, :2]):
        assert fraction_along(canvas, image, a, b, lambda c: is_green(c) or is_red(c)) == 0
    assert canvas.overlay.box_count("truth") == canvas.overlay.box_count("prediction") == 0


def test_selected_handle_on_prediction_when_there_is_no_truth(qtbot):
    pred = spine()
    canvas = make_canvas(qtbot, prediction=pred)
    canvas.select(3, 1)
    image = grab(canvas)
    handle = colour_at(canvas, image, *pred[3, 1])
    assert handle.red() > 200 and handle.green() > 170 and handle.blue() < 100  # yellow, filled
    # Other handles are hollow red squares: red on their outline, the corner itself uncovered.
    x, y = pred[8, 1]
    half = 3.5 / canvas.zoom()  # HANDLE_SIZE / 2 screen pixels
    outline = [colour_at(canvas, image, x + dx * half, y - half) for dx in (-0.5, 0.0, 0.5)]
    assert any(is_red(c) for c in outline)  # red handles: edits start from the prediction


def test_paints_at_every_zoom_without_error(painted, qtbot):
    canvas, *_ = painted
    for zoom in (0.2, 1.0, 8.0, 40.0):
        canvas.set_zoom(zoom, (250, 300))
        assert not grab(canvas).isNull()


def test_nearest_handle_prefers_corners_and_respects_radius():
    corners = np.array([[[0, 0], [10, 0], [0, 10], [10, 10]]], float)
    centres = corners.mean(axis=1)
    assert nearest_handle(corners, centres, (1, 1), 3) == (0, 0)
    assert nearest_handle(corners, centres, (5, 6), 3) == (0, -1)
    assert nearest_handle(corners, centres, (20, 20), 3) is None
    corners[0, 0] = np.nan  # a missing corner is never grabbed
    assert nearest_handle(corners, centres, (0, 0), 3) is None


def test_uncertainty_is_its_own_layer_beside_the_boxes_not_on_them(painted):
    canvas, _, pred, _ = painted
    grab(canvas)
    marks = canvas.overlay.uncertainty_marks
    assert len(marks) == len(pred)
    dev = np.array([[canvas.image_to_viewport(*p).x() for p in box] for box in pred])
    for v, x, _y, r in marks:
        assert x - r > dev[v].max()  # wholly right of its red box: off the bone
    canvas.set_layer_visible("uncertainty", False)
    grab(canvas)
    assert canvas.overlay.uncertainty_marks == []
    assert canvas.overlay.box_count("prediction") == len(pred)  # the boxes stay


def test_nothing_fills_the_inside_of_a_box(qtbot):
    """The centre ring is unfilled (handles are hollow too, see the next test but one)."""
    truth = spine()
    canvas = make_canvas(qtbot, truth=truth)
    canvas.set_image(np.full((1000, 500), 0.5, np.float32), (0.0, 1.0))
    canvas.set_template("C7-L5")
    canvas.set_ground_truth(truth)
    canvas.set_zoom(4.0, tuple(truth[5].mean(axis=0)))
    image = grab(canvas)
    centre = truth[5].mean(axis=0)
    background = colour_at(canvas, image, truth[5, 0, 0] - 8, centre[1])  # beside the box
    inside = centre + np.array([1.2, 1.2])  # within the ring, 8 screen px across
    inside_ring = colour_at(canvas, image, *inside)
    assert abs(inside_ring.lightness() - background.lightness()) < 12


def test_labels_sit_on_no_line_and_on_no_other_label(painted):
    from spinegui.gui.label_layout import rects_overlap, segment_hits_rect

    canvas, *_ = painted
    canvas.resize(900, 700)  # room beside the spine for the curve's name
    canvas.fit()
    grab(canvas)
    labels = [r for _, r in canvas.overlay.drawn_labels + canvas.cobb_overlay.drawn_labels]
    assert len(canvas.cobb_overlay.drawn_labels) >= 1 and len(canvas.overlay.drawn_labels) >= 10
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not rects_overlap(a, b)
        for segment in canvas.cobb_overlay.drawn_segments:
            assert not segment_hits_rect(segment, a)
