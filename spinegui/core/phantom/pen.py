"""Drawing in millimetres onto pixel layers through one similarity transform.

Anatomy is described in millimetres; the view (scale, rotation, placement) is
one 2x3 matrix. Drawing through it with OpenCV's sub-pixel ``shift`` keeps
rendered edges within 1/16 px of the transformed geometry, which is what makes
the landmarks the true corners of the drawn bodies.
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4
_ONE = 1 << SHIFT


class Pen:
    """Draws mm geometry into float32 layers of one image (or a scaled copy of it)."""

    def __init__(self, matrix: np.ndarray, rotation_deg: float) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.rotation_deg = rotation_deg
        self.scale = float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def scaled(self, sx: float, sy: float) -> Pen:
        """The same view onto a layer resized by (sx, sy), pixel centres kept aligned."""
        m = self.matrix.copy()
        m[0] *= sx
        m[1] *= sy
        m[0, 2] += 0.5 * sx - 0.5
        m[1, 2] += 0.5 * sy - 0.5
        return Pen(m, self.rotation_deg)

    def px(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_mm(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse transform of pixel coordinate arrays (for fields evaluated per pixel)."""
        inv = cv2.invertAffineTransform(self.matrix)
        return (
            inv[0, 0] * px + inv[0, 1] * py + inv[0, 2],
            inv[1, 0] * px + inv[1, 1] * py + inv[1, 2],
        )

    def _fixed(self, pts: np.ndarray) -> np.ndarray:
        return np.round(self.px(pts) * _ONE).astype(np.int32)

    def _width(self, width_mm: float) -> int:
        return max(1, round(width_mm * self.scale))

    def fill(self, layer: np.ndarray, pts: np.ndarray, value: float) -> None:
        cv2.fillPoly(layer, [self._fixed(pts)], float(value), cv2.LINE_8, SHIFT)

    def fill_many(self, layer: np.ndarray, polys: list[np.ndarray], value: float) -> None:
        cv2.fillPoly(layer, [self._fixed(p) for p in polys], float(value), cv2.LINE_8, SHIFT)

    def line(
        self,
        layer: np.ndarray,
        pts: np.ndarray,
        value: float,
        width_mm: float,
        closed: bool = False,
    ) -> None:
        cv2.polylines(
            layer, [self._fixed(pts)], closed, float(value), self._width(width_mm), cv2.LINE_8,
            SHIFT,
        )  # fmt: skip

    def lines(
        self,
        layer: np.ndarray,
        polylines: list[np.ndarray],
        value: float,
        width_mm: float,
        closed: bool = False,
    ) -> None:
        fixed = [self._fixed(p) for p in polylines]
        cv2.polylines(layer, fixed, closed, float(value), self._width(width_mm), cv2.LINE_8, SHIFT)

    def ellipse(
        self,
        layer: np.ndarray,
        centre: np.ndarray,
        axes_mm: tuple[float, float],
        angle_deg: float,
        value: float,
        width_mm: float | None = None,
    ) -> None:
        """Filled (width None) or outlined ellipse; angle in the anatomy frame."""
        c = self._fixed(np.asarray(centre, dtype=np.float64)[None])[0]
        axes = (
            max(1, round(axes_mm[0] * self.scale * _ONE)),
            max(1, round(axes_mm[1] * self.scale * _ONE)),
        )
        thickness = -1 if width_mm is None else self._width(width_mm)
        cv2.ellipse(
            layer, (int(c[0]), int(c[1])), axes, angle_deg + self.rotation_deg, 0, 360,
            float(value), thickness, cv2.LINE_8, SHIFT,
        )  # fmt: skip
