"""``load_image``: one read of the file, a size check before decoding, one float32 copy.

The file is opened once: its header is parsed first (so an oversized image is
refused before any pixel memory exists), then its bytes are read once, hashed
and decoded from memory. The bytes are released before the float32 array is
made, so peak memory is about the decoded integer image plus the float32
image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spinegui.core.errors import ImageLoadError
from spinegui.core.imageio.files import open_image_file, read_all, sha256_of
from spinegui.core.imageio.headers import ImageHeader, read_header
from spinegui.core.imageio.loaded import LoadedImage, default_window, percentile_window
from spinegui.core.imageio.raster import decode_raster

# 100 megapixels: about twice the largest real radiograph (a stitched full-spine
# image, 43 x 129 cm at 0.1 mm is ~55 MP; the AASCE images are at most 5 MP). At
# the limit a load peaks near 600 MB (uint16 + float32), which a desktop can
# afford; beyond it a file is far more likely damaged or hostile than genuine.
# OpenCV has its own ceiling of 2**30 pixels (env OPENCV_IO_MAX_IMAGE_PIXELS).
DEFAULT_MAX_PIXELS = 100_000_000

# No encoding stores a pixel in more than 8 bytes (float64 TIFF, double-float
# DICOM); a bigger file cannot be one image within the limit and reading it
# would only exhaust memory.
MAX_FILE_BYTES_PER_PIXEL = 8
FILE_SIZE_SLACK_BYTES = 64 << 20


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an X-ray (PNG, JPEG, BMP, TIFF or DICOM) as float32 grey values.

    Raises ImageLoadError, with a message naming the file and a hint, for
    anything that is not a readable image within ``max_pixels``.
    """
    path = Path(path)
    with open_image_file(path) as f:
        header = read_header(f, path)
        check_size(header, path, max_pixels, file_bytes=os.fstat(f.fileno()).st_size)
        data = read_all(f, path)
    sha256 = sha256_of(data)
    try:
        if header.format == "dicom":
            # pydicom (~0.25 s) is imported with the first DICOM, not at start-up
            from spinegui.core.imageio.dicom import decode_dicom, modality_pixels

            frame = decode_dicom(data, path)
            del data
            dicom = modality_pixels(frame, path)
            del frame
            pixels, bit_depth, spacing_mm = dicom.pixels, dicom.bit_depth, dicom.spacing_mm
            window = dicom.window or percentile_window(pixels)
        else:
            stored = decode_raster(data, header.format, path)
            del data
            pixels = stored.astype(np.float32, order="C")
            bit_depth, spacing_mm = stored.itemsize * 8, None
            window = default_window(stored.dtype, pixels)
            del stored
    except MemoryError as exc:
        raise ImageLoadError(
            f"Not enough memory to load image file '{path}'.",
            "Close other images or programs and try again.",
        ) from exc
    pixels.flags.writeable = False
    height, width = pixels.shape
    return LoadedImage(
        pixels=pixels,
        path=path,
        format=header.format,
        bit_depth=bit_depth,
        width=width,
        height=height,
        spacing_mm=spacing_mm,
        window=window,
        sha256=sha256,
    )


def check_size(header: ImageHeader, path: Path, max_pixels: int, file_bytes: int) -> None:
    """Refuse decompression bombs and absurd files before reading or decoding them."""
    if header.pixels > max_pixels:
        frames = f" x {header.frames} frames" if header.frames > 1 else ""
        raise ImageLoadError(
            f"Image file '{path}' is {header.width} x {header.height} pixels{frames}, "
            f"more than the limit of {max_pixels / 1e6:g} megapixels.",
            "Such a size usually means a damaged or malicious file. If the image is "
            "genuine, save a downscaled copy and open that.",
        )
    if file_bytes > max_pixels * MAX_FILE_BYTES_PER_PIXEL + FILE_SIZE_SLACK_BYTES:
        raise ImageLoadError(
            f"Image file '{path}' is {file_bytes / 1e6:.0f} MB, too large to be one "
            f"image of at most {max_pixels / 1e6:g} megapixels.",
            "Open a single image; multi-page or multi-image files are not supported.",
        )
