"""Where text goes on the image so that it sits on no line and on no other text.

Labels are placed in screen pixels, in order of importance: each takes the
first of its candidate positions that crosses none of the lines given and
overlaps none of the labels already placed. A label with no free candidate is
left out rather than drawn over something (the panel still lists it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Rect = tuple[float, float, float, float]
"""(left, top, right, bottom) in screen pixels."""
Segment = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in screen pixels."""

PADDING = 2.0
"""Screen pixels kept free around every label."""


def rect_at(x: float, y: float, width: float, height: float) -> Rect:
    """A label of this size whose left edge is at ``x`` and vertical middle at ``y``."""
    return (x, y - height / 2, x + width, y + height / 2)


def _grow(r: Rect, by: float) -> Rect:
    return (r[0] - by, r[1] - by, r[2] + by, r[3] + by)


def rects_overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def segment_hits_rect(s: Segment, r: Rect) -> bool:
    """Whether a line segment passes through a rectangle (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = s
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - r[0]), (dx, r[2] - x0), (-dy, y0 - r[1]), (dy, r[3] - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def segments_hitting(segments: np.ndarray, r: Rect) -> np.ndarray:
    """For (N, 4) segments, which pass through rectangle ``r`` (vectorised Liang-Barsky)."""
    if len(segments) == 0:
        return np.zeros(0, bool)
    x0, y0, x1, y1 = segments.T
    dx, dy = x1 - x0, y1 - y0
    t0 = np.zeros(len(segments))
    t1 = np.ones(len(segments))
    hit = np.ones(len(segments), bool)
    for p, q in ((-dx, x0 - r[0]), (dx, r[2] - x0), (-dy, y0 - r[1]), (dy, r[3] - y0)):
        parallel = p == 0
        hit &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        t0 = np.where(~parallel & (p < 0), np.maximum(t0, t), t0)
        t1 = np.where(~parallel & (p > 0), np.minimum(t1, t), t1)
    return hit & (t0 <= t1)


def vertical_candidates(x: float, y: float, width: float, height: float, steps: int = 6):
    """Positions at ``y``, then alternately above and below in label-height steps."""
    yield rect_at(x, y, width, height)
    for k in range(1, steps + 1):
        for sign in (-1, 1):
            yield rect_at(x, y + sign * k * (height + PADDING), width, height)


class LabelPlacer:
    """Places labels one by one, avoiding ``segments`` and every label placed before.

    With ``bounds`` (the picture or the view), a label must lie wholly inside it.
    """

    def __init__(
        self,
        segments: Iterable[Segment] | np.ndarray = (),
        taken: Iterable[Rect] = (),
        bounds: Rect | None = None,
    ) -> None:
        if not isinstance(segments, np.ndarray):
            segments = list(segments)
        self.segments = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
        x0, y0, x1, y1 = self.segments.T
        self._box = (np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
        self.placed: list[Rect] = list(taken)
        self.bounds = bounds

    def is_free(self, r: Rect) -> bool:
        b = self.bounds
        if b is not None and (r[0] < b[0] or r[1] < b[1] or r[2] > b[2] or r[3] > b[3]):
            return False
        grown = _grow(r, PADDING)
        if any(rects_overlap(grown, p) for p in self.placed):
            return False
        # Only segments whose bounding box meets the label can cross it: test those exactly.
        left, top, right, bottom = self._box
        near = (right >= grown[0]) & (left <= grown[2]) & (bottom >= grown[1]) & (top <= grown[3])
        return not any(segment_hits_rect(s, grown) for s in self.segments[near].tolist())

    def place(self, candidates: Iterable[Rect]) -> Rect | None:
        for r in candidates:
            if self.is_free(r):
                self.placed.append(r)
                return r
        return None

    def block(self, rects: Sequence[Rect]) -> None:
        """Keep other labels off these rectangles (text drawn by another layer, say)."""
        self.placed.extend(rects)
