"""Crops that look at one vertebra up close, aligned to the spine: the refinement stage's view.

Why aligned and scaled this way (measured, see the README): a crop centred on
a vertebra but axis-aligned and of a fixed pixel size lowered corner error a
little and made tilts worse, because a tilted spine then shows the network
every vertebra at a different angle and size and it learns the average. So
each crop here is centred on the current estimate of the vertebra's centre,
turned so the local spine axis (the line through the neighbouring vertebra
centres) points straight down, and scaled so the local vertebra spacing (half
the distance between those neighbours) is ``px_per_level`` crop pixels. The
crop is ``size`` pixels square, about three levels, so the neighbours above
and below are in view: a vertebra is told apart from a disc or a rib by its
neighbours as much as by itself.

Coordinates in a crop's frame: x along ``perpendicular`` (to the image's right
for an upright spine), y along the axis (downwards), both in units of the
local spacing, origin at the crop centre. The refinement network predicts the
vertebra's four corners in these units, so what it learns does not depend on
image size, spine size or spine tilt; ``from_frame`` maps them back to pixels
of the original X-ray.

Crops are cut from the image cached at a network preset (``spinegui.ml.data``
keeps every image at one size, stretched), through one affine map that undoes
the stretch: the crop itself is in the original image's geometry, so tilts in
the crop are the true tilts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "LR_SWAP",
    "ChainFrames",
    "chain_frames",
    "crop_matrix",
    "cut_crops",
    "from_frame",
    "mirror_frame_points",
    "to_frame",
]

LR_SWAP = np.array([1, 0, 3, 2])
"""Corner permutation TL, TR, BL, BR -> TR, TL, BR, BL (a mirrored crop)."""


@dataclass(frozen=True)
class ChainFrames:
    """One frame per vertebra: centre (V, 2) px, unit axis (V, 2) pointing caudally,
    spacing (V,) px. Arrays so that perturbed frames (training) are the same type."""

    centres: np.ndarray
    axes: np.ndarray
    spacing: np.ndarray

    @property
    def perpendicular(self) -> np.ndarray:
        """(V, 2): the axis turned a quarter turn, pointing to the image's right when upright."""
        return np.stack([self.axes[:, 1], -self.axes[:, 0]], axis=1)

    def __len__(self) -> int:
        return len(self.centres)


def chain_frames(landmarks: np.ndarray) -> ChainFrames:
    """Frames from (V, 4, 2) landmarks: centres, local axis and spacing from the neighbours.

    The end vertebrae use their one neighbour. A degenerate chain (two
    centres on one spot) gets a vertical axis and a 1 px spacing rather than
    a division by zero; the crop then shows little, which is what it deserves.
    """
    c = np.asarray(landmarks, dtype=np.float64).mean(axis=1)
    v = len(c)
    lo = np.maximum(np.arange(v) - 1, 0)
    hi = np.minimum(np.arange(v) + 1, v - 1)
    d = c[hi] - c[lo]
    n = np.linalg.norm(d, axis=1)
    ok = n > 1e-9
    u = np.where(ok[:, None], d / np.where(ok, n, 1.0)[:, None], [0.0, 1.0])
    s = np.where(ok, n / np.maximum(hi - lo, 1), 1.0)
    return ChainFrames(c, u, s)


def to_frame(points: np.ndarray, frames: ChainFrames) -> np.ndarray:
    """(V, K, 2) pixels -> (V, K, 2) in each vertebra's crop frame (units of spacing)."""
    d = np.asarray(points, dtype=np.float64) - frames.centres[:, None, :]
    p, u = frames.perpendicular, frames.axes
    x = (d * p[:, None]).sum(-1)
    y = (d * u[:, None]).sum(-1)
    return np.stack([x, y], axis=-1) / frames.spacing[:, None, None]


def from_frame(t: np.ndarray, frames: ChainFrames) -> np.ndarray:
    """Inverse of ``to_frame``: (V, K, 2) frame units -> pixels of the original image."""
    t = np.asarray(t, dtype=np.float64)
    p, u, s = frames.perpendicular, frames.axes, frames.spacing
    return frames.centres[:, None, :] + s[:, None, None] * (
        t[..., :1] * p[:, None] + t[..., 1:] * u[:, None]
    )


def mirror_frame_points(t: np.ndarray) -> np.ndarray:
    """Corners (..., 4, 2) in a crop frame as seen in the mirrored crop (and back)."""
    m = np.asarray(t)[..., LR_SWAP, :].copy()
    m[..., 0] *= -1.0
    return m


def crop_matrix(
    centre, axis, spacing: float, scale_xy: tuple[float, float], px_per_level: float, size: int
) -> np.ndarray:
    """2x3 map from crop pixels to pixels of the cached image (for WARP_INVERSE_MAP).

    ``scale_xy`` = (cached width / original width, cached height / original
    height); pixel centres sit at integers in every image (see ``preprocess``),
    so original x maps to fx * (x + 0.5) - 0.5.
    """
    u = np.asarray(axis, dtype=np.float64)
    p = np.array([u[1], -u[0]])
    k = float(spacing) / float(px_per_level)
    h = (size - 1) / 2.0
    m = np.empty((2, 3))
    m[:, 0] = k * p
    m[:, 1] = k * u
    m[:, 2] = np.asarray(centre, dtype=np.float64) - k * h * (p + u)
    fx, fy = scale_xy
    m[0] *= fx
    m[1] *= fy
    m[0, 2] += 0.5 * fx - 0.5
    m[1, 2] += 0.5 * fy - 0.5
    return m


def cut_crops(
    image: np.ndarray,
    frames: ChainFrames,
    scale_xy: tuple[float, float],
    px_per_level: float,
    size: int,
) -> np.ndarray:
    """(V, size, size) float32 crops, one per frame, black outside the image."""
    out = np.empty((len(frames), size, size), np.float32)
    for i in range(len(frames)):
        m = crop_matrix(
            frames.centres[i], frames.axes[i], frames.spacing[i], scale_xy, px_per_level, size
        )
        out[i] = cv2.warpAffine(
            image,
            m,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
    return out
