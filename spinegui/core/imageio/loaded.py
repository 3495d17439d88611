"""The loaded image and its default display window.

Pixels stay in their stored (DICOM: modality) units rather than being
normalised on load, so window/level can be changed later without reloading
and measurements of intensity keep their meaning. ``normalized()`` is the one
place that maps them to [0, 1] for the network and the display.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PERCENTILE_WINDOW = (0.5, 99.5)
PERCENTILE_SAMPLE_PIXELS = 1_000_000


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An X-ray ready for display and inference.

    ``pixels`` is read-only float32 (H, W), C-contiguous; ``spacing_mm`` is
    (row, col) = (y, x) mm per pixel when the file says so; ``window`` is
    (center, width) in the units of ``pixels``; ``sha256`` is the hex hash of
    the file's bytes. ``eq=False`` because comparing pixel arrays with ``==``
    is neither cheap nor a bool; compare ``sha256`` instead.
    """

    pixels: np.ndarray
    path: Path
    format: str
    bit_depth: int
    width: int
    height: int
    spacing_mm: tuple[float, float] | None
    window: tuple[float, float]
    sha256: str

    @property
    def levels(self) -> tuple[float, float]:
        """(low, high) of the default window, the form image widgets take."""
        center, width = self.window
        return center - width / 2, center + width / 2

    def normalized(self) -> np.ndarray:
        """New float32 (H, W) array in [0, 1]: the default window applied linearly.

        One allocation, then in-place arithmetic, so a 40-megapixel image costs
        one extra 160 MB array and no temporaries.
        """
        low, _ = self.levels
        out = np.subtract(self.pixels, np.float32(low), dtype=np.float32)
        out *= np.float32(1.0 / self.window[1])
        np.clip(out, 0.0, 1.0, out=out)
        return out


def default_window(stored_dtype: np.dtype, pixels: np.ndarray) -> tuple[float, float]:
    """Full range for 8-bit files, robust percentiles otherwise.

    8-bit images are already display-ready, and the network's training data
    (the AASCE JPEGs) is fed as value / 255, so their window is exactly [0, 255].
    Deeper images (12-bit data in 16-bit containers, float TIFF) use an
    arbitrary part of their range, so full range would show them black.
    """
    if np.dtype(stored_dtype) == np.uint8:
        return 127.5, 255.0
    return percentile_window(pixels)


def percentile_window(pixels: np.ndarray) -> tuple[float, float]:
    """(center, width) spanning the 0.5-99.5 percentiles, ignoring burnt-in text and collimator.

    Computed on a strided sample of about a million pixels: np.percentile
    copies its input, and a full copy of a large X-ray would double peak memory
    for a window that the sample already gives to within a grey level.
    """
    step = max(1, int(np.sqrt(pixels.size / PERCENTILE_SAMPLE_PIXELS)))
    sample = pixels[::step, ::step]
    finite = np.isfinite(sample)
    if not finite.all():
        sample = sample[finite]
    if sample.size == 0:
        return 0.5, 1.0
    low, high = (float(v) for v in np.percentile(sample, PERCENTILE_WINDOW))
    width = high - low
    if width <= 0:  # flat image: any positive width shows it as mid-grey
        width = 1.0
    return (low + high) / 2, width
