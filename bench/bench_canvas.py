"""Canvas speed: opening a large 16-bit X-ray, and frame time while dragging a corner.

(1) open-to-first-paint: set_image on a 3000 x 7000 image, then a forced
    paint of the widget (grab), for uint16 and float32 pixels.
(2) drag: press on a corner with all 18 truth + 18 predicted boxes, labels
    and Cobb lines shown, then ~200 mouse moves; each step times the event
    handling plus a synchronous viewport repaint. Target: p95 under 16 ms.

Run: QT_QPA_PLATFORM=offscreen python bench/bench_canvas.py [--moves N]
(or under ``xvfb-run -a`` for a real X server).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from spinegui.core.curves import measure_curves
from spinegui.core.phantom import generate_phantom
from spinegui.core.templates import get_template
from spinegui.gui.canvas import XrayCanvas

BIG = (7000, 3000)  # (height, width)


def big_image(dtype) -> np.ndarray:
    """A smooth gradient with noise: realistic for the renderer, cheap to make."""
    rng = np.random.default_rng(0)
    h, w = BIG
    img = np.add.outer(np.linspace(0, 30000, h), np.linspace(0, 20000, w))
    img += rng.normal(0, 500, (h // 8 + 1, w // 8 + 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.ascontiguousarray(np.clip(img, 0, 65535).astype(dtype))


def landmarks_for(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Phantom landmarks scaled onto the big image; a noisy copy stands in for a prediction."""
    ph = generate_phantom("C7-L5", seed=1)
    scale = np.array([width / ph.image.shape[1], height / ph.image.shape[0]])
    truth = ph.landmarks * scale
    pred = truth + np.random.default_rng(1).normal(0, 15, truth.shape)
    return truth, pred


def open_to_first_paint(app, canvas: XrayCanvas, pixels: np.ndarray, levels) -> float:
    start = time.perf_counter()
    canvas.set_image(pixels, levels)
    app.processEvents()
    canvas.grab()
    return (time.perf_counter() - start) * 1000


def mouse(canvas: XrayCanvas, kind: QEvent.Type, pos: QPointF, buttons) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    viewport = canvas.view.viewport()
    event = QMouseEvent(
        kind, pos, viewport.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewport, event)


def drag_frames(app, canvas: XrayCanvas, truth: np.ndarray, moves: int) -> np.ndarray:
    v, c = 9, 1
    start = canvas.image_to_viewport(*truth[v, c])
    left = Qt.MouseButton.LeftButton
    mouse(canvas, QEvent.Type.MouseButtonPress, start, left)
    times = []
    for i in range(moves):
        angle = 2 * np.pi * i / 50
        pos = start + QPointF(40 * np.sin(angle), 25 * (1 - np.cos(angle)))
        t0 = time.perf_counter()
        mouse(canvas, QEvent.Type.MouseMove, pos, left)
        canvas.view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    mouse(canvas, QEvent.Type.MouseButtonRelease, start, Qt.MouseButton.NoButton)
    app.processEvents()
    return np.array(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    canvas = XrayCanvas()
    canvas.resize(900, 1000)
    canvas.show()
    app.processEvents()

    print(f"platform: {app.platformName()}, view {canvas.width()} x {canvas.height()} px")
    print(f"\n(1) open to first paint, {BIG[1]} x {BIG[0]} px")
    print(f"{'pixels':<10}{'first ms':>10}{'median of 5':>14}")
    for dtype, levels in ((np.uint16, (0.0, 50000.0)), (np.float32, (0.0, 50000.0))):
        pixels = big_image(dtype)
        runs = [open_to_first_paint(app, canvas, pixels, levels) for _ in range(5)]
        print(f"{np.dtype(dtype).name:<10}{runs[0]:>10.1f}{np.median(runs):>14.1f}")

    truth, pred = landmarks_for(*BIG)
    canvas.set_template("C7-L5")
    canvas.set_ground_truth(truth)
    canvas.set_prediction(pred, spread=np.full((18, 4), 10.0))
    names = get_template("C7-L5").vertebrae
    canvas.set_curves(measure_curves(truth, BIG[0], names), measure_curves(pred, BIG[0], names))
    canvas.set_cobb_source("both")
    app.processEvents()

    print(f"\n(2) frame time while dragging a corner, {args.moves} moves, 18 + 18 boxes")
    print(f"{'view':<12}{'zoom':>7}{'mean ms':>10}{'p95 ms':>9}{'max ms':>9}")
    for name, zoom in (("fit", None), ("zoom 1:1", 1.0), ("zoom 4x", 4.0)):
        if zoom is None:
            canvas.fit()
        else:
            canvas.set_zoom(zoom, tuple(truth[9, 1]))
        app.processEvents()
        canvas.grab()
        ms = drag_frames(app, canvas, truth, args.moves)
        print(
            f"{name:<12}{canvas.zoom():>7.2f}{ms.mean():>10.2f}"
            f"{np.percentile(ms, 95):>9.2f}{ms.max():>9.2f}"
        )


if __name__ == "__main__":
    main()
