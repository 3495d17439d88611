"""Image files on disk as the store sees them: by content hash, never by decoding.

The store identifies an X-ray by the SHA-256 of its file bytes, so a file that
was replaced or edited is noticed instead of silently inheriting annotations
made on other pixels.
"""

from __future__ import annotations

from pathlib import Path

# One hashing function for the whole program: the store must hash exactly as
# the importers do, or check_files() would report every image as changed.
from spinegui.core.imageio import file_sha256

__all__ = ["file_sha256", "relative_inside"]


def relative_inside(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` (POSIX form), or None when it lies outside.

    Stored alongside the absolute path so a project folder that is moved or
    copied to another machine, images inside it, still finds its files.
    """
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return None
