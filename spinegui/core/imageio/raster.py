"""PNG, JPEG, BMP and TIFF decoding through OpenCV.

OpenCV reports most failures by returning None (no exception, a message on
stderr at best), and libjpeg happily pads a truncated JPEG with grey, so both
cases are checked explicitly here. EXIF orientation is ignored: landmark
coordinates refer to the pixels as stored, which is what the header size,
MATLAB and the AASCE labels use.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from spinegui.core.imageio.files import out_of_memory
from spinegui.core.imageio.headers import HeaderTruncated, damaged, jpeg_scan_offset

DECODE_FLAGS = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_IGNORE_ORIENTATION


def decode_raster(data: bytes, fmt: str, path: Path) -> np.ndarray:
    """Stored grey values (uint8, uint16 or float32 (H, W)); colour becomes luma."""
    if fmt == "jpeg":
        check_jpeg_complete(data, path)
    try:
        stored = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), DECODE_FLAGS)
    except MemoryError as exc:
        raise out_of_memory(path) from exc
    except cv2.error as exc:
        raise damaged(path, fmt, f"the decoder failed ({exc.err or exc})") from exc
    if stored is None or stored.size == 0:
        raise damaged(path, fmt, "its pixel data is incomplete or corrupt")
    if stored.ndim != 2:  # some codecs ignore IMREAD_GRAYSCALE for unusual layouts
        stored = stored[..., :3].mean(axis=2, dtype=np.float32)
    return stored


def check_jpeg_complete(data: bytes, path: Path) -> None:
    """A JPEG must end its image data with an EOI marker after the first scan.

    Searching after the first SOS (not anywhere) matters: an EXIF thumbnail
    carries its own EOI, earlier in the file.
    """
    try:
        scan_start = jpeg_scan_offset(io.BytesIO(data))
    except HeaderTruncated as exc:
        raise damaged(path, "jpeg", "it has no image data") from exc
    if data.rfind(b"\xff\xd9") <= scan_start:
        raise damaged(path, "jpeg", "it ends before the image data is complete")
