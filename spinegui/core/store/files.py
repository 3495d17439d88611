"""Image files on disk as the store sees them: by content hash, never by decoding.

The store identifies an X-ray by the SHA-256 of its file bytes, so a file that
was replaced or edited is noticed instead of silently inheriting annotations
made on other pixels. ``spinegui.core.imageio`` must hash the same way (raw
file bytes) for ``check_files`` and ``relocate`` to agree with ``add_image``;
both accept another ``hasher`` if that ever changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Lower-case hex SHA-256 of the file's bytes, read in chunks to bound memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def relative_inside(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` (POSIX form), or None when it lies outside.

    Stored alongside the absolute path so a project folder that is moved or
    copied to another machine, images inside it, still finds its files.
    """
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return None
