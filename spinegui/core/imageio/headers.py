"""Format sniffing and header-only image sizes.

Sizes come from our own few-byte header parsers rather than from a decoder so
that a decompression bomb (a tiny file announcing a gigapixel image) is
refused before any pixel memory is allocated, and so importers can learn an
image's size without decoding it. The format is decided by content, not by
extension, because DICOM files often have no extension and renamed files are
common; the extension is only a fallback for DICOM without its preamble.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from spinegui.core.errors import ImageLoadError
from spinegui.core.imageio.files import open_image_file, read_failed

SUPPORTED_HINT = "Supported formats: PNG, JPEG, BMP, TIFF (8/16-bit) and DICOM."
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom", ".dic"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}) | DICOM_EXTENSIONS
"""Extensions that mark a file as an X-ray when a folder is scanned for images."""
DICOM_GROUPS_WITHOUT_PREAMBLE = frozenset({0x0002, 0x0008})
MIN_SIDE = 16
"""Smallest image side accepted: a thumbnail or icon is not an X-ray, and the network
would place landmarks on it anyway. The smallest synthetic radiograph is 32 x 16."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_SOS, JPEG_EOI = 0xDA, 0xD9
JPEG_MARKERS_WITHOUT_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "png", "jpeg", "bmp", "tiff", "dicom"
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        """Pixels the file holds; all DICOM frames count, as the whole file is read."""
        return self.width * self.height * self.frames


class HeaderTruncated(Exception):
    """Internal: the file ended inside its header."""


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) from the file header alone, without decoding pixels."""
    path = Path(path)
    with open_image_file(path) as f:
        header = read_header(f, path)
    return header.width, header.height


def read_header(f: BinaryIO, path: Path) -> ImageHeader:
    """Sniff the format of an open file and parse its size; raises ImageLoadError."""
    fmt = sniff_format(f, path)
    f.seek(0)
    frames = 1
    try:
        if fmt == "dicom":
            from spinegui.core.imageio.dicom import read_dicom_header  # pydicom: when needed

            width, height, frames = read_dicom_header(f, path)
        else:
            width, height = RASTER_SIZE_READERS[fmt](f)
    except (HeaderTruncated, struct.error) as exc:
        raise damaged(path, fmt, "its header is cut short") from exc
    except OSError as exc:
        raise read_failed(path, exc) from exc
    if width <= 0 or height <= 0:
        raise damaged(path, fmt, f"its header gives an impossible size of {width} x {height}")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageLoadError(
            f"Image file '{path}' is only {width} x {height} pixels, too small to be an X-ray "
            "(landmarks found on it would mean nothing).",
            f"Open the full-size image; spinegui needs at least {MIN_SIDE} pixels per side.",
        )
    return ImageHeader(fmt, width, height, frames)


def sniff_format(f: BinaryIO, path: Path) -> str:
    f.seek(0)
    head = f.read(132)
    if not head:
        raise ImageLoadError(
            f"Image file '{path}' is empty (0 bytes).",
            "It may have been cut short while copying or downloading; copy it again.",
        )
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(TIFF_SIGNATURES):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head[128:132] == b"DICM" or path.suffix.lower() in DICOM_EXTENSIONS:
        return "dicom"
    if len(head) >= 8 and struct.unpack("<H", head[:2])[0] in DICOM_GROUPS_WITHOUT_PREAMBLE:
        return "dicom"  # an old DICOM file written without preamble or 'DICM'
    kind = f"'{path.suffix}' file" if path.suffix else "file without extension"
    raise ImageLoadError(
        f"'{path}' is not an image this program can read (a {kind} of unknown content).",
        SUPPORTED_HINT,
    )


def damaged(path: Path, fmt: str, reason: str) -> ImageLoadError:
    return ImageLoadError(
        f"Image file '{path}' looks like {fmt.upper()} but is damaged: {reason}.",
        "The file may be incomplete or corrupt; copy or export it again.",
    )


def read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise HeaderTruncated
    return data


def png_size(f: BinaryIO) -> tuple[int, int]:
    read_exact(f, 8)
    length, chunk_type, width, height = struct.unpack(">I4sII", read_exact(f, 16))
    if chunk_type != b"IHDR" or length != 13:
        raise HeaderTruncated
    return width, height


def bmp_size(f: BinaryIO) -> tuple[int, int]:
    read_exact(f, 14)
    (dib_size,) = struct.unpack("<I", read_exact(f, 4))
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", read_exact(f, 4))
    else:
        width, height = struct.unpack("<ii", read_exact(f, 8))
    return width, abs(height)  # negative height means rows stored top-down


def tiff_size(f: BinaryIO) -> tuple[int, int]:
    """Size of the first page, the one the decoder reads."""
    order = "<" if read_exact(f, 2) == b"II" else ">"
    (magic,) = struct.unpack(order + "H", read_exact(f, 2))
    if magic == 43:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        read_exact(f, 4)
        count_fmt, entry_size, (ifd,) = "Q", 20, struct.unpack(order + "Q", read_exact(f, 8))
    else:
        count_fmt, entry_size, (ifd,) = "H", 12, struct.unpack(order + "I", read_exact(f, 4))
    f.seek(ifd)
    (n_entries,) = struct.unpack(order + count_fmt, read_exact(f, struct.calcsize(count_fmt)))
    found: dict[int, int] = {}
    for _ in range(n_entries):
        entry = read_exact(f, entry_size)
        tag, typ = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = entry[12:] if entry_size == 20 else entry[8:]
            value_fmt = {3: "H", 4: "I", 16: "Q"}.get(typ)
            if value_fmt is None:
                raise HeaderTruncated
            found[tag] = struct.unpack_from(order + value_fmt, value)[0]
    if 256 not in found or 257 not in found:
        raise HeaderTruncated
    return found[256], found[257]


def jpeg_segments(f: BinaryIO):
    """Yield (marker, offset of the marker, payload bytes) up to and including SOS.

    Only SOF payloads are read; other segments are skipped by seeking, so a
    large EXIF or ICC block costs nothing.
    """
    read_exact(f, 2)
    while True:
        byte = read_exact(f, 1)
        if byte != b"\xff":
            raise HeaderTruncated
        marker = 0xFF
        while marker == 0xFF:  # any number of fill bytes may precede a marker
            marker = read_exact(f, 1)[0]
        offset = f.tell() - 2
        if marker in JPEG_MARKERS_WITHOUT_LENGTH:
            continue
        if marker == JPEG_EOI:
            raise HeaderTruncated
        (length,) = struct.unpack(">H", read_exact(f, 2))
        if length < 2:
            raise HeaderTruncated
        if marker in JPEG_SOF_MARKERS:
            yield marker, offset, read_exact(f, length - 2)
        else:
            yield marker, offset, b""
            f.seek(length - 2, os.SEEK_CUR)
        if marker == JPEG_SOS:
            return


def jpeg_size(f: BinaryIO) -> tuple[int, int]:
    for marker, _, payload in jpeg_segments(f):
        if marker in JPEG_SOF_MARKERS:
            height, width = struct.unpack_from(">HH", payload, 1)
            return width, height
    raise HeaderTruncated


def jpeg_scan_offset(f: BinaryIO) -> int:
    """Offset of the first SOS marker: the entropy-coded image data starts there."""
    for marker, offset, _ in jpeg_segments(f):
        if marker == JPEG_SOS:
            return offset
    raise HeaderTruncated


RASTER_SIZE_READERS = {"png": png_size, "jpeg": jpeg_size, "bmp": bmp_size, "tiff": tiff_size}
