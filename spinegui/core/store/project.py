"""A project: one folder, one ``project.sqlite``, checkpoints under ``models/``.

Made for two kinds of callers at once: the Qt GUI, which commits one small
edit per mouse release from its own thread (and inference results from a
worker thread), and the retraining child process, which reads the same file
concurrently. Hence one SQLite connection per thread, per process; every call
is its own short transaction; nothing is cached that another process could
change, and no lock outlives a call.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import math
import re
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spinegui.core.errors import ImageLoadError, SpineguiError, StoreError
from spinegui.core.store import schema
from spinegui.core.store.annotations import AnnotationsMixin
from spinegui.core.store.db import (
    connect,
    damaged,
    decoding,
    translate_errors,
    unknown_image,
    utc_now,
    write_transaction,
)
from spinegui.core.store.dicom import DicomMixin
from spinegui.core.store.files import file_sha256, relative_inside
from spinegui.core.store.readings import ReadingsMixin
from spinegui.core.store.records import FileProblem, ImageRecord
from spinegui.core.store.training import TrainingMixin
from spinegui.core.templates import DEFAULT_TEMPLATE, SpineTemplate, get_template

DB_NAME = "project.sqlite"
MODELS_DIR = "models"

_IMAGE_SELECT = """
    SELECT i.id, i.abs_path, i.rel_path, i.sha256, i.width, i.height, i.spacing_row,
           i.spacing_col, i.bit_depth, i.template, i.added, i.status, i.reviewer,
           i.reviewed_at, i.split, g.source
    FROM images i LEFT JOIN ground_truth g ON g.image_id = i.id
"""
_SHA256 = re.compile(r"[0-9a-f]{64}")


def current_user() -> str:
    """The OS login name for the history; never fails, the edit matters more."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


class Project(AnnotationsMixin, TrainingMixin, DicomMixin, ReadingsMixin):
    """An open project. Use ``Project.create`` or ``Project.open``; close when done."""

    def __init__(self, folder: Path, *, user: str | None = None) -> None:
        self.folder = folder
        self.db_path = folder / DB_NAME
        self.user = user or current_user()
        self._template: SpineTemplate | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._may_create = False  # only Project.create may conjure a new file

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def create(
        cls, folder: str | Path, template: str | SpineTemplate = DEFAULT_TEMPLATE, *, user=None
    ) -> Project:
        """Make a new project in ``folder`` (created if missing, may hold other files)."""
        t = get_template(template)
        folder = Path(folder).expanduser().resolve()
        db_path = folder / DB_NAME
        if db_path.exists():
            raise StoreError(
                f"{folder} already holds a spinegui project.",
                "Open it instead, or choose another folder for the new project.",
            )
        try:
            (folder / MODELS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Could not create the project folder {folder}: {exc.strerror}.",
                "Choose a folder you are allowed to write to.",
            ) from exc
        project = cls(folder, user=user)
        project._may_create = True
        try:
            with project._write("create the project") as conn:
                conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
                schema.migrate(conn, 0)
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("template", t.name), ("created", utc_now()), ("created_by", project.user)],
                )
        except BaseException:
            project.close()
            # Leave nothing half-made behind that would block a second attempt.
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    db_path.with_name(DB_NAME + suffix).unlink()
            raise
        project._may_create = False
        project._template = t
        return project

    @classmethod
    def open(cls, folder: str | Path, *, user: str | None = None) -> Project:
        """Open an existing project, upgrading an older database in one transaction."""
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise StoreError(
                f"The project folder {folder} does not exist.",
                "Choose an existing project folder, or create a new project.",
            )
        if not (folder / DB_NAME).is_file():
            raise StoreError(
                f"{folder} is not a spinegui project: it has no {DB_NAME}.",
                f"Choose the folder that contains {DB_NAME}, or create a new project there.",
            )
        project = cls(folder, user=user)
        project._check_file_header()
        try:
            project._check_and_migrate()
            project._template = get_template(project._meta("template"))
        except BaseException:
            project.close()
            raise
        return project

    def close(self) -> None:
        """Close every connection this object opened (stop worker threads first)."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def template(self) -> SpineTemplate:
        assert self._template is not None
        return self._template

    @property
    def models_dir(self) -> Path:
        return self.folder / MODELS_DIR

    @property
    def schema_version(self) -> int:
        with translate_errors("read the project", self.db_path):
            return int(self._db().execute("PRAGMA user_version").fetchone()[0])

    def data_version(self) -> int:
        """A number that changes when another connection (window, process) commits.

        SQLite's ``PRAGMA data_version``: cheap enough to poll on focus or on a
        timer; when it changes, ``changed_images`` says what to reload. Commits
        made through this object do not change it.
        """
        with translate_errors("check the project for changes", self.db_path):
            return int(self._db().execute("PRAGMA data_version").fetchone()[0])

    def last_edit_id(self) -> int:
        """Id of the newest history row (0 for none): a bookmark for ``changed_images``."""
        rows = self._query("read the edit history", "SELECT max(id) FROM edits")
        return int(rows[0][0] or 0)

    def changed_images(self, since_edit_id: int) -> set[int]:
        """Images with history rows after ``since_edit_id``: what another window changed."""
        rows = self._query(
            "read the edit history",
            "SELECT DISTINCT image_id FROM edits WHERE id > ? AND image_id IS NOT NULL",
            (int(since_edit_id),),
        )
        return {int(r[0]) for r in rows}

    def durability(self) -> tuple[str, str]:
        """(journal mode, synchronous level) of this thread's connection: ("wal", "full").

        The power-cut promise rests on these two settings (see ``db.py``); a
        kill test cannot tell FULL from OFF, so tests assert them directly.
        """
        with translate_errors("read the project settings", self.db_path):
            conn = self._db()
            journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        return journal, {0: "off", 1: "normal", 2: "full", 3: "extra"}.get(level, str(level))

    def check_integrity(self) -> list[str]:
        """SQLite's own consistency check; an empty list means the file is sound."""
        rows = self._query("check the project database", "PRAGMA integrity_check")
        found = [str(r[0]) for r in rows]
        return [] if found == ["ok"] else found

    # -------------------------------------------------------------------- images

    def add_image(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        sha256: str,
        spacing_mm: tuple[float, float] | None = None,
        bit_depth: int = 8,
        template: str | SpineTemplate | None = None,
    ) -> int:
        """Register an X-ray the caller has already measured and hashed; returns its id."""
        abs_path = Path(path).expanduser().resolve()
        _check_storable_name(abs_path)
        digest = _check_sha256(sha256)
        t = get_template(template or self.template).name
        if int(width) <= 0 or int(height) <= 0:
            raise StoreError(
                f"{abs_path.name} has an impossible size {width} x {height}.",
                "Check that the file is a complete image.",
            )
        spacing = _check_spacing(spacing_mm, abs_path)
        size, mtime_ns = _file_stat(abs_path)
        with self._write("add the image") as conn:
            dup = conn.execute(
                "SELECT id, abs_path FROM images WHERE sha256 = ?", (digest,)
            ).fetchone()
            if dup is not None:
                raise StoreError(
                    f"{abs_path.name} is already in the project as image {dup[0]} ({dup[1]}).",
                    "Each X-ray is added once, so it cannot end up in both training and "
                    "validation.",
                )
            cur = conn.execute(
                "INSERT INTO images (abs_path, rel_path, sha256, width, height, spacing_row, "
                "spacing_col, bit_depth, template, added, file_size, file_mtime_ns) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(abs_path),
                    relative_inside(abs_path, self.folder),
                    digest,
                    int(width),
                    int(height),
                    *(spacing or (None, None)),
                    int(bit_depth),
                    t,
                    utc_now(),
                    size,
                    mtime_ns,
                ),
            )
            image_id = int(cur.lastrowid)
            self._log(conn, image_id, "add_image", after={"path": str(abs_path), "sha256": digest})
        return image_id

    def images(self) -> list[ImageRecord]:
        rows = self._query("list the images", _IMAGE_SELECT + " ORDER BY i.id")
        return [self._image_record(r) for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        rows = self._query("read the image", _IMAGE_SELECT + " WHERE i.id = ?", (int(image_id),))
        if not rows:
            raise unknown_image(image_id)
        return self._image_record(rows[0])

    def find_image_by_hash(self, sha256: str) -> ImageRecord | None:
        digest = _check_sha256(sha256)
        rows = self._query("find the image", _IMAGE_SELECT + " WHERE i.sha256 = ?", (digest,))
        return self._image_record(rows[0]) if rows else None

    def check_files(
        self,
        image_ids: Iterable[int] | None = None,
        *,
        hasher: Callable[[Path], str] = file_sha256,
        full: bool = False,
    ) -> list[FileProblem]:
        """Find image files that are gone, unreadable or whose content changed since added.

        Fast by default: a file whose size and modification time are what they
        were when it last matched its hash is trusted without reading it (as
        git and rsync do); any other file is hashed, and a match refreshes the
        remembered size and time. ``full`` hashes every file. Hashing runs
        outside any transaction: it can take minutes on a large project, and
        the database must stay writable meanwhile.
        """
        wanted = None if image_ids is None else {int(i) for i in image_ids}
        rows = self._query("read the file sizes", "SELECT id, file_size, file_mtime_ns FROM images")
        known = {r[0]: (r[1], r[2]) for r in rows}
        problems, confirmed = [], []
        for rec in self.images():
            if wanted is not None and rec.id not in wanted:
                continue
            seen = _file_stat(rec.path)
            if seen == (None, None):
                problems.append(FileProblem(rec.id, "missing", rec.path, f"{rec.path} is missing."))
                continue
            if not full and seen == known.get(rec.id):
                continue
            try:
                digest = hasher(rec.path)
            except (SpineguiError, OSError) as exc:
                reason = exc.message if isinstance(exc, SpineguiError) else exc.strerror
                problems.append(FileProblem(rec.id, "unreadable", rec.path, str(reason)))
                continue
            if digest != rec.sha256:
                problems.append(
                    FileProblem(
                        rec.id,
                        "changed",
                        rec.path,
                        f"{rec.path} no longer has the content that was annotated.",
                    )
                )
            elif _file_stat(rec.path) == seen:  # not rewritten while it was hashed
                confirmed.append((*seen, rec.id))
        if confirmed:
            with self._write("remember the checked files") as conn:
                conn.executemany(
                    "UPDATE images SET file_size = ?, file_mtime_ns = ? WHERE id = ?", confirmed
                )
        return problems

    def relocate(
        self, image_id: int, new_path: str | Path, *, hasher: Callable[[Path], str] = file_sha256
    ) -> None:
        """Point an image at a moved file, only if it is byte-for-byte the same X-ray."""
        rec = self.image(image_id)
        path = Path(new_path).expanduser().resolve()
        _check_storable_name(path)
        try:
            digest = hasher(path)
        except OSError as exc:
            raise StoreError(
                f"Could not read {path}: {exc.strerror or exc}.",
                "Choose the file again; it may have moved or be unreadable.",
            ) from exc
        if digest != rec.sha256:
            raise StoreError(
                f"{path.name} is not the X-ray that image {image_id} was annotated on.",
                f"Choose the file with the original content ({rec.path.name} when added).",
            )
        with self._write("record the new file location") as conn:
            conn.execute(
                "UPDATE images SET abs_path = ?, rel_path = ? WHERE id = ?",
                (str(path), relative_inside(path, self.folder), rec.id),
            )
            self._log(conn, rec.id, "relocate", before=rec.abs_path, after=str(path))

    # ------------------------------------------------------------------ plumbing

    def _db(self) -> sqlite3.Connection:
        """This thread's connection; sqlite3 connections must not be shared."""
        if self._closed:
            raise StoreError("The project has been closed.", "Open the project again.")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.db_path, create=self._may_create)
            with self._lock:
                if self._closed:
                    conn.close()
                    raise StoreError("The project has been closed.", "Open the project again.")
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        conn = self._db()
        with write_transaction(conn, action, self.db_path):
            yield conn

    def _query(self, action: str, sql: str, params: tuple = ()) -> list[tuple]:
        with translate_errors(action, self.db_path):
            return self._db().execute(sql, params).fetchall()

    def setting(self, key: str) -> str | None:
        """A per-project preference saved with ``set_setting`` (None when never set).

        Kept in the project file, not in the user's settings, so it travels with
        the project to another computer.
        """
        rows = self._query(
            "read a project setting", "SELECT value FROM meta WHERE key = ?", (f"setting.{key}",)
        )
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str) -> None:
        with self._write("save a project setting") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"setting.{key}", str(value)),
            )

    def _meta(self, key: str) -> str:
        rows = self._query("read the project", "SELECT value FROM meta WHERE key = ?", (key,))
        if not rows:
            raise StoreError(
                f"The project database {self.db_path} lacks its {key!r} setting.",
                "Restore project.sqlite from a backup.",
            )
        return rows[0][0]

    def _check_file_header(self) -> None:
        """Refuse files that are no spinegui project before SQLite opens (and so
        changes) them: switching to WAL rewrites the header of someone else's
        database, and of an empty file. A file whose header is still in its
        write-ahead log (a crash right after creation) is left to SQLite."""
        try:
            with open(self.db_path, "rb") as f:
                head = f.read(100)
            wal = self.db_path.with_name(DB_NAME + "-wal")
            pending = wal.is_file() and wal.stat().st_size > 0
        except OSError as exc:
            raise StoreError(
                f"Could not read the project database {self.db_path}: {exc.strerror or exc}.",
                "Check that the folder is available and that you may read it.",
            ) from exc
        if not head and not pending:
            raise _never_finished(self.db_path)
        if head and not head.startswith(b"SQLite format 3\x00"):
            raise damaged(self.db_path)
        app_id = int.from_bytes(head[68:72], "big") if len(head) >= 72 else 0
        if len(head) == 100 and app_id != schema.APPLICATION_ID and not pending:
            raise _not_ours(self.db_path)

    def _check_and_migrate(self) -> None:
        conn = self._db()
        with translate_errors("open the project", self.db_path):
            self._check_header(conn)
            if self._header(conn)[1] < schema.schema_version():
                with self._write("upgrade the project database"):
                    # Re-read under the write lock: another process may have won.
                    version = self._check_header(conn)
                    if version < schema.schema_version():
                        schema.migrate(conn, version)

    @staticmethod
    def _header(conn: sqlite3.Connection) -> tuple[int, int]:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app_id), int(version)

    def _check_header(self, conn: sqlite3.Connection) -> int:
        app_id, version = self._header(conn)
        if app_id != schema.APPLICATION_ID:
            tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
            if app_id == 0 and version == 0 and tables == 0:
                raise _never_finished(self.db_path)
            raise _not_ours(self.db_path)
        if version < 0:
            raise StoreError(
                f"{self.db_path} is not a spinegui project database (its version is {version}).",
                "Restore project.sqlite from a backup; spinegui will not overwrite it.",
            )
        if version > schema.schema_version():
            raise StoreError(
                f"The project {self.folder} was saved by a newer spinegui (database version "
                f"{version}; this one reads up to {schema.schema_version()}).",
                "Update spinegui to open it; this version leaves the file untouched.",
            )
        return version

    def _log(
        self,
        conn: sqlite3.Connection,
        image_id: int | None,
        kind: str,
        *,
        vertebra: int | None = None,
        corner: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        conn.execute(
            "INSERT INTO edits (at, user, image_id, kind, vertebra, corner, before, after) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (
                utc_now(),
                self.user,
                image_id,
                kind,
                vertebra,
                corner,
                json.dumps(before),
                json.dumps(after),
            ),
        )

    def _image_record(self, row: tuple) -> ImageRecord:
        with decoding(self.db_path):
            return self._decode_image(row)

    def _decode_image(self, row: tuple) -> ImageRecord:
        (iid, abs_path, rel, sha, w, h, srow, scol, bits, tmpl, added, status, reviewer,
         reviewed_at, split, gt_source) = row  # fmt: skip
        if not all(isinstance(v, int) for v in (iid, w, h, bits)) or not isinstance(abs_path, str):
            raise TypeError("an image row of the wrong types")
        return ImageRecord(
            id=iid,
            path=self.folder / rel if rel is not None else Path(abs_path),
            abs_path=abs_path,
            rel_path=rel,
            sha256=sha,
            width=w,
            height=h,
            spacing_mm=None if srow is None else (srow, scol),
            bit_depth=bits,
            template=tmpl,
            added=added,
            status=status,
            reviewer=reviewer,
            reviewed_at=reviewed_at,
            split=split,
            gt_source=gt_source,
        )


def _never_finished(db_path: Path) -> StoreError:
    return StoreError(
        f"The project database {db_path} is empty: creating the project never finished.",
        f"Delete {DB_NAME} and create the project again; it held no annotations.",
    )


def _not_ours(db_path: Path) -> StoreError:
    return StoreError(
        f"{db_path} is not a spinegui project database.",
        "Choose a folder created by spinegui, or move that file out of the way.",
    )


def _file_stat(path: Path) -> tuple[int | None, int | None]:
    """(size, mtime in ns) of a regular file, (None, None) when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None, None
    if not stat.S_ISREG(st.st_mode):
        return None, None
    return st.st_size, st.st_mtime_ns


def _check_storable_name(path: Path) -> None:
    """The database keeps paths as UTF-8 text; a name that is not cannot be stored."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
        raise ImageLoadError(
            f"The file name {shown} is not valid UTF-8 text, so a project cannot record it.",
            "Rename the file (or its folder) using ordinary letters, then add it again.",
        ) from None


def _check_sha256(sha256: str) -> str:
    digest = str(sha256).strip().lower()
    if not _SHA256.fullmatch(digest):
        raise StoreError(
            f"{sha256!r} is not a SHA-256 hash.",
            "Pass the 64-character hex digest of the image file.",
        )
    return digest


def _check_spacing(spacing_mm, path: Path) -> tuple[float, float] | None:
    if spacing_mm is None:
        return None
    try:
        row, col = (float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        row = col = math.nan
    if not (math.isfinite(row) and math.isfinite(col) and row > 0 and col > 0):
        raise StoreError(
            f"{path.name} has an impossible pixel spacing {spacing_mm!r}.",
            "Give (row, column) spacing in millimetres, both positive, or none.",
        )
    return row, col
