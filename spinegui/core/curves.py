"""Naming scoliosis curves as clinicians do: by where the apex lies.

``cobb.py`` gives three angles in the AASCE challenge's column order, whose
names ("main/proximal thoracic", "main thoracic", "thoracolumbar/lumbar")
describe a slot, not the curve in it: the largest angle always comes first,
so a T9-L5 curve lands in the "proximal thoracic" column. A reader names a
curve by the region of its apex (Lenke; SRS terminology):

- proximal thoracic: apex at T5 or above (C7 included);
- main thoracic: apex from T6 to T11 (a T11/T12 disc apex counts as T11);
- thoracolumbar/lumbar: apex at T12 or below.

The apex is the vertebra between the two end vertebrae whose centre lies
farthest from the straight line joining the end vertebrae's centres, the
most displaced vertebra of the curve. When two vertebrae are equally
displaced (an apex at a disc) the upper one is taken, which matches the
T11/T12 rule above; when none is (a straight but tilted column) the middle
one is.

Reader-chosen end vertebrae replace the automatic curve they overlap: a
person who picked T5-T12 wants that curve measured there, not also the
rules' T4-T11. The same words are used on the image, in the panel, the
exports and the report; the AASCE column names stay in the AASCE format only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from spinegui.core.cobb import CobbResult, angle_between, safe_cobb
from spinegui.core.geometry import centres

REGIONS = ("PT", "MT", "TL")
REGION_NAMES = {
    "PT": "Proximal thoracic",
    "MT": "Main thoracic",
    "TL": "Thoracolumbar/lumbar",
}
MIN_CURVE_DEG = 0.05
"""Below this the AASCE rules found no curve in their slot: nothing to name."""
_LEVEL = re.compile(r"^([CTL])(\d+)$")


def region_of(vertebra: str) -> str:
    """The region ("PT", "MT" or "TL") of a curve whose apex is ``vertebra`` (e.g. "T8")."""
    m = _LEVEL.match(vertebra)
    if m is None:
        raise ValueError(f"{vertebra!r} is not a vertebra name like C7, T8 or L2")
    kind, number = m.group(1), int(m.group(2))
    if kind == "C" or (kind == "T" and number <= 5):
        return "PT"
    if kind == "T" and number <= 11:
        return "MT"
    return "TL"


def apex_index(points, upper: int, lower: int) -> int:
    """The vertebra (index) of a curve from ``upper`` to ``lower`` that is displaced most."""
    upper, lower = sorted((int(upper), int(lower)))
    if lower - upper < 2:
        return upper  # adjacent end vertebrae: the apex is their disc; take the upper
    c = centres(points)[upper : lower + 1]
    a, b = c[0], c[-1]
    chord = b - a
    length = float(np.hypot(*chord))
    if length == 0:
        return upper + (lower - upper) // 2
    rel = c - a
    distance = np.abs(rel[:, 0] * chord[1] - rel[:, 1] * chord[0]) / length
    inner = distance[1:-1]
    tied = np.flatnonzero(inner >= float(inner.max()) - 1e-2)  # within a hundredth of a pixel
    # Two tied: the upper (a disc apex counts upward); none displaced: the middle one.
    return upper + 1 + int(tied[(len(tied) - 1) // 2])


@dataclass(frozen=True)
class Curve:
    """One measured curve: its name, angle, end vertebrae and apex (template indices)."""

    region: str
    name: str
    angle: float
    upper: int
    lower: int
    apex: int
    chosen_by_reader: bool = False
    major: bool = False

    def ends(self, names: Sequence[str]) -> str:
        """'T5–T12': the end vertebrae as a reader writes them."""
        return f"{names[self.upper]}–{names[self.lower]}"

    def describe(self, names: Sequence[str]) -> str:
        """'42.1° (T5–T12, chosen by the reader)': what a panel cell or report line says."""
        extra = ", chosen by the reader" if self.chosen_by_reader else ""
        return f"{self.angle:.1f}° ({self.ends(names)}{extra})"


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two curves share more than an end vertebra."""
    return max(a[0], b[0]) < min(a[1], b[1])


def name_curves(
    points,
    result: CobbResult | None,
    names: Sequence[str],
    reader_pairs: Iterable[tuple[int, int]] = (),
) -> list[Curve]:
    """The curves of one spine, top to bottom, named by their apex.

    ``result`` is the AASCE-rule measurement of ``points`` (None: none could
    be made); ``reader_pairs`` are end vertebrae a reader chose, measured
    between exactly those vertebrae and replacing any automatic curve they
    overlap. Two curves in one region are told apart as "(upper)" and
    "(lower)". The largest is flagged ``major``.
    """
    pairs: list[tuple[tuple[int, int], float, bool]] = []
    chosen = [tuple(sorted((int(u), int(low)))) for u, low in reader_pairs]
    if points is not None:
        for pair in dict.fromkeys(chosen):
            if pair[0] != pair[1]:
                pairs.append((pair, angle_between(points, *pair), True))
    if result is not None:
        for (u, low), angle in zip(result.pairs, result.angles, strict=False):
            pair = tuple(sorted((int(u), int(low))))
            if pair[0] == pair[1] or angle < MIN_CURVE_DEG:
                continue
            if any(_overlaps(pair, p) or pair == p for p, _, _ in pairs):
                continue
            pairs.append((pair, float(angle), False))
    pairs.sort(key=lambda item: item[0])
    apexes = [apex_index(points, *p) for p, _, _ in pairs]
    regions = [region_of(names[a]) for a in apexes]
    largest = max((a for _, a, _ in pairs), default=None)
    curves = []
    for k, ((u, low), angle, by_reader) in enumerate(pairs):
        region = regions[k]
        name = REGION_NAMES[region]
        same = [i for i, r in enumerate(regions) if r == region]
        if len(same) > 1:
            name += " (upper)" if k == same[0] else " (lower)" if k == same[-1] else " (middle)"
        curves.append(
            Curve(
                region=region,
                name=name,
                angle=angle,
                upper=u,
                lower=low,
                apex=apexes[k],
                chosen_by_reader=by_reader,
                major=angle == largest,
            )
        )
    return curves


@dataclass(frozen=True)
class CurveSet:
    """The named curves of one set of landmarks (truth or prediction), and why none if so."""

    curves: tuple[Curve, ...]
    result: CobbResult | None
    note: str = ""
    """Why no angle could be measured ("" when they were, or no landmarks were given)."""

    @property
    def major(self) -> Curve | None:
        return next((c for c in self.curves if c.major), None)

    @property
    def main_angle(self) -> float | None:
        """The largest curve's angle; 0 for a straight spine; None when nothing was measured."""
        if self.result is None:
            return None
        major = self.major
        return 0.0 if major is None else major.angle

    def by_name(self) -> dict[str, Curve]:
        return {c.name: c for c in self.curves}


EMPTY = CurveSet((), None)


def measure_curves(
    points, image_height, names: Sequence[str], reader_pairs: Iterable[tuple[int, int]] = ()
) -> CurveSet:
    """One Cobb computation, its curves named: what every view of an image shows."""
    if points is None:
        return EMPTY
    result, why = safe_cobb(points, image_height)
    if result is None:
        return CurveSet((), None, why)
    return CurveSet(tuple(name_curves(points, result, names, reader_pairs)), result)
