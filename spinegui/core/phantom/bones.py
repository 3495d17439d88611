"""Bones of the phantom, drawn in mm through a Pen into additive density layers.

Structures that overlap on a real film (posterior elements over bodies, ribs
over ribs) go to different layers, which are summed, because OpenCV draws by
overwriting. Within a layer, drawing a thick stroke and then a thinner dimmer
one inside it gives the bright cortical margins bone shows on a radiograph.
"""

from __future__ import annotations

import numpy as np

from spinegui.core.phantom.pen import Pen
from spinegui.core.phantom.spine import LEVELS, Spine

_T1, _T12, _L1 = LEVELS.index("T1"), LEVELS.index("T12"), LEVELS.index("L1")
# Lumbar transverse processes beyond the body edge (mm), L3 the longest.
_LUMBAR_TP = (10.0, 15.0, 20.0, 15.0, 11.0)


def _rot(angle_deg: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _cortical(pen: Pen, layer: np.ndarray, pts: np.ndarray, value: float, width: float) -> None:
    """A tubular bone (rib, clavicle): bright margins, dimmer middle."""
    pen.line(layer, pts, value, width)
    pen.line(layer, pts, 0.55 * value, 0.55 * width)


def draw_vertebrae(
    pen: Pen, bodies: np.ndarray, posterior: np.ndarray, spine: Spine, look: dict
) -> None:
    """Bodies with cortical rims and endplates; pedicles, spinous and transverse processes."""
    tilts = np.radians(spine.tilts_deg)
    # Thoracic bodies hide behind the mediastinum; lumbar ones stand out.
    contrast = np.interp(np.arange(len(LEVELS)), [0, _T1, _T1 + 7, _L1], [0.8, 0.7, 0.75, 1.0])
    for k, quad in enumerate(spine.quads):
        b, rim = look["body"] * contrast[k], look["rim"] * contrast[k]
        tl, tr, bl, br = quad
        w, h = spine.widths[k], spine.heights[k]
        u = np.array([np.cos(tilts[k]), np.sin(tilts[k])])
        n = np.array([-u[1], u[0]])
        # Side walls are waisted and endplates slightly cupped; the corners stay put.
        outline = np.array(
            [
                tl,
                0.5 * (tl + tr) + 0.02 * h * n,
                tr,
                0.5 * (tr + br) - 0.05 * w * u,
                br,
                0.5 * (bl + br) - 0.02 * h * n,
                bl,
                0.5 * (tl + bl) + 0.05 * w * u,
            ]
        )
        pen.fill(bodies, outline, b)
        pen.line(bodies, outline, b + rim, 0.03 * w, closed=True)
        pen.line(bodies, np.array([tl, tr]), b + 1.3 * rim, 0.05 * h)
        pen.line(bodies, np.array([bl, br]), b + 1.3 * rim, 0.05 * h)
        _posterior(pen, posterior, k, quad.mean(axis=0), u, n, w, h, spine, look)


def _posterior(pen, layer, k, c, u, n, w, h, spine: Spine, look: dict) -> None:
    rho = np.radians(spine.axial_deg[k])
    tilt = spine.tilts_deg[k]
    p = look["posterior"]
    shift_ped = -0.5 * w * np.sin(rho)
    spread = 0.3 * w * np.cos(rho)
    ped_axes = (0.085 * w * (1 + 0.6 * abs(np.sin(rho))), 0.17 * h)
    sp = c + (-1.0 * w * np.sin(rho)) * u + (0.3 if k < _L1 else 0.15) * h * n
    sp_axes = (0.07 * w, (0.4 if k < _L1 else 0.28) * h)
    # Laminae: the arch from the pedicles down to the spinous process, which
    # overlies the disc space below on an AP film.
    top_l = c + (-spread + shift_ped) * u - 0.3 * h * n
    top_r = c + (spread + shift_ped) * u - 0.3 * h * n
    tip = sp + sp_axes[1] * n
    arch = np.array([top_l, top_r, tip + 0.12 * w * u, tip - 0.12 * w * u])
    pen.fill(layer, arch, 0.3 * p)
    for side in (-1.0, 1.0):
        centre = c + (side * spread + shift_ped) * u - 0.15 * h * n
        pen.ellipse(layer, centre, ped_axes, tilt, 0.35 * p)
        pen.ellipse(layer, centre, ped_axes, tilt, p, width_mm=0.03 * w)
        if k >= _T1:
            tip = side * (0.5 * w + (9.0 if k < _L1 else _LUMBAR_TP[k - _L1]))
            inner = c + (side * spread + shift_ped) * u - 0.1 * h * n
            outer = c + (tip + shift_ped) * u - (0.2 if k < _L1 else 0.05) * h * n
            pen.line(layer, np.array([inner, outer]), 0.45 * p, (0.24 if k < _L1 else 0.2) * h)
    # Spinous process: a teardrop below the body centre, pointing caudally.
    pen.ellipse(layer, sp, sp_axes, tilt, 0.6 * p)
    pen.ellipse(layer, sp, sp_axes, tilt, p, width_mm=0.025 * w)


def draw_ribs(pen: Pen, back: np.ndarray, front: np.ndarray, spine: Spine, body,
              look: dict) -> None:  # fmt: skip
    """Twelve pairs: posterior arcs from the transverse processes, fainter anterior arcs.

    Each rib leaves its vertebra turned with the vertebra's tilt, so ribs fan
    out on the convex side of a curve and crowd on the concave side, and ends
    at the chest wall, so the cage stays inside the trunk.
    """
    value = look["rib"]
    posts, antes = [], []
    t = np.linspace(0.0, 1.0, 12)[:, None]
    ta = np.linspace(0.0, 1.0, 9)[:, None]
    jitter = np.asarray(look["rib_jitter"])
    for i, k in enumerate(range(_T1, _T12 + 1)):
        c = spine.centres[k]
        w = spine.widths[k]
        tilt = np.radians(spine.tilts_deg[k])
        reach = (0.55, 0.78, 0.9, 0.96, 1, 1, 1, 1, 1, 0.96, 0.8, 0.55)[i]
        rise = (20, 22, 22, 22, 20, 18, 16, 13, 10, 6, 0, -6)[i] + jitter[i, 0]
        drop = (22, 38, 52, 62, 68, 72, 74, 74, 72, 64, 50, 34)[i] + jitter[i, 1]
        for side in (-1.0, 1.0):
            start = c + np.array([side * (0.5 * w + 4.0), -0.1 * spine.heights[k]])
            y_end = start[1] + drop
            wall = body.centre(y_end) + side * (body.half_width(y_end) - 14.0)
            length = max(reach * side * (wall - start[0]), 15.0)
            dx = side * length * np.sin(t * np.pi / 2) ** 0.85
            dy = -rise * np.sin(np.pi * t) + drop * t**2.8 + 0.7 * np.tan(tilt) * dx
            posts.append(np.hstack([start[0] + dx, start[1] + dy]))
            if i < 10:
                end = posts[-1][-1]
                span = (0.62 - 0.025 * i) * side * (end[0] - body.centre(end[1]))
                fall = 28.0 + 4.0 * i
                ant = np.hstack([
                    end[0] - side * span * (1 - (1 - ta) ** 1.6),
                    end[1] + fall * ta + 6.0 * np.sin(np.pi * ta),
                ])  # fmt: skip
                antes.append(ant)
    width = look["rib_width"]
    pen.lines(back, posts, value, width)
    pen.lines(back, posts, 0.45 * value, 0.55 * width)
    pen.lines(front, antes, 0.3 * value, 1.3 * width)
    pen.lines(front, antes, 0.15 * value, 0.8 * width)


def draw_clavicles(pen: Pen, layer: np.ndarray, spine: Spine, look: dict) -> None:
    """S-shaped clavicles rising from the sternal notch (T1-T2) to the shoulders."""
    t1, t2 = spine.centres[_T1], spine.centres[_T1 + 1]
    notch = 0.5 * (t1 + t2)
    t = np.linspace(0.0, 1.0, 12)
    for side in (-1.0, 1.0):
        pts = np.stack(
            [
                notch[0] + side * (18 + 135 * t),
                notch[1] + 4 - 28 * t + 7 * np.sin(2 * np.pi * t),
            ],
            axis=1,
        )
        _cortical(pen, layer, pts, look["clavicle"], 12.0)


def _bezier(p0, p1, p2, n: int = 10) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * t * (1 - t) * np.asarray(p1) + t**2 * np.asarray(p2)


# Right iliac wing (image right), mm relative to the centre of the S1 endplate.
_CREST = _bezier((38, 6), (80, -62), (134, 6), 14)
_WING = np.vstack(
    [_CREST, _bezier((134, 6), (128, 60), (108, 96), 8)[1:], _bezier((108, 96), (66, 60), (34, 60),
                                                                     8)[1:]]
)  # fmt: skip
_BRIM = _bezier((34, 52), (58, 110), (18, 150), 9)
_SACRUM = np.vstack(
    [_bezier((-44, 4), (0, -2), (44, 4), 7), _bezier((44, 4), (38, 70), (10, 104), 7)[1:],
     _bezier((-10, 104), (-38, 70), (-44, 4), 7)]
)  # fmt: skip


def draw_pelvis(pen: Pen, layer: np.ndarray, spine: Spine, look: dict) -> None:
    """Iliac wings with bright crests, pelvic brim, obturator rings, femoral heads, sacrum."""
    top = spine.sacrum_top
    rp = _rot(spine.pelvis_tilt_deg)
    rs = _rot(spine.sacrum_tilt_deg)
    v = look["pelvis"]
    for side in (-1.0, 1.0):
        flip = np.array([side, 1.0])
        pts = (_WING * flip) @ rp.T + top
        pen.fill(layer, pts, 0.3 * v)
        pen.line(layer, pts, 0.5 * v, 2.0, closed=True)
        pen.line(layer, pts[: len(_CREST)], 0.9 * v, 5.0)
        pen.line(layer, pts[: len(_CREST)], 0.6 * v, 2.0)
        pen.line(layer, (_BRIM * flip) @ rp.T + top, 0.9 * v, 3.0)
        pen.ellipse(layer, np.array([side * 58, 175]) @ rp.T + top, (22, 30),
                    spine.pelvis_tilt_deg, 0.8 * v, width_mm=8.0)  # fmt: skip
        head = np.array([side * 98, 132]) @ rp.T + top
        pen.ellipse(layer, head, (23, 23), 0, 0.8 * v)
        pen.ellipse(layer, head, (23, 23), 0, 1.05 * v, width_mm=2.5)
    pts = _SACRUM @ rs.T + top
    pen.fill(layer, pts, 0.45 * v)
    pen.line(layer, pts, 0.6 * v, 2.0, closed=True)
    pen.line(layer, np.array([[-22, 2], [22, 2]]) @ rs.T + top, 1.2 * v, 2.5)
    for i in range(4):
        for side in (-1.0, 1.0):
            hole = np.array([side * (16 - 2 * i), 22 + 18 * i]) @ rs.T + top
            pen.ellipse(layer, hole, (4.0 - 0.5 * i, 3.0), spine.sacrum_tilt_deg, 0.3 * v)
