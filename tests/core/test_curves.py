"""Curves are named by their apex, as clinicians name them, not by the AASCE column."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spinegui.core.cobb import angle_between, cobb_angles
from spinegui.core.curves import apex_index, measure_curves, name_curves, region_of
from spinegui.core.templates import get_template

NAMES = get_template("C7-L5").vertebrae  # C7=0, T1=1 ... T12=12, L1=13 ... L5=17


def bent_spine(*arcs: tuple[int, int, float], n: int = 18) -> np.ndarray:
    """Boxes along x(i) = sum of half sine waves from ``upper`` to ``lower`` (amplitude px).

    Each box is tilted along the curve's tangent, so the most tilted vertebrae
    are the arc's ends and the most displaced one its middle, as in a real curve.
    """
    i = np.arange(n, dtype=float)
    x = np.zeros(n)
    dx = np.zeros(n)
    for upper, lower, amplitude in arcs:
        t = np.clip((i - upper) / (lower - upper), 0.0, 1.0)
        inside = (i >= upper) & (i <= lower)
        x += np.where(inside, amplitude * np.sin(math.pi * t), 0.0)
        dx += np.where(inside, amplitude * math.pi / (lower - upper) * np.cos(math.pi * t), 0.0)
    boxes = []
    for k in range(n):
        cx, cy = 300.0 + x[k], 60.0 + 50.0 * k
        theta = math.atan2(dx[k], 50.0)  # the box turns with the spine's tangent
        c, s = math.cos(theta), math.sin(theta)
        corners = []
        for ox, oy in ((-30, -20), (30, -20), (-30, 20), (30, 20)):  # TL, TR, BL, BR
            corners.append((cx + c * ox + s * oy, cy - s * ox + c * oy))
        boxes.append(corners)
    return np.array(boxes)


@pytest.mark.parametrize(
    ("name", "region"),
    [("C7", "PT"), ("T1", "PT"), ("T5", "PT"), ("T6", "MT"), ("T11", "MT"), ("T12", "TL"),
     ("L1", "TL"), ("L5", "TL")],
)  # fmt: skip
def test_regions_follow_the_apex_level(name, region):
    assert region_of(name) == region


def test_a_t9_to_l5_curve_is_thoracolumbar_lumbar_not_proximal_thoracic():
    """The trial's complaint: the largest curve sat in the "main/proximal thoracic" column."""
    pts = bent_spine((9, 17, 60.0))
    result = cobb_angles(pts, 1000)
    assert result.pairs[0] == (9, 17)  # the AASCE rules put it in the first column
    curves = name_curves(pts, result, NAMES)
    main = next(c for c in curves if c.major)
    assert (main.upper, main.lower) == (9, 17)
    assert NAMES[main.apex] == "L1"
    assert main.name == "Thoracolumbar/lumbar"
    assert main.angle == pytest.approx(result.angles[0])


def test_double_curve_gets_one_name_per_region_and_the_larger_is_major():
    pts = bent_spine((4, 11, -40.0), (11, 17, 70.0))
    curves = measure_curves(pts, 1000, NAMES).curves
    by_name = {c.name: c for c in curves}
    assert "Main thoracic" in by_name and "Thoracolumbar/lumbar" in by_name
    assert by_name["Thoracolumbar/lumbar"].major and not by_name["Main thoracic"].major
    assert [c.upper for c in curves] == sorted(c.upper for c in curves)  # top to bottom


def test_a_disc_apex_counts_as_the_upper_vertebra():
    pts = bent_spine((5, 12, 50.0))  # T5-T12: T8 and T9 equally displaced
    assert NAMES[apex_index(pts, 5, 12)] == "T8"


def test_two_curves_in_one_region_are_told_apart():
    pts = bent_spine((0, 3, 30.0), (3, 6, -30.0))  # apexes at T1/T2 and T4/T5
    curves = name_curves(pts, None, NAMES, reader_pairs=[(0, 3), (3, 6)])
    assert [c.name for c in curves] == ["Proximal thoracic (upper)", "Proximal thoracic (lower)"]


def test_reader_chosen_ends_replace_the_automatic_curve_they_overlap():
    pts = bent_spine((9, 17, 60.0))
    result = cobb_angles(pts, 1000)
    curves = name_curves(pts, result, NAMES, reader_pairs=[(16, 10)])  # order does not matter
    chosen = [c for c in curves if c.chosen_by_reader]
    assert len(chosen) == 1 and (chosen[0].upper, chosen[0].lower) == (10, 16)
    assert chosen[0].angle == pytest.approx(angle_between(pts, 10, 16))
    assert not any(c.upper == 9 and c.lower == 17 for c in curves)  # the rules' version is gone
    assert "chosen by the reader" in chosen[0].describe(NAMES)
    assert chosen[0].describe(NAMES).startswith(f"{chosen[0].angle:.1f}° (T10–L4")


def test_angle_between_the_rules_end_vertebrae_is_the_rules_angle_exactly():
    pts = bent_spine((3, 10, 45.0), (10, 17, -35.0))
    result = cobb_angles(pts, 1000)
    for (u, low), angle in zip(result.pairs, result.angles, strict=True):
        assert angle_between(pts, u, low) == angle


def test_no_landmarks_or_degenerate_ones_give_no_curves_and_a_reason():
    assert measure_curves(None, 1000, NAMES).curves == ()
    pts = bent_spine((9, 17, 60.0))
    pts[4, 1] = pts[4, 0]  # TR on TL
    pts[4, 3] = pts[4, 2]  # BR on BL: no midline
    flat = measure_curves(pts, 1000, NAMES)
    assert flat.curves == () and "#5" in flat.note
