"""SQLite connections, transactions and error wording for the project store.

Durability choice: WAL journal with ``synchronous=FULL``. In WAL mode FULL
makes every COMMIT fsync the write-ahead log before it returns, so an edit the
GUI has reported as saved survives a crash of the process *and* a power cut.
(``NORMAL`` would survive only the process crash: the last commits could
vanish on power loss.) WAL also lets the training process read while the GUI
writes. ``fullfsync`` asks macOS for a real flush of the drive cache and is
ignored elsewhere.

Every write is one explicit ``BEGIN IMMEDIATE`` transaction: the write lock is
taken up front, so two writers queue on ``busy_timeout`` instead of
deadlocking when a read lock would have to be upgraded, and no lock is held
between calls. Connections run in autocommit mode (``isolation_level=None``)
so the sqlite3 module never opens a transaction behind our back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from spinegui.core.errors import StoreError

BUSY_TIMEOUT_S = 5.0


def connect(db_path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A configured connection; refuses to conjure an empty file unless ``create``."""
    uri = f"{db_path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
    conn = None
    with translate_errors("open the project", db_path):
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_S,
                # One connection per thread is the rule; closing from the owning
                # Project on another thread is the only cross-thread use.
                check_same_thread=False,
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA fullfsync = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except BaseException:
            if conn is not None:
                conn.close()
            raise
    if str(mode).lower() != "wal":
        conn.close()
        raise StoreError(
            f"The project database {db_path} cannot be switched to safe-write (WAL) mode.",
            "Move the project to a local disk; network drives often do not support it.",
        )
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection, action: str, db_path: Path) -> Iterator[None]:
    """One atomic, durable write; rolled back completely on any error."""
    with translate_errors(action, db_path):
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (e.g. disk full); don't mask
            # the original error with "no transaction is active".
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


@contextmanager
def translate_errors(action: str, db_path: Path) -> Iterator[None]:
    """Turn environment failures from SQLite into StoreErrors people can act on.

    Integrity and programming errors are left alone: they mean a bug in
    spinegui, not something the user can fix.
    """
    try:
        yield
    except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise
    except sqlite3.Error as exc:
        raise describe(exc, action, db_path) from exc
    except UnicodeDecodeError as exc:  # text that is not text: damaged pages
        raise damaged(db_path) from exc


def describe(exc: sqlite3.Error, action: str, db_path: Path) -> StoreError:
    text = str(exc).lower()
    if "full" in text:
        return StoreError(
            f"Could not {action}: the disk is full.",
            "Free some disk space and try again; everything saved before is intact.",
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"Could not {action}: the project folder {db_path.parent} is read-only.",
            "Copy the project to a folder you can write to, or ask for write permission.",
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return damaged(db_path)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"Could not {action}: another program is busy writing to the project.",
            "Wait a moment and try again; close other spinegui windows using this project.",
        )
    if "unable to open" in text:
        return StoreError(
            f"Could not {action}: the database {db_path} cannot be opened.",
            "Check that the folder exists and that you are allowed to write to it.",
        )
    return StoreError(
        f"Could not {action}: the database reported '{exc}'.",
        "Check the disk the project is on; if the problem persists, restore from a backup.",
    )


@contextmanager
def decoding(db_path: Path) -> Iterator[None]:
    """Decode rows; in a damaged file a row can hold anything, so any decoding
    failure (a NULL id, text where a number belongs, a cut blob) says so."""
    try:
        yield
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise damaged(db_path) from exc


def damaged(db_path: Path) -> StoreError:
    return StoreError(
        f"The project database {db_path} is damaged and cannot be read.",
        "Restore project.sqlite from a backup; spinegui will not overwrite it.",
    )


def utc_now() -> str:
    """The timestamp format of every stored time: UTC, ISO 8601, sorts as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def local_time(stamp: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str | None:
    """A stored time as the reader's clock shows it ('2025-03-01 14:05'); None stays None.

    A stamp without a zone is taken as UTC, as stored; one that is no time at
    all is given back as it is rather than hidden.
    """
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime(fmt)


def unknown_image(image_id) -> StoreError:
    return StoreError(
        f"There is no image {image_id} in this project.",
        "It may belong to another project; reload the image list.",
    )


def unknown_model(version) -> StoreError:
    return StoreError(
        f"There is no model {version!r} in this project.",
        "Register the checkpoint with add_model first, or pick one from the model list.",
    )
