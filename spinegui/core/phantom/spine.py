"""Spine shape of a phantom: vertebra sizes, the scoliotic curve and its exact corners.

The curve is built from the quantity a Cobb angle measures, the tilt of each
vertebra's midline, rather than from a centre line whose tilts would have to be
measured afterwards. Each vertebra is constructed so that its midline (left-edge
midpoint to right-edge midpoint) has exactly the chosen tilt, whatever its
wedging, so the main Cobb angle equals max(tilt) - min(tilt) over the template's
vertebrae to floating-point precision. The tilt profile is the running sum of a
curvature profile (smooth bumps at the apices), rescaled to the requested angle.

Units here are millimetres in an upright "anatomy frame": x to the image right,
y down, origin at the centre of the top rendered vertebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_THORACIC = tuple(f"T{i}" for i in range(1, 13))
_LUMBAR = tuple(f"L{i}" for i in range(1, 6))

LEVELS: tuple[str, ...] = ("C3", "C4", "C5", "C6", "C7", *_THORACIC, *_LUMBAR)
"""Every vertebra that is drawn, cranial to caudal; templates label a subset."""

# Adolescent bodies in mm: frontal width, height, and the disc below each level.
# Bodies and discs grow caudally; lumbar discs are much thicker.
_SIZES_MM = {
    "C3": (16, 11, 4.5), "C4": (17, 11, 4.5), "C5": (18, 11, 4.5), "C6": (20, 11.5, 4.5),
    "C7": (24, 13, 4.5), "T1": (26, 14, 3.5), "T2": (26, 15, 3.5), "T3": (26, 15.5, 3.5),
    "T4": (27, 16, 3.5), "T5": (28, 16.5, 3.5), "T6": (29, 17, 3.5), "T7": (30, 17.5, 4),
    "T8": (31, 18, 4), "T9": (32, 18.5, 4.5), "T10": (34, 19.5, 5), "T11": (36, 20.5, 5.5),
    "T12": (38, 21.5, 6.5), "L1": (40, 23, 8), "L2": (42, 24, 9), "L3": (44, 25, 10),
    "L4": (46, 25.5, 10.5), "L5": (48, 25, 10),
}  # fmt: skip
_WIDTH, _HEIGHT, _DISC = np.array([_SIZES_MM[v] for v in LEVELS], float).T

# Apex ranges (level indices, fractional) of the usual idiopathic curve patterns.
_T = LEVELS.index
C_PATTERNS: dict[str, tuple[float, float]] = {
    "thoracic": (_T("T6"), _T("T10")),
    "thoracolumbar": (_T("T11"), _T("L1")),
    "lumbar": (_T("L1") + 0.5, _T("L3")),
}
C_PATTERN_WEIGHTS = (0.5, 0.3, 0.2)
S_UPPER_APEX = (_T("T5"), _T("T9"))
S_LOWER_APEX = (_T("T12"), _T("L3"))

MAX_WEDGE_DEG = 8.0


@dataclass(frozen=True)
class Spine:
    """All rendered vertebrae in the anatomy frame (mm)."""

    quads: np.ndarray  # (N, 4, 2) TL, TR, BL, BR
    tilts_deg: np.ndarray  # (N,) midline angle, positive = right end lower
    axial_deg: np.ndarray  # (N,) axial rotation; positive shifts posterior elements left
    widths: np.ndarray  # (N,) mm
    heights: np.ndarray  # (N,) mm
    sacrum_top: np.ndarray  # (2,) centre of the S1 endplate
    sacrum_tilt_deg: float
    pelvis_tilt_deg: float
    info: dict

    @property
    def centres(self) -> np.ndarray:
        return self.quads.mean(axis=1)


def sample_cobb(rng: np.random.Generator) -> float:
    """A main Cobb angle skewed to mild curves like a screening population (mean ~27)."""
    return float(90.0 * rng.beta(1.4, 3.3))


def _bump(idx: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    """Unit-integral Gaussian curvature bump over the level index."""
    b = np.exp(-0.5 * ((idx - centre) / sigma) ** 2)
    return b / b.sum()


def _curvature(rng: np.random.Generator, curve: str, n: int) -> tuple[np.ndarray, dict]:
    """Curvature per level (arbitrary scale) for a C or S curve, and what was chosen."""
    idx = np.arange(n, dtype=float)
    if curve == "C":
        pattern = str(rng.choice(list(C_PATTERNS), p=C_PATTERN_WEIGHTS))
        apex = rng.uniform(*C_PATTERNS[pattern])
        sigma = rng.uniform(1.8, 3.0)
        # Right-convex thoracic curves dominate idiopathic scoliosis; convex right
        # for the patient is the image left on an AP view.
        convex_left = rng.random() < (0.8 if pattern == "thoracic" else 0.45)
        sign = 1.0 if convex_left else -1.0
        kappa = sign * _bump(idx, apex, sigma)
        # Compensatory curves above and below keep head and pelvis balanced.
        for where in (apex - 2.7 * sigma - 1.0, apex + 2.7 * sigma + 1.0):
            kappa -= sign * rng.uniform(0.1, 0.3) * _bump(idx, where, rng.uniform(1.5, 2.5))
        info = {
            "pattern": pattern,
            "apices": [float(apex)],
            "convex": ["left" if sign > 0 else "right"],
        }
    elif curve == "S":
        apex1 = rng.uniform(*S_UPPER_APEX)
        apex2 = max(rng.uniform(*S_LOWER_APEX), apex1 + 5.0)
        s1, s2 = rng.uniform(1.7, 2.6), rng.uniform(1.7, 2.4)
        ratio = rng.uniform(0.55, 1.0)
        upper_major = rng.random() < 0.6
        a1, a2 = (1.0, ratio) if upper_major else (ratio, 1.0)
        sign = 1.0 if rng.random() < 0.8 else -1.0
        kappa = sign * (a1 * _bump(idx, apex1, s1) - a2 * _bump(idx, apex2, s2))
        kappa -= sign * rng.uniform(0.05, 0.2) * _bump(idx, apex1 - 2.5 * s1 - 1.0, 1.8)
        convex = ["left", "right"] if sign > 0 else ["right", "left"]
        info = {
            "pattern": "double",
            "apices": [float(apex1), float(apex2)],
            "convex": convex,
            "minor_ratio": float(ratio),
        }
    else:
        raise ValueError(f"curve must be 'C' or 'S', got {curve!r}")
    # Small level-to-level irregularity, as no real spine is a smooth curve.
    kappa = kappa + rng.normal(0.0, 0.03 * np.abs(kappa).max(), n)
    return kappa, info


def _balance_offset(tilts: np.ndarray, steps: np.ndarray, target_mm: float) -> float:
    """Constant tilt (rad) that puts the bottom vertebra target_mm right of the top one.

    People stand with the head over the pelvis, so a curve is balanced by
    tilting the whole column; a constant leaves every Cobb angle unchanged.
    """
    mids = 0.5 * (tilts[1:] + tilts[:-1])

    def shift(c: float) -> float:
        return float(-(np.sin(mids + c) * steps).sum()) - target_mm

    lo, hi = -0.7, 0.7  # shift() decreases with c
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if shift(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def build_spine(rng: np.random.Generator, cobb_deg: float, curve: str, measured: slice) -> Spine:
    """Sample a spine whose ``measured`` vertebrae have main Cobb angle ``cobb_deg``.

    ``measured`` selects the template's levels in LEVELS; only their tilts are
    rescaled to the requested angle.
    """
    n = len(LEVELS)
    size = rng.uniform(0.88, 1.12)
    widths = _WIDTH * size * rng.uniform(0.96, 1.04, n)
    heights = _HEIGHT * size * rng.uniform(0.95, 1.05, n)
    discs = _DISC * size * rng.uniform(0.85, 1.15, n)

    kappa, info = _curvature(rng, curve, n)
    tilts = np.concatenate([[0.0], np.cumsum(kappa[:-1])])
    span = np.ptp(tilts[measured])
    tilts = tilts * (np.radians(cobb_deg) / span) if cobb_deg > 0 and span > 0 else tilts * 0

    # Part of the curvature is taken up by wedged bodies, the rest by wedged discs.
    wedge_share = rng.uniform(0.25, 0.5)
    wedge = np.clip(
        wedge_share * np.gradient(tilts) / 2, *np.radians([-MAX_WEDGE_DEG, MAX_WEDGE_DEG])
    )
    steps = 0.5 * heights[:-1] + discs[:-1] + 0.5 * heights[1:]
    imbalance = rng.normal(0.0, 6.0)
    tilts = tilts + _balance_offset(tilts, steps, imbalance)

    u = np.stack([np.cos(tilts), np.sin(tilts)], axis=1)  # along the midline
    nrm = np.stack([-np.sin(tilts), np.cos(tilts)], axis=1)  # caudal, across it
    centres = np.zeros((n, 2))
    for k in range(n - 1):
        mid = 0.5 * (tilts[k] + tilts[k + 1])
        centres[k + 1] = (
            centres[k]
            + 0.5 * heights[k] * nrm[k]
            + discs[k] * np.array([-np.sin(mid), np.cos(mid)])
            + 0.5 * heights[k + 1] * nrm[k + 1]
        )
    quads = corners(centres, u, nrm, widths, heights, wedge)

    # Vertebrae rotate axially toward the convexity, in proportion to how far
    # they stray from the line joining the ends of the column.
    ends = centres[[0, -1]]
    line_x = np.interp(centres[:, 1], ends[:, 1], ends[:, 0])
    gain = rng.uniform(0.35, 0.7)  # degrees per mm of deviation
    axial = np.clip(gain * (line_x - centres[:, 0]) + rng.normal(0, 1.5, n), -35, 35)

    obliquity = rng.normal(0.0, 1.5)
    tilt_l5 = float(np.degrees(tilts[-1]))
    sacrum_tilt = 0.6 * tilt_l5 + obliquity
    sacrum_top = centres[-1] + (0.5 * heights[-1] + discs[-1]) * nrm[-1]
    info.update(
        size_factor=float(size),
        wedge_share=float(wedge_share),
        imbalance_mm=float(imbalance),
        axial_gain=float(gain),
    )
    return Spine(
        quads=quads,
        tilts_deg=np.degrees(tilts),
        axial_deg=axial,
        widths=widths,
        heights=heights,
        sacrum_top=sacrum_top,
        sacrum_tilt_deg=float(sacrum_tilt),
        pelvis_tilt_deg=float(0.3 * tilt_l5 + obliquity),
        info=info,
    )


def corners(
    centres: np.ndarray,
    u: np.ndarray,
    nrm: np.ndarray,
    widths: np.ndarray,
    heights: np.ndarray,
    wedge: np.ndarray,
) -> np.ndarray:
    """(N,4,2) TL, TR, BL, BR of wedged bodies whose midlines run exactly along ``u``.

    The left and right edges lie along ``nrm`` through the midline's ends, so
    the edge midpoints, and hence the measured tilt, do not depend on the
    wedge; the wedge only makes one side taller, turning the endplates by
    -wedge (top) and +wedge (bottom) about the midline.
    """
    half_w = 0.5 * widths[:, None]
    left = centres - half_w * u
    right = centres + half_w * u
    extra = (widths * np.tan(wedge))[:, None]
    hl = 0.5 * (heights[:, None] - extra)
    hr = 0.5 * (heights[:, None] + extra)
    return np.stack([left - hl * nrm, right - hr * nrm, left + hl * nrm, right + hr * nrm], 1)
