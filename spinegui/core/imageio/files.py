"""Opening image files and hashing their bytes, with errors people can act on.

The project store identifies images by content hash so it can find a moved
file and notice a changed one; hashing streams in 1 MiB chunks so a large
DICOM never has to sit in memory just to be hashed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from spinegui.core.errors import ImageLoadError

HASH_CHUNK_BYTES = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes, read in 1 MiB chunks."""
    path = Path(path)
    digest = hashlib.sha256()
    with open_image_file(path) as f:
        try:
            while chunk := f.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        except OSError as exc:
            raise read_failed(path, exc) from exc
    return digest.hexdigest()


def open_image_file(path: Path) -> BinaryIO:
    """Open for reading, turning every OS failure into an ImageLoadError."""
    if path.is_dir():
        raise ImageLoadError(
            f"'{path}' is a folder, not an image file.",
            "Choose one of the image files inside it.",
        )
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise ImageLoadError(
            f"Image file '{path}' does not exist.",
            "Check the path; the file may have been moved, renamed or deleted.",
        ) from exc
    except PermissionError as exc:
        raise ImageLoadError(
            f"No permission to read image file '{path}'.",
            "Ask the owner of the file for read access, or copy it somewhere you can read.",
        ) from exc
    except OSError as exc:
        raise read_failed(path, exc) from exc


def read_all(f: BinaryIO, path: Path) -> bytes:
    """The whole file as one bytes object (one read, one allocation).

    ``bytes`` rather than ``bytearray`` because ``io.BytesIO`` shares a bytes
    buffer without copying, which keeps a large DICOM to a single copy.
    """
    try:
        f.seek(0)
        return f.read()
    except MemoryError as exc:
        raise out_of_memory(path) from exc
    except OSError as exc:
        raise read_failed(path, exc) from exc


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of bytes already in memory, fed in the same chunks as file_sha256."""
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), HASH_CHUNK_BYTES):
        digest.update(view[start : start + HASH_CHUNK_BYTES])
    return digest.hexdigest()


def read_failed(path: Path, exc: OSError) -> ImageLoadError:
    reason = exc.strerror or str(exc)
    return ImageLoadError(
        f"Could not read image file '{path}': {reason}.",
        "Check that the disk or network share is available and try again.",
    )


def out_of_memory(path: Path) -> ImageLoadError:
    return ImageLoadError(
        f"Not enough memory to load image file '{path}'.",
        "Close other images or programs and try again.",
    )
