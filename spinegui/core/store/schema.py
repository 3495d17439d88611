"""The database layout and the way old project files are brought up to date.

``MIGRATIONS[n]`` turns a version-n database into version n+1; the schema
version lives in ``PRAGMA user_version`` and ``SCHEMA_VERSION`` is simply the
number of migrations. Migrations only ever get appended: a released one is
never edited, because project files made with it exist on users' disks. All
pending migrations run inside the caller's single write transaction, so a
failure (or a crash) leaves the file at its old version, untouched.

``PRAGMA application_id`` marks a file as a spinegui project, so opening some
other SQLite file is refused instead of being "migrated" into a project.

Landmarks are stored as little-endian float64 blobs of shape (V,4,2), V taken
from the image's template: exact round-trips, compact, and cheap to decode.
The edit history stores before/after values as JSON instead, because it is an
audit trail people and scripts should be able to read without numpy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x53504E47  # "SPNG"

_V1 = [
    """CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE images (
        id          INTEGER PRIMARY KEY,
        abs_path    TEXT NOT NULL,
        rel_path    TEXT,
        sha256      TEXT NOT NULL UNIQUE,
        width       INTEGER NOT NULL CHECK (width > 0),
        height      INTEGER NOT NULL CHECK (height > 0),
        spacing_row REAL CHECK (spacing_row IS NULL OR spacing_row > 0),
        spacing_col REAL CHECK (spacing_col IS NULL OR spacing_col > 0),
        bit_depth   INTEGER NOT NULL,
        template    TEXT NOT NULL,
        added       TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'not_started'
                    CHECK (status IN ('not_started', 'in_review', 'reviewed')),
        reviewer    TEXT,
        reviewed_at TEXT,
        split       TEXT CHECK (split IS NULL OR split IN ('train', 'val'))
    )""",
    # The split lock is enforced here too, so a script writing SQL directly
    # cannot leak validation images into training either.
    """CREATE TRIGGER images_split_locked BEFORE UPDATE OF split ON images
        WHEN OLD.split IS NOT NULL AND NEW.split IS NOT OLD.split
        BEGIN SELECT RAISE(ABORT, 'split assignment is locked'); END""",
    """CREATE TABLE ground_truth (
        image_id INTEGER PRIMARY KEY REFERENCES images(id),
        points   BLOB NOT NULL,
        source   TEXT NOT NULL CHECK (source IN ('import', 'manual', 'accepted_prediction')),
        updated  TEXT NOT NULL
    )""",
    """CREATE TABLE models (
        version TEXT PRIMARY KEY,
        path    TEXT NOT NULL,
        card    TEXT NOT NULL,
        created TEXT NOT NULL,
        parent  TEXT REFERENCES models(version),
        active  INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
    )""",
    "CREATE UNIQUE INDEX models_one_active ON models(active) WHERE active = 1",
    """CREATE TABLE predictions (
        image_id      INTEGER NOT NULL REFERENCES images(id),
        model_version TEXT NOT NULL REFERENCES models(version),
        points        BLOB NOT NULL,
        spread        BLOB,
        created       TEXT NOT NULL,
        PRIMARY KEY (image_id, model_version)
    )""",
    """CREATE TABLE edits (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        user     TEXT NOT NULL,
        image_id INTEGER REFERENCES images(id),
        kind     TEXT NOT NULL,
        vertebra INTEGER,
        corner   INTEGER,
        before   TEXT,
        after    TEXT
    )""",
    "CREATE INDEX edits_by_image ON edits(image_id, id)",
    """CREATE TRIGGER edits_no_update BEFORE UPDATE ON edits
        BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END""",
    """CREATE TRIGGER edits_no_delete BEFORE DELETE ON edits
        BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END""",
]


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Size and modification time of each file when it last matched its hash.

    The fast half of the identity check before training or export: a file
    whose size and mtime are unchanged is trusted without re-reading it; any
    difference costs one hash, which then refreshes these two columns.
    """
    conn.execute("ALTER TABLE images ADD COLUMN file_size INTEGER")
    conn.execute("ALTER TABLE images ADD COLUMN file_mtime_ns INTEGER")


# Version 3: where an image came from in a PACS (study/series/instance UIDs and
# the patient/study fields a clinician recognises), and the DICOM reports made
# for images (Structured Reports and secondary captures): those waiting to be
# sent, those sent, and those found on the PACS when pulling.
_V3 = [
    """CREATE TABLE dicom_sources (
        image_id          INTEGER PRIMARY KEY REFERENCES images(id),
        study_uid         TEXT NOT NULL,
        series_uid        TEXT NOT NULL,
        sop_uid           TEXT NOT NULL UNIQUE,
        sop_class_uid     TEXT NOT NULL,
        patient_id        TEXT,
        patient_name      TEXT,
        study_date        TEXT,
        accession         TEXT,
        modality          TEXT,
        study_description TEXT,
        server            TEXT
    )""",
    """CREATE TABLE dicom_reports (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id        INTEGER NOT NULL REFERENCES images(id),
        kind            TEXT NOT NULL CHECK (kind IN ('sr', 'capture')),
        study_uid       TEXT NOT NULL,
        series_uid      TEXT NOT NULL,
        sop_uid         TEXT NOT NULL UNIQUE,
        sop_class_uid   TEXT NOT NULL,
        instance_number INTEGER NOT NULL,
        content_hash    TEXT NOT NULL,
        file            TEXT,
        state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'found', 'replaced')),
        created         TEXT NOT NULL,
        sent_at         TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    )""",
    "CREATE INDEX dicom_reports_by_image ON dicom_reports(image_id, kind, id)",
]


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    for statement in _V3:
        conn.execute(statement)


# Version 4: what a reader decides besides landmarks (the review window).
_V4 = [
    # End vertebrae a reader chose for the Cobb angles of an image, as JSON
    # [[upper, lower], ...] of template indices; no row: the AASCE rules choose.
    """CREATE TABLE curve_ends (
        image_id INTEGER PRIMARY KEY REFERENCES images(id),
        pairs    TEXT NOT NULL,
        updated  TEXT NOT NULL
    )""",
    # Rulers drawn over something of known length: millimetres for PNG/JPEG.
    # image_id NULL is the project-wide ruler (at most one).
    """CREATE TABLE calibrations (
        id        INTEGER PRIMARY KEY,
        image_id  INTEGER UNIQUE REFERENCES images(id),
        mm_per_px REAL NOT NULL CHECK (mm_per_px > 0),
        length_mm REAL NOT NULL CHECK (length_mm > 0),
        line      TEXT NOT NULL,
        updated   TEXT NOT NULL
    )""",
    """CREATE UNIQUE INDEX calibrations_one_for_project
        ON calibrations ((image_id IS NULL)) WHERE image_id IS NULL""",
]


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    for statement in _V4:
        conn.execute(statement)


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Model versions handed out but not registered yet (a retrain in progress).

    Reserving the name in the database, in one transaction, is what keeps two
    retrains started from two windows from both choosing ``retrain-01`` and
    writing the same checkpoint file.
    """
    conn.execute(
        """CREATE TABLE model_reservations (
            version  TEXT PRIMARY KEY,
            reserved TEXT NOT NULL,
            user     TEXT NOT NULL
        )"""
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
]


def schema_version() -> int:
    """The version this spinegui writes (read at call time so tests can extend it)."""
    return len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, from_version: int) -> int:
    """Apply every pending migration; the caller owns the surrounding transaction."""
    target = schema_version()
    for version in range(from_version, target):
        MIGRATIONS[version](conn)
    conn.execute(f"PRAGMA user_version = {int(target)}")
    return target
