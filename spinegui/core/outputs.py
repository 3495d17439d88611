"""Writing the user's output files without ever losing one of theirs.

Three rules every command, exporter and dialog follows, and the reasons:

- **Nothing is replaced unless asked.** An existing file in the way is named
  in an ``OutputError``; ``overwrite=True`` (``--overwrite``, or a save dialog
  that already asked) replaces it. An X-ray being read is never replaced,
  asked or not.
- **Nothing is half written.** A file is written to a temporary name beside
  its target, flushed to disk and renamed over it, so a full disk, a crash or a
  power cut leaves the old file or the new one, never a torn one. A folder of
  outputs is built in a staging folder first and moved into place file by
  file only once all of it exists.
- **Inputs are off limits.** ``protected_folders`` names the folders of the
  images a command reads (and the root of an AASCE dataset they come from);
  commands refuse to write there, because a dataset's own ``angles.csv`` or a
  neighbouring X-ray is not something an export should touch.

A written file or folder gets the permissions a plain ``open`` or ``mkdir``
would have given it (the user's umask; a replaced file keeps its own), not
the owner-only ones of the temporary name it was built under: a report
saved to a shared folder must be readable by the colleague it is for.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from spinegui.core.errors import OutputError

SHOWN_NAMES = 5


def fsync_dir(directory: Path) -> None:
    """Make a rename durable; not possible (nor needed) on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_failed(path: Path, exc: OSError) -> OutputError:
    """The OSError of a write, said so a person knows what to do; nothing was written."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(
            f"Could not write {path}: the disk is full. Nothing was written.",
            "Free some disk space, or choose another disk, and try again.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(
            f"Could not write {path}: no permission to write there.",
            "Choose a folder you are allowed to write to.",
        )
    return OutputError(
        f"Could not write {path}: {exc.strerror or exc}. Nothing was written.",
        "Check the disk and the folder, then try again.",
    )


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, then put it back at once
    os.umask(mask)
    return mask


def plain_mode(path: Path, *, folder: bool = False) -> int:
    """The mode ``path`` gets: its own when it exists, else what the umask gives a new one."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return (0o777 if folder else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name beside ``path`` that becomes ``path`` when the block ends well.

    The caller has already decided that replacing ``path`` is fine (see
    ``check_file_target``). The file is flushed to disk before the rename, so
    a crash or power cut leaves the old file or the new one; any error,
    including a full disk while writing or flushing, removes the temporary
    file and leaves ``path`` as it was. For writers that want a file name (Qt's
    image and PDF writers, OpenCV); ``atomic_writer`` gives a file object.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent
        )
        os.close(fd)
    except OSError as exc:
        raise write_failed(path, exc) from exc
    tmp = Path(name)
    try:
        os.chmod(tmp, plain_mode(path))  # mkstemp's owner-only mode is for the temp name only
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_failed(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "w", **open_kw) -> Iterator[IO]:
    """A file object whose content becomes ``path`` all at once (see ``atomic_path``)."""
    if "b" not in mode:
        open_kw.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kw) as f:
        yield f


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path`` all at once or not at all (see ``atomic_writer``)."""
    with atomic_writer(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


def check_file_target(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
    protected: Iterable[Path] = (),
) -> Path:
    """Refuse, before any work is done, a file output that would lose something.

    ``inputs`` are files being read (never replaced, even with ``overwrite``);
    ``protected`` are folders nothing may be written into.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            f"{path} is a folder; a file name is needed here.",
            f"Give a file name inside it, e.g. {path / 'landmarks'}.",
        )
    if not path.parent.is_dir():
        raise OutputError(
            f"Cannot write {path}: the folder {path.parent} does not exist.",
            "Create the folder first, or choose an existing one.",
        )
    check_targets([path], overwrite=overwrite, inputs=inputs, protected=protected)
    return path


def check_targets(
    targets: Iterable[Path],
    *,
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
    protected: Iterable[Path] = (),
) -> None:
    """Refuse when a target is an input, lies in a protected folder, or exists unasked."""
    targets = [Path(t) for t in targets]
    input_set = {_resolved(p) for p in inputs}
    guarded = {_resolved(p) for p in protected}
    for t in targets:
        where = _resolved(t)
        if where in input_set:
            raise OutputError(
                f"Refusing to write {t}: it is one of the images being read.",
                "Choose another output name or folder.",
            )
        if t.is_dir():
            raise OutputError(
                f"Cannot write {t}: a folder of that name is in the way.",
                "Choose another output name or folder.",
            )
        inside = where.parent if where.parent in guarded else None
        if inside is not None:
            raise OutputError(
                f"Refusing to write {t}: {inside} holds the X-rays or dataset being read, "
                "and outputs never go there.",
                "Choose an output folder outside the image and dataset folders.",
            )
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not overwrite:
        names = ", ".join(str(t) for t in existing[:SHOWN_NAMES])
        more = f" and {len(existing) - SHOWN_NAMES} more" if len(existing) > SHOWN_NAMES else ""
        raise OutputError(
            f"{len(existing)} file(s) already exist and would be replaced: {names}{more}.",
            "Nothing was written. Choose another output, or add --overwrite to replace them.",
        )


def protected_folders(images: Iterable[Path]) -> list[Path]:
    """Folders outputs must not be written into: each image's folder, and an AASCE dataset's.

    Only files directly in a protected folder are refused, so an ``exports``
    subfolder beside the X-rays is fine. An image of an AASCE dataset
    (``ROOT/data/SPLIT/x.jpg``) protects the dataset's root and every split
    folder under ``data/`` and ``labels/``, because its labels live there.
    """
    found: dict[Path, None] = {}
    for image in images:
        folder = _resolved(Path(image).parent)
        found[folder] = None
        root = folder.parent.parent
        if folder.parent.name == "data" and (root / "labels").is_dir():
            for part in (root / "data", root / "labels"):
                found[part] = None
                found.update(dict.fromkeys(p for p in part.iterdir() if p.is_dir()))
            found[root] = None
    return list(found)


def _resolved(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()


@contextlib.contextmanager
def staged_folder(
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[Path] = (),
    protected: Iterable[Path] = (),
) -> Iterator[Path]:
    """A fresh staging folder whose files move into ``out_dir`` when the block ends well.

    Built beside (or, when ``out_dir`` exists, inside) the target so every move
    is a rename on one disk. A new ``out_dir`` appears in one rename; into an
    existing one each file moves atomically, after every collision was checked
    (see ``check_targets``). An error anywhere removes the staging folder and
    leaves ``out_dir`` exactly as it was.
    """
    out = Path(out_dir)
    inputs = list(inputs)
    protected = list(protected)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"{out} is a file; a folder is needed here.",
            "Choose a folder name (it is created when missing).",
        )
    exists = out.is_dir()
    if not exists:
        check_targets([out], protected=protected)
    try:
        base = out if exists else out.parent
        base.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=base))
        if not exists:  # the staging folder becomes the output folder itself
            os.chmod(stage, plain_mode(out, folder=True))
    except OSError as exc:
        raise write_failed(out, exc) from exc
    try:
        try:
            yield stage
            files = sorted(p for p in stage.rglob("*") if not p.is_dir())
            for f in files:
                with open(f, "rb+") as handle:
                    os.fsync(handle.fileno())
            if not exists:
                os.rename(stage, out)
                fsync_dir(out.parent)
                return
            targets = [out / f.relative_to(stage) for f in files]
            check_targets(targets, overwrite=overwrite, inputs=inputs, protected=protected)
            for f, target in zip(files, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, target)
            for folder in {t.parent for t in targets}:
                fsync_dir(folder)
        except OSError as exc:
            raise write_failed(out, exc) from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
