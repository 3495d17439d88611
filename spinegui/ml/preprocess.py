"""Image and landmark conversion between the original X-ray and the network.

The whole image is stretched to the preset size (no crop, no padding, aspect
not kept), as in the paper. Landmarks are then expressed as fractions of the
image width and height, which are the same numbers for the original and the
resized image, so predictions map back to the original without any
bookkeeping of scales or offsets.

Half-pixel convention: pixel coordinates here, as everywhere in spinegui, put
the centre of pixel column i at x = i. ``cv2.resize`` maps pixel *edges*
exactly (centre i of the source lands at (i + 0.5) * w / W - 0.5 of the
destination), so a fraction is ``(x + 0.5) / W``, not ``x / W``. With plain
``x / W`` every label would sit half a source pixel minus half a network pixel
off the content it marks. The conversion itself lives in
``spinegui.core.landmarks`` so the core and the network share one convention.
"""

from __future__ import annotations

import cv2
import numpy as np

from spinegui.core.errors import ImageLoadError
from spinegui.core.landmarks import from_normalized, to_normalized
from spinegui.ml.presets import Preset, get_preset

NORMALISATION: dict[str, str] = {
    "image": "grey float in [0, 1], stretched to the input size (cv2 INTER_AREA when shrinking)",
    "coords": "(x + 0.5) / width, (y + 0.5) / height; AASCE order, (x, y) per landmark",
}
"""Written into every checkpoint; a model trained with other conventions is refused."""


def to_network_input(image: np.ndarray, preset: str | Preset) -> np.ndarray:
    """Resize a grey [0, 1] image to the preset size, float32, C-contiguous.

    INTER_AREA when shrinking, because bilinear sampling at 1/4 or less scale
    skips rows and aliases thin cortical edges; INTER_LINEAR when enlarging,
    where INTER_AREA degenerates to nearest neighbour.
    """
    p = get_preset(preset)
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim != 2 or img.shape[0] < 2 or img.shape[1] < 2:
        raise ImageLoadError(
            f"Expected a single-channel image, got an array of shape {img.shape}.",
            "Load the X-ray as greyscale before running the network.",
        )
    img = img.astype(np.float32, copy=False)
    if not np.all(np.isfinite(img)):
        raise ImageLoadError(
            "The image contains missing (NaN) or infinite pixel values.",
            "Re-export the image; the file may be damaged.",
        )
    h, w = img.shape
    shrinking = p.height <= h and p.width <= w
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(img, (p.width, p.height), interpolation=interp)
    return np.ascontiguousarray(out, dtype=np.float32)


def normalize_points(points_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel landmarks (..., 2) of a width x height image -> fractions in [0, 1]."""
    return to_normalized(points_px, width, height)


def denormalize_points(norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fractions (..., 2) -> pixel landmarks of a width x height image."""
    return from_normalized(norm, width, height)
