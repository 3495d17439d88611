"""Soft tissue: the trunk envelope, lung fields, mediastinum and bowel gas.

All of it is smooth, so it is rendered on a grid a few times coarser than the
image and upsampled, which keeps the generator fast enough to feed training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spinegui.core.phantom.pen import Pen
from spinegui.core.phantom.spine import LEVELS, Spine

_L = LEVELS.index


@dataclass(frozen=True)
class Body:
    """Trunk outline: half-width and centre as functions of height (mm)."""

    knots_y: np.ndarray
    knots_hw: np.ndarray
    knots_cx: np.ndarray

    def half_width(self, y):
        return np.interp(y, self.knots_y, self.knots_hw)

    def centre(self, y):
        return np.interp(y, self.knots_y, self.knots_cx)


def sample_body(rng: np.random.Generator, spine: Spine) -> Body:
    """Neck, shoulders, chest, waist and hips, scaled by a random build."""
    c = spine.centres
    top, bottom = c[0, 1], spine.sacrum_top[1]
    ys = np.array(
        [top - 400, top, c[_L("C6"), 1], c[_L("C7"), 1], c[_L("T2"), 1], c[_L("T4"), 1],
         c[_L("T9"), 1], c[_L("L2"), 1], c[_L("L5"), 1], bottom + 60, bottom + 800],
    )  # fmt: skip
    build = rng.uniform(0.95, 1.25)
    waist = rng.uniform(0.78, 0.95)
    hw = np.array([45, 45, 55, 110, 175, 160, 150, 150 * waist, 150 * (waist + 0.08), 170, 175])
    hw = hw * build * rng.uniform(0.96, 1.04, hw.size)
    hw[:3] = np.array([45, 45, 55]) * rng.uniform(0.9, 1.1)
    # The trunk follows the spine a little; head and pelvis stay over each other.
    line = np.interp(ys, [c[0, 1], bottom], [c[0, 0], spine.sacrum_top[0]])
    cx = line + 0.2 * (np.interp(ys, c[:, 1], c[:, 0]) - line)
    # Resample finely and smooth, so the outline has no corners at the knots.
    fine = np.linspace(ys[0], ys[-1], 256)
    kernel = np.hanning(21) / np.hanning(21).sum()
    hw_fine = np.convolve(np.pad(np.interp(fine, ys, hw), 10, mode="edge"), kernel, "valid")
    return Body(fine, hw_fine, np.interp(fine, ys, cx))


def _lung(spine: Spine, body: Body, side: float, rng: np.random.Generator) -> np.ndarray:
    """Polygon (mm) of one lung field: apex above T1, dome over the diaphragm."""
    c = spine.centres
    y = {k: c[_L(k), 1] for k in ("T1", "T3", "T6", "T8", "T10", "T11", "T12")}
    liver = side < 0  # the right hemidiaphragm (image left) sits higher
    dome = y["T10"] - (14 if liver else 0) + rng.normal(0, 6)
    angle = dome + 32 + rng.normal(0, 5)

    def spine_x(yy):
        return np.interp(yy, c[:, 1], c[:, 0])

    def wall(yy, inset):
        return body.centre(yy) + side * (body.half_width(yy) - inset)

    heart = 0.0 if liver else rng.uniform(40, 65)
    medial = [
        (spine_x(y["T1"] - 18) + side * 14, y["T1"] - 18),
        (spine_x(y["T3"]) + side * 22, y["T3"]),
        (spine_x(y["T6"]) + side * (28 + 0.5 * heart), y["T6"]),
        (spine_x(y["T8"]) + side * (36 + heart), y["T8"]),
        (spine_x(dome) + side * (40 + heart), dome + 6),
    ]
    inner = medial[-1][0]
    lateral_x = wall(angle, 20)
    dome_pts = [
        (inner + (lateral_x - inner) * f, dome - 6 * np.sin(np.pi * f) + (angle - dome) * f**4)
        for f in (0.3, 0.6, 0.85)
    ]
    lateral = [
        (lateral_x, angle),
        (wall(y["T8"], 18), y["T8"]),
        (wall(y["T6"], 18), y["T6"]),
        (wall(y["T3"], 24), y["T3"]),
        (0.5 * (wall(y["T1"], 40) + medial[0][0]), y["T1"] - 30),
    ]
    return np.array(medial + dome_pts + lateral, float)


def render_soft(
    rng: np.random.Generator, pen: Pen, shape: tuple[int, int], spine: Spine, body: Body,
    look: dict,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Soft-tissue density and the lung mask on a grid of ``shape`` (scaled into ``pen``)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xm, ym = pen.to_mm(xs, ys)
    rel = (xm - body.centre(ym)) / body.half_width(ym)
    thick = np.sqrt(np.clip(1.0 - rel * rel, 0.0, 1.0)).astype(np.float32)
    density = look["tissue"] * thick**0.6
    # Mediastinum and paraspinal muscles: a bright column along the spine.
    c = spine.centres
    spread = np.interp(ym, c[[0, _L("T4"), _L("L1"), -1], 1], [1.0, 1.3, 1.1, 1.6])
    off = (xm - np.interp(ym, c[:, 1], c[:, 0])) / (spread * np.interp(ym, c[:, 1], spine.widths))
    density += look["column"] * np.exp(-off * off) * thick

    lungs = np.zeros(shape, np.float32)
    pen.fill_many(lungs, [_lung(spine, body, s, rng) for s in (-1.0, 1.0)], 1.0)
    mm = pen.scale
    lungs = cv2.GaussianBlur(lungs, (0, 0), max(0.5, 5.0 * mm))
    texture = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 1.0)
    density -= lungs * (look["lung"] + 0.04 * texture) * thick

    gas = np.zeros(shape, np.float32)
    top, bottom = spine.centres[_L("L1"), 1], spine.sacrum_top[1] + 60
    for _ in range(rng.integers(1, 6)):
        y = rng.uniform(top, bottom)
        x = body.centre(y) + rng.uniform(-0.75, 0.75) * body.half_width(y)
        for _ in range(rng.integers(2, 9)):
            centre = np.array([x, y]) + rng.normal(0, 18, 2)
            axes = (rng.uniform(6, 20), rng.uniform(5, 14))
            pen.ellipse(gas, centre, axes, rng.uniform(0, 180), rng.uniform(0.5, 1.0))
    stomach = np.array([body.centre(top) + 70, top - 25.0])  # under the left hemidiaphragm
    pen.ellipse(gas, stomach, (rng.uniform(15, 35), rng.uniform(10, 20)), rng.uniform(-20, 20),
                rng.uniform(0.0, 0.6))  # fmt: skip
    gas = cv2.GaussianBlur(gas, (0, 0), max(0.5, 1.5 * mm))
    density -= gas * look["gas"] * thick
    # Bowel contents and organs give the abdomen a mottled, uneven grey.
    mottle = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 12 * mm)
    mottle *= 1.0 / max(float(mottle.std()), 1e-6)
    mottle += 0.5 * cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 1.0)
    abdomen = np.clip((ym - spine.centres[_L("T11"), 1]) / 60.0, 0.0, 1.0)
    density += look["mottle"] * mottle * abdomen * thick
    return density, lungs


def draw_vessels(rng: np.random.Generator, pen: Pen, layer: np.ndarray, spine: Spine,
                 body: Body, look: dict) -> None:  # fmt: skip
    """Lung markings: tapering vessels branching out of each hilum."""
    c = spine.centres
    hilum_y = c[_L("T6"), 1]
    value = look["vessel"]
    for side in (-1.0, 1.0):
        hilum = np.array([np.interp(hilum_y, c[:, 1], c[:, 0]) + side * 45.0, hilum_y])
        for _ in range(14):
            angle = np.radians(rng.uniform(-70, 80))
            direction = np.array([side * np.cos(angle), np.sin(angle)])
            pts = [hilum + rng.normal(0, 6, 2)]
            for _ in range(6):
                direction = direction + rng.normal(0, 0.25, 2)
                direction /= np.linalg.norm(direction)
                pts.append(pts[-1] + direction * rng.uniform(10, 20))
            pts = np.array(pts)
            pen.line(layer, pts[:3], value, 3.0)
            pen.line(layer, pts[2:5], 0.8 * value, 2.0)
            pen.line(layer, pts[4:], 0.6 * value, 1.2)
