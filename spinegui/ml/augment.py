"""Training-time augmentation of an X-ray and its landmarks.

With ~100-600 training images (the paper had 80) the network memorises
exposure and position unless they vary. Geometry (rotation, scale, shift) is
one affine matrix applied to the image with ``cv2.warpAffine`` and to the
landmarks by the same matrix, so labels cannot drift from content; both use
spinegui's pixel convention (centre of pixel i at x = i), which is also
OpenCV's. It works at any image size; running it on network-size images (as
the data pipeline does) is much cheaper than on full-resolution X-rays.

A horizontal flip mirrors the image and then swaps TL<->TR and BL<->BR, so
"left corner" still means the corner on the image's left; without the swap
every flipped vertebra would have crossed corners.

A wider field of view (``zoom_out``): the AASCE training X-rays are cropped
tightly (T1 at 1-12 % of the height, median 4.5 %; height/width 2.7), while
X-rays from elsewhere show more neck and pelvis (height/width 2.3 measured on
other images of the same family). A network that only ever saw T1 at the top
learns "T1 is near the top edge" and slides the whole spine by a level on
such images. So some examples shrink the picture (more across than down, to
widen it) and place it anywhere in the frame, filling the rest with the
picture's own edge rows or a flat grey, so the spine's position must be read
from the image, not assumed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

LR_SWAP = np.array([1, 0, 3, 2])
"""Corner permutation TL, TR, BL, BR -> TR, TL, BR, BL."""


def hflip(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right and swap left/right corner names; its own inverse."""
    w = image.shape[1]
    img = np.ascontiguousarray(image[:, ::-1])
    p = np.asarray(points, dtype=np.float64)[:, LR_SWAP, :].copy()
    p[..., 0] = (w - 1) - p[..., 0]
    return img, p


def affine_matrix(
    width: int, height: int, angle_deg: float, scale: float, shift_xy: tuple[float, float]
) -> np.ndarray:
    """2x3 matrix: rotate and scale about the image centre, then shift (px).

    Positive angles turn the image counter-clockwise as displayed (OpenCV's
    convention).
    """
    centre = ((width - 1) / 2.0, (height - 1) / 2.0)
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += np.asarray(shift_xy, dtype=np.float64)
    return m


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Transform (..., 2) points by a 2x3 matrix."""
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def warp_image(
    image: np.ndarray, m: np.ndarray, border: int = cv2.BORDER_CONSTANT, value: float = 0.0
) -> np.ndarray:
    """Warp with black borders by default: reflected borders would paint phantom vertebrae."""
    h, w = image.shape
    return cv2.warpAffine(
        image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=float(value)
    )


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of applying ``inner`` first, then ``outer``."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]])
    return a[:2]


class Augmenter:
    """Random flip, affine and intensity changes; reproducible from a seed.

    ``rng`` is a seed, a ``numpy.random.Generator`` or None (fresh entropy).
    ``shift`` is a fraction of the image size; ``exposure`` an additive
    brightness range; ``contrast`` and ``gamma`` multiplicative ranges;
    ``noise`` the largest Gaussian noise std. Set any of them to their neutral
    value (0, (1, 1), ...) or ``intensity=False`` to turn them off. Geometry
    that would push a landmark off the image is redrawn (up to 10 times, then
    skipped), because a label outside the picture teaches the net nothing
    about the image and breaks the soft-argmax head, which cannot reach it.
    """

    def __init__(
        self,
        rng: int | np.random.Generator | None = None,
        rotation_deg: float = 5.0,
        scale: tuple[float, float] = (0.9, 1.1),
        shift: float = 0.05,
        flip_p: float = 0.5,
        intensity: bool = True,
        exposure: float = 0.1,
        contrast: tuple[float, float] = (0.8, 1.2),
        gamma: tuple[float, float] = (0.7, 1.4),
        noise: float = 0.02,
        max_tries: int = 10,
        zoom_out: float = 0.0,
        zoom_scale: tuple[float, float] = (0.6, 1.0),
        zoom_widen: tuple[float, float] = (1.0, 1.3),
    ) -> None:
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.rotation_deg = float(rotation_deg)
        self.scale = (float(scale[0]), float(scale[1]))
        self.shift = float(shift)
        self.flip_p = float(flip_p)
        self.intensity = bool(intensity)
        self.exposure = float(exposure)
        self.contrast = (float(contrast[0]), float(contrast[1]))
        self.gamma = (float(gamma[0]), float(gamma[1]))
        self.noise = float(noise)
        self.max_tries = int(max_tries)
        self.zoom_out = float(zoom_out)
        self.zoom_scale = (float(zoom_scale[0]), float(zoom_scale[1]))
        self.zoom_widen = (float(zoom_widen[0]), float(zoom_widen[1]))

    @property
    def geometric(self) -> bool:
        return self.rotation_deg != 0 or self.scale != (1.0, 1.0) or self.shift != 0

    def random_affine(self, width: int, height: int, points: np.ndarray) -> np.ndarray | None:
        """A matrix keeping every landmark on the image, or None if none was found.

        Landmarks already off the image (labels may sit slightly outside) only
        have to stay within the box they started in.
        """
        r = self.rng
        x, y = points[..., 0], points[..., 1]
        x_lo, x_hi = min(0.0, x.min()), max(width - 1.0, x.max())
        y_lo, y_hi = min(0.0, y.min()), max(height - 1.0, y.max())
        for _ in range(self.max_tries):
            angle = r.uniform(-self.rotation_deg, self.rotation_deg)
            s = r.uniform(*self.scale)
            dx = r.uniform(-self.shift, self.shift) * width
            dy = r.uniform(-self.shift, self.shift) * height
            m = affine_matrix(width, height, angle, s, (dx, dy))
            q = apply_affine(points, m)
            qx, qy = q[..., 0], q[..., 1]
            if qx.min() >= x_lo and qx.max() <= x_hi and qy.min() >= y_lo and qy.max() <= y_hi:
                return m
        return None

    def zoom_out_matrix(self, width: int, height: int) -> np.ndarray:
        """Shrink by a random height factor (and widen the view a little more) and
        place the picture at a random spot that keeps it wholly in the frame."""
        r = self.rng
        sy = r.uniform(*self.zoom_scale)
        sx = min(1.0, sy / r.uniform(*self.zoom_widen))
        # content spans [-0.5, size - 0.5] (pixel centres at integers) before and after
        bx = r.uniform(0.0, (1.0 - sx) * width) + 0.5 * sx - 0.5
        by = r.uniform(0.0, (1.0 - sy) * height) + 0.5 * sy - 0.5
        return np.array([[sx, 0.0, bx], [0.0, sy, by]])

    def adjust_intensity(self, image: np.ndarray) -> np.ndarray:
        """Gamma, contrast about the mean, exposure, noise; clipped to [0, 1]."""
        r = self.rng
        lo, hi = self.gamma
        g = math.exp(r.uniform(math.log(lo), math.log(hi)))
        img = np.clip(image, 0.0, 1.0) ** g
        c = r.uniform(*self.contrast)
        mean = float(img.mean())
        img = (img - mean) * c + mean + r.uniform(-self.exposure, self.exposure)
        if self.noise > 0:
            img = img + r.normal(0.0, r.uniform(0.0, self.noise), img.shape)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    def __call__(self, image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        img = np.asarray(image, dtype=np.float32)
        pts = np.asarray(points, dtype=np.float64)
        if self.flip_p > 0 and self.rng.random() < self.flip_p:
            img, pts = hflip(img, pts)
        h, w = img.shape
        m = None
        border, fill = cv2.BORDER_CONSTANT, 0.0
        if self.zoom_out > 0 and self.rng.random() < self.zoom_out:
            m = self.zoom_out_matrix(w, h)
            # the picture's own edge rows, or flat grey: neither paints a vertebra
            if self.rng.random() < 0.5:
                border = cv2.BORDER_REPLICATE
            else:
                fill = float(self.rng.uniform(0.0, 0.6))
        if self.geometric:
            inner = m if m is not None else np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            outer = self.random_affine(w, h, apply_affine(pts, inner))
            if outer is not None:
                m = compose(outer, inner)
        if m is not None:
            img = warp_image(img, m, border, fill)
            pts = apply_affine(pts, m)
        if self.intensity:
            img = self.adjust_intensity(img)
        return np.ascontiguousarray(img, dtype=np.float32), pts
