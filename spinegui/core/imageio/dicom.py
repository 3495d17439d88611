"""DICOM decoding with the radiology conventions a viewer is expected to honour.

Pixels come out in modality units (Rescale Slope/Intercept applied) with
MONOCHROME1 inverted, so "bright = dense" holds for every file and the VOI
window stored by the modality can be used unchanged. pydicom's own failures
are many and varied (malformed tags, missing codecs, odd encodings), so every
exception from it is turned into an ImageLoadError here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from spinegui.core.errors import ImageLoadError

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
RGB_TO_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


@dataclass(frozen=True)
class DicomPixels:
    pixels: np.ndarray  # float32 (H, W), modality units, MONOCHROME1 already inverted
    bit_depth: int
    spacing_mm: tuple[float, float] | None
    window: tuple[float, float] | None  # from the VOI tags, in the same units as pixels


@dataclass(frozen=True)
class DicomFrame:
    stored: np.ndarray  # frame 0 as stored: (H, W) or (H, W, 3)
    dataset: pydicom.Dataset  # every element but the pixel data


def read_dicom_header(f: BinaryIO, path: Path) -> tuple[int, int, int]:
    """(width, height, frames) without reading pixel data."""
    ds = parse(f, path, stop_before_pixels=True, defer_size=4096)
    return image_size(ds, path)


def decode_dicom(data: bytes, path: Path) -> DicomFrame:
    """Stored values of the first frame.

    Kept apart from ``modality_pixels`` so the caller can drop the file bytes
    before the float32 array is allocated; that keeps peak memory at stored +
    float32.
    """
    # defer_size keeps the pixel bytes out of this parse (pixel_array reads them
    # below), and closing the stream stops the dataset, which remembers its
    # source, from keeping the whole file alive.
    with io.BytesIO(data) as stream:
        ds = parse(stream, path, defer_size=4096)
    if not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        raise ImageLoadError(
            f"DICOM file '{path}' contains no image (it has no Pixel Data).",
            "It is probably a report, a structured document or a DICOMDIR; "
            "open the DICOM image file instead.",
        )
    _, _, frames = image_size(ds, path)
    stored = decode_first_frame(data, ds, path, frames)
    if photometric(ds, path) == "PALETTE COLOR":
        stored = palette_to_rgb(data, stored, path)
    return DicomFrame(stored, ds)


def photometric(ds: pydicom.Dataset, path: Path) -> str:
    try:
        return str(ds.get("PhotometricInterpretation", "")).strip()
    except Exception as exc:  # a malformed element, decoded only now
        raise damaged_dicom(path, exc) from exc


def palette_to_rgb(data: bytes, indices: np.ndarray, path: Path) -> np.ndarray:
    """A PALETTE COLOR image through its colour table (shown as grey indices otherwise).

    The tables are read from a second, full parse: the first one defers large
    elements, and a 16-bit palette (3 x 128 KiB) is one of those.
    """
    with io.BytesIO(data) as stream:
        ds = parse(stream, path)
    try:
        return apply_color_lut(indices, ds)
    except Exception as exc:  # missing or inconsistent tables raise many types
        raise ImageLoadError(
            f"DICOM file '{path}' is a PALETTE COLOR image without a usable colour table "
            f"({exc}); its pixel values are table indices, not brightness.",
            "Export the image again as MONOCHROME2 (greyscale) from your PACS or viewer.",
        ) from exc


def modality_pixels(frame: DicomFrame, path: Path | None = None) -> DicomPixels:
    """Modality units, MONOCHROME1 inverted; a malformed tag is a damaged file.

    ``path`` names the file in the error; data received over the network has none.
    """
    try:
        return _modality_pixels(frame)
    except MemoryError:
        raise
    except Exception as exc:  # pydicom decodes elements on access and raises many types
        raise damaged_dicom(path or Path("(received DICOM data)"), exc) from exc


def _modality_pixels(frame: DicomFrame) -> DicomPixels:
    ds = frame.dataset
    pixels = to_gray_float32(frame.stored)
    slope, intercept = rescale(ds)
    if slope != 1.0:
        pixels *= np.float32(slope)
    if intercept != 0.0:
        pixels += np.float32(intercept)
    window = voi_window(ds)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        flip = inversion_constant(ds, pixels, slope, intercept)
        np.subtract(np.float32(flip), pixels, out=pixels)
        if window is not None:
            window = (flip - window[0], window[1])
    bits = ds.get("BitsStored") or ds.get("BitsAllocated") or frame.stored.itemsize * 8
    return DicomPixels(pixels, int(bits), pixel_spacing(ds), window)


def parse(f: BinaryIO, path: Path, **options: Any) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(f, force=True, **options)
    except Exception as exc:  # pydicom raises many unrelated types for bad input
        raise damaged_dicom(path, exc) from exc


def image_size(ds: pydicom.Dataset, path: Path) -> tuple[int, int, int]:
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
    except AttributeError as exc:
        raise ImageLoadError(
            f"DICOM file '{path}' contains no image (it has no Rows/Columns).",
            "It is probably a report, a structured document or a DICOMDIR; "
            "open the DICOM image file instead.",
        ) from exc
    except Exception as exc:  # elements are decoded on access: bad lengths, bad values
        raise damaged_dicom(path, exc) from exc
    return columns, rows, max(frames, 1)


def decode_first_frame(data: bytes, ds: pydicom.Dataset, path: Path, frames: int) -> np.ndarray:
    """Stored values of frame 0; reading from the bytes avoids a second copy of them."""
    options: dict[str, Any] = {}
    if "TransferSyntaxUID" not in ds.file_meta:
        options["transfer_syntax_uid"] = guessed_transfer_syntax(ds)
    try:
        return pixel_array(io.BytesIO(data), index=0 if frames > 1 else None, **options)
    except MemoryError as exc:
        raise ImageLoadError(
            f"Not enough memory to decode DICOM file '{path}'.",
            "Close other images or programs and try again.",
        ) from exc
    except (NotImplementedError, RuntimeError) as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID")
        name = getattr(syntax, "name", None) or "an unknown encoding"
        raise ImageLoadError(
            f"DICOM file '{path}' is compressed with {name}, which cannot be decoded here.",
            "Export it uncompressed from your PACS or viewer, or install the matching "
            "pydicom plugin (pylibjpeg for JPEG, JPEG-LS and JPEG 2000).",
        ) from exc
    except Exception as exc:  # truncated or inconsistent pixel data, bad tags
        raise damaged_dicom(path, exc) from exc


def guessed_transfer_syntax(ds: pydicom.Dataset) -> str:
    """The encoding pydicom detected when a file carries no file meta group."""
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def to_gray_float32(stored: np.ndarray) -> np.ndarray:
    if stored.ndim == 3:  # colour (RGB after pydicom's YBR conversion)
        return np.ascontiguousarray(stored.astype(np.float32) @ RGB_TO_GRAY)
    return stored.astype(np.float32, order="C")


def rescale(ds: pydicom.Dataset) -> tuple[float, float]:
    slope = first_float(ds.get("RescaleSlope"))
    intercept = first_float(ds.get("RescaleIntercept"))
    return (slope if slope else 1.0), (intercept or 0.0)


def voi_window(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """(center, width) of the first VOI window, the one the modality meant as default."""
    center = first_float(ds.get("WindowCenter"))
    width = first_float(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return center, width


def inversion_constant(
    ds: pydicom.Dataset, pixels: np.ndarray, slope: float, intercept: float
) -> float:
    """low + high of the representable range, so inversion maps that range onto itself.

    Using the representable range (not the image's min/max) keeps a given
    stored value at the same output value in every image of a series.
    """
    bits = ds.get("BitsStored")
    if not bits or "PixelData" not in ds:
        return float(np.nanmin(pixels) + np.nanmax(pixels))
    if ds.get("PixelRepresentation") == 1:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        low, high = 0, 2**bits - 1
    return (low + high) * slope + 2 * intercept


def pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    """(row, col) mm per pixel: PixelSpacing (calibrated at the patient) if present,
    else ImagerPixelSpacing (at the detector)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = ds.get(keyword)
        try:
            row, col = (float(v) for v in values)
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0:
            return row, col
    return None


def first_float(value: Any) -> float | None:
    """First number of a possibly multi-valued DICOM element; None when absent or bad."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        if len(value) == 0:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def damaged_dicom(path: Path, exc: Exception) -> ImageLoadError:
    return ImageLoadError(
        f"Image file '{path}' looks like DICOM but cannot be read ({exc}).",
        "The file may be incomplete or corrupt; export it again from your PACS or viewer.",
    )
