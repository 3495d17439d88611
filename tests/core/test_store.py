"""The project store: API behaviour, validation, error wording, migrations."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import threading

import numpy as np
import pytest

from spinegui.core.errors import LandmarkError, StoreError
from spinegui.core.store import DB_NAME, Project, file_sha256, schema
from spinegui.core.store import db as store_db


def spine(n_vertebrae: int = 17, shift: float = 0.0) -> np.ndarray:
    """Plausible (V,4,2) landmarks: stacked 100 x 40 px boxes."""
    pts = np.zeros((n_vertebrae, 4, 2))
    for v in range(n_vertebrae):
        y = 100.0 + 50.0 * v + shift
        pts[v] = [[100 + shift, y], [200 + shift, y], [100 + shift, y + 40], [200 + shift, y + 40]]
    return pts


def sha(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj", "T1-L5", user="tester") as p:
        yield p


@pytest.fixture
def annotated(project):
    """A project with one image carrying imported ground truth; returns (project, id)."""
    image_id = project.add_image(project.folder / "a.png", width=800, height=1600, sha256=sha(1))
    project.set_ground_truth(image_id, spine(), source="import", kind="import")
    return project, image_id


def raw(project) -> sqlite3.Connection:
    return sqlite3.connect(project.db_path)


# ------------------------------------------------------------------ lifecycle


def test_create_then_open_keeps_template_and_data(tmp_path):
    folder = tmp_path / "new" / "proj"
    with Project.create(folder, "C7-L5") as p:
        image_id = p.add_image(tmp_path / "x.png", width=10, height=20, sha256=sha(7))
        assert (folder / "models").is_dir()
    with Project.open(folder) as p:
        assert p.template.name == "C7-L5"
        assert p.image(image_id).template == "C7-L5"
        assert p.schema_version == schema.schema_version()
        assert p.check_integrity() == []
    con = sqlite3.connect(folder / DB_NAME)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID


def test_connections_use_durable_settings(project):
    """The kill test cannot see fsync behaviour, so pin the settings that give it."""
    con = project._db()
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert con.execute("PRAGMA busy_timeout").fetchone()[0] == store_db.BUSY_TIMEOUT_S * 1000
    assert not con.in_transaction, "no transaction may stay open between calls"


def test_create_refuses_an_existing_project(project):
    with pytest.raises(StoreError, match="already holds") as info:
        Project.create(project.folder)
    assert info.value.hint


def test_open_refuses_missing_folder_and_non_project(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Project.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a spinegui project") as info:
        Project.open(tmp_path / "plain")
    assert "project.sqlite" in info.value.hint
    assert not (tmp_path / "plain" / DB_NAME).exists(), "opening must not create a database"


def test_open_refuses_someone_elses_sqlite_file(tmp_path):
    (tmp_path / "p").mkdir()
    con = sqlite3.connect(tmp_path / "p" / DB_NAME)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    theirs = (tmp_path / "p" / DB_NAME).read_bytes()
    with pytest.raises(StoreError, match="not a spinegui project database"):
        Project.open(tmp_path / "p")
    assert (tmp_path / "p" / DB_NAME).read_bytes() == theirs, "their file must stay untouched"


def test_open_explains_an_interrupted_create(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / DB_NAME).write_bytes(b"")
    with pytest.raises(StoreError, match="never finished"):
        Project.open(tmp_path / "p")
    assert (tmp_path / "p" / DB_NAME).read_bytes() == b""
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [DB_NAME]


def test_closed_project_refuses_work(project):
    project.close()
    with pytest.raises(StoreError, match="closed"):
        project.images()


# --------------------------------------------------------------------- images


def test_add_image_records_paths_hash_and_metadata(project, tmp_path):
    inside = project.add_image(
        project.folder / "imgs" / "a.dcm",
        width=512,
        height=1024,
        sha256=sha(1).upper(),
        spacing_mm=(0.2, 0.25),
        bit_depth=16,
    )
    outside = project.add_image(tmp_path / "b.png", width=5, height=6, sha256=sha(2))
    a, b = project.image(inside), project.image(outside)
    assert a.rel_path == "imgs/a.dcm" and a.path == project.folder / "imgs" / "a.dcm"
    assert a.sha256 == sha(1) and a.spacing_mm == (0.2, 0.25) and a.bit_depth == 16
    assert a.status == "not_started" and a.split is None and not a.has_ground_truth
    assert b.rel_path is None and b.path == tmp_path / "b.png" and b.spacing_mm is None
    assert [r.id for r in project.images()] == [inside, outside]
    assert project.find_image_by_hash(sha(2)).id == outside
    assert project.find_image_by_hash(sha(3)) is None


def test_duplicate_content_is_refused(project, tmp_path):
    project.add_image(tmp_path / "a.png", width=5, height=6, sha256=sha(1))
    with pytest.raises(StoreError, match="already in the project"):
        project.add_image(tmp_path / "copy.png", width=5, height=6, sha256=sha(1))
    assert len(project.images()) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sha256": "abc"}, "not a SHA-256"),
        ({"width": 0}, "impossible size"),
        ({"spacing_mm": (0.1, -1)}, "pixel spacing"),
        ({"spacing_mm": (0.1, float("nan"))}, "pixel spacing"),
    ],
)
def test_add_image_validates(project, tmp_path, kwargs, match):
    args = {"width": 5, "height": 6, "sha256": sha(1)} | kwargs
    with pytest.raises(StoreError, match=match):
        project.add_image(tmp_path / "a.png", **args)
    assert project.images() == []


def test_unknown_image_is_a_store_error(project):
    with pytest.raises(StoreError, match="no image 42"):
        project.image(42)
    with pytest.raises(StoreError, match="no image 42"):
        project.set_ground_truth(42, spine())


# --------------------------------------------------------------- ground truth


def test_ground_truth_round_trips_exactly(annotated):
    project, image_id = annotated
    pts = spine() + np.random.default_rng(0).normal(size=(17, 4, 2)) / 3
    before = project.set_ground_truth(image_id, pts.reshape(-1, 2), source="manual")
    np.testing.assert_array_equal(before, spine())
    got = project.ground_truth(image_id)
    assert got.shape == (17, 4, 2) and got.dtype == np.float64
    np.testing.assert_array_equal(got, pts)
    assert project.image(image_id).gt_source == "manual"


def test_image_without_ground_truth_reads_none(project, tmp_path):
    image_id = project.add_image(tmp_path / "a.png", width=5, height=6, sha256=sha(1))
    assert project.ground_truth(image_id) is None
    with pytest.raises(StoreError, match="no landmarks to edit"):
        project.move_corner(image_id, 0, 0, (1, 1))


@pytest.mark.parametrize(
    "bad", [spine()[:16], np.where(np.arange(136).reshape(17, 4, 2) == 5, np.nan, spine())]
)
def test_invalid_landmarks_write_nothing(annotated, bad):
    project, image_id = annotated
    edits = len(project.history())
    with pytest.raises(LandmarkError):
        project.set_ground_truth(image_id, bad)
    np.testing.assert_array_equal(project.ground_truth(image_id), spine())
    assert len(project.history()) == edits


def test_move_corner_is_logged_and_undoable(annotated):
    project, image_id = annotated
    before = project.move_corner(image_id, 3, 1, (205.5, 251.25))
    np.testing.assert_array_equal(before, spine()[3, 1])
    gt = project.ground_truth(image_id)
    np.testing.assert_array_equal(gt[3, 1], [205.5, 251.25])
    expected = spine()
    expected[3, 1] = [205.5, 251.25]
    np.testing.assert_array_equal(gt, expected)
    assert project.image(image_id).gt_source == "manual"

    edit = project.history(image_id)[-1]
    assert (edit.kind, edit.vertebra, edit.corner, edit.user) == ("move_corner", 3, 1, "tester")
    assert edit.before == spine()[3, 1].tolist() and edit.after == [205.5, 251.25]
    assert edit.at.endswith("+00:00")

    # Undo is a new edit that restores the returned value.
    project.move_corner(image_id, 3, 1, before)
    np.testing.assert_array_equal(project.ground_truth(image_id), spine())
    kinds = [e.kind for e in project.history(image_id)]
    assert kinds[-2:] == ["move_corner", "move_corner"]


def test_move_and_set_vertebra(annotated):
    project, image_id = annotated
    before = project.move_vertebra(image_id, 0, (10, -5))
    np.testing.assert_array_equal(project.ground_truth(image_id)[0], spine()[0] + [10, -5])
    np.testing.assert_array_equal(before, spine()[0])
    moved = project.set_vertebra(image_id, 0, before)
    np.testing.assert_array_equal(moved, spine()[0] + [10, -5])
    np.testing.assert_array_equal(project.ground_truth(image_id), spine())
    last = project.history(image_id, limit=2)
    assert [e.kind for e in last] == ["move_vertebra", "set_vertebra"]
    assert last[0].corner is None and last[0].after == (spine()[0] + [10, -5]).tolist()


@pytest.mark.parametrize(
    "call",
    [
        lambda p, i: p.move_corner(i, 17, 0, (1, 1)),
        lambda p, i: p.move_corner(i, 0, 4, (1, 1)),
        lambda p, i: p.move_corner(i, 0, 0, (np.nan, 1)),
        lambda p, i: p.move_vertebra(i, 0, (1, 2, 3)),
        lambda p, i: p.set_vertebra(i, -1, np.zeros((4, 2))),
    ],
)
def test_bad_edits_raise_and_write_nothing(annotated, call):
    project, image_id = annotated
    edits = len(project.history())
    with pytest.raises(LandmarkError):
        call(project, image_id)
    np.testing.assert_array_equal(project.ground_truth(image_id), spine())
    assert len(project.history()) == edits


def test_history_is_append_only_even_for_raw_sql(annotated):
    project, _ = annotated
    con = raw(project)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE edits SET user = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM edits")
    con.close()
    assert [e.kind for e in project.history()] == ["add_image", "import"]


def test_status_records_reviewer(annotated):
    project, image_id = annotated
    assert project.set_status(image_id, "reviewed") == "not_started"
    rec = project.image(image_id)
    assert rec.status == "reviewed" and rec.reviewer == "tester" and rec.reviewed_at
    assert project.set_status(image_id, "in_review") == "reviewed"
    rec = project.image(image_id)
    assert rec.reviewer is None and rec.reviewed_at is None
    with pytest.raises(StoreError, match="Unknown review status"):
        project.set_status(image_id, "done")
    assert [(e.before, e.after) for e in project.history(image_id)[-2:]] == [
        ("not_started", "reviewed"),
        ("reviewed", "in_review"),
    ]


# ------------------------------------------------------ models and predictions


def test_models_have_at_most_one_active(project):
    project.models_dir.joinpath("m1").mkdir()
    m1 = project.add_model("v1", "models/m1/model.safetensors", card={"val_mre": 3.5})
    assert m1.path == project.folder / "models/m1/model.safetensors"
    assert m1.card == {"val_mre": 3.5} and not m1.active
    project.add_model("v2", project.models_dir / "v2.safetensors", parent="v1")
    assert project.active_model() is None
    assert project.set_active_model("v1") is None
    assert project.set_active_model("v2") == "v1"
    assert [(m.version, m.active) for m in project.models()] == [("v1", False), ("v2", True)]
    assert project.model("v2").parent == "v1"
    con = raw(project)
    assert con.execute("SELECT path FROM models WHERE version='v2'").fetchone()[0] == (
        "models/v2.safetensors"
    )
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("UPDATE models SET active = 1")
    con.close()
    assert project.set_active_model(None) == "v2" and project.active_model() is None
    activations = [(e.before, e.after) for e in project.history() if e.kind == "activate_model"]
    assert activations == [(None, "v1"), ("v1", "v2"), ("v2", None)]
    assert all(e.image_id is None for e in project.history())
    with pytest.raises(StoreError, match="no model 'v9'"):
        project.set_active_model("v9")
    with pytest.raises(StoreError, match="already registered"):
        project.add_model("v1", "x")
    with pytest.raises(StoreError, match="no model"):
        project.add_model("v3", "x", parent="v9")


def test_predictions_per_model_and_accepting_one(annotated):
    project, image_id = annotated
    with pytest.raises(StoreError, match="no model"):
        project.set_prediction(image_id, "v1", spine())
    project.add_model("v1", "models/v1.safetensors")
    project.add_model("v2", "models/v2.safetensors")
    spread = np.full((17, 4), 2.5)
    project.set_prediction(image_id, "v1", spine(shift=1), spread)
    project.set_prediction(image_id, "v2", spine(shift=2))
    assert project.prediction(image_id) is None, "no active model yet"
    project.set_active_model("v1")
    pred = project.prediction(image_id)
    assert pred.model_version == "v1"
    np.testing.assert_array_equal(pred.points, spine(shift=1))
    np.testing.assert_array_equal(pred.spread, spread)
    assert project.prediction(image_id, "v2").spread is None

    before = project.accept_prediction(image_id, "v2")
    np.testing.assert_array_equal(before, spine())
    np.testing.assert_array_equal(project.ground_truth(image_id), spine(shift=2))
    assert project.image(image_id).gt_source == "accepted_prediction"
    assert project.history(image_id)[-1].kind == "accept_prediction"

    with pytest.raises(LandmarkError):
        project.set_prediction(image_id, "v1", spine(), spread=-spread)
    np.testing.assert_array_equal(project.prediction(image_id, "v1").spread, spread)


# --------------------------------------------------------------------- splits


def test_split_assignment_is_locked(project, tmp_path):
    ids = [
        project.add_image(tmp_path / f"{i}.png", width=5, height=6, sha256=sha(i))
        for i in (1, 2, 3)
    ]
    assert project.assign_split(ids[:2], "val") == 2
    assert project.assign_split(ids[:2], "val") == 0, "re-assigning the same split is a no-op"
    with pytest.raises(StoreError, match="another split"):
        project.assign_split(ids, "train")
    assert project.split_of(ids[2]) is None, "a refused assignment assigns nothing"
    assert project.assign_split([ids[2]], "train") == 1
    assert [project.split_of(i) for i in ids] == ["val", "val", "train"]
    with pytest.raises(StoreError, match="Unknown split"):
        project.assign_split(ids, "test")
    con = raw(project)
    with pytest.raises(sqlite3.IntegrityError, match="locked"):
        con.execute("UPDATE images SET split = 'train' WHERE id = ?", (ids[0],))
    con.close()


# ---------------------------------------------------------------------- files


def test_check_files_and_relocate(project, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"image a")
    b.write_bytes(b"image b")
    ia = project.add_image(a, width=5, height=6, sha256=file_sha256(a))
    ib = project.add_image(b, width=5, height=6, sha256=file_sha256(b))
    assert project.check_files() == []

    moved = tmp_path / "elsewhere" / "a.png"
    moved.parent.mkdir()
    a.rename(moved)
    b.write_bytes(b"other content")
    problems = {p.image_id: p for p in project.check_files()}
    assert problems[ia].kind == "missing" and problems[ia].path == a
    assert problems[ib].kind == "changed" and "b.png" in problems[ib].message

    with pytest.raises(StoreError, match="not the X-ray"):
        project.relocate(ia, b)
    project.relocate(ia, moved)
    assert project.image(ia).path == moved
    assert project.history(ia)[-1].after == str(moved)
    assert [p.image_id for p in project.check_files()] == [ib]


def test_moved_project_finds_images_inside_it(tmp_path):
    with Project.create(tmp_path / "p") as p:
        img = p.folder / "img.png"
        img.write_bytes(b"pixels")
        image_id = p.add_image(img, width=5, height=6, sha256=file_sha256(img))
    shutil.move(tmp_path / "p", tmp_path / "q")
    with Project.open(tmp_path / "q") as p:
        assert p.image(image_id).path == tmp_path / "q" / "img.png"
        assert p.check_files() == []


# ------------------------------------------------------------- concurrency


def test_second_connection_sees_committed_edits(annotated):
    project, image_id = annotated
    with Project.open(project.folder) as reader:
        project.move_corner(image_id, 0, 0, (1.5, 2.5))
        np.testing.assert_array_equal(reader.ground_truth(image_id)[0, 0], [1.5, 2.5])


def test_worker_thread_and_gui_thread_write_together(annotated):
    project, image_id = annotated
    project.add_model("v1", "models/v1.safetensors")
    errors = []

    def worker():
        try:
            for k in range(20):
                project.set_prediction(image_id, "v1", spine(shift=k))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    for k in range(20):
        project.move_corner(image_id, 0, 0, (k, k))
    t.join()
    assert errors == []
    np.testing.assert_array_equal(project.prediction(image_id, "v1").points, spine(shift=19))
    assert project.ground_truth(image_id)[0, 0].tolist() == [19, 19]
    assert sum(e.kind == "move_corner" for e in project.history(image_id)) == 20


def test_busy_database_is_a_store_error(annotated, monkeypatch):
    project, image_id = annotated
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_S", 0.05)
    holder = raw(project)
    holder.isolation_level = None
    with Project.open(project.folder) as other:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE images SET status = 'in_review'")
        try:
            # Readers (the trainer) are never blocked by a writer, and see no
            # uncommitted change.
            np.testing.assert_array_equal(other.ground_truth(image_id), spine())
            assert other.image(image_id).status == "not_started"
            with pytest.raises(StoreError, match="another program") as info:
                other.move_corner(image_id, 0, 0, (1, 1))
            assert "try again" in info.value.hint
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        np.testing.assert_array_equal(other.ground_truth(image_id), spine())


# --------------------------------------------------------- damaged / full / ro


def test_garbage_database_is_a_store_error(annotated):
    project, _ = annotated
    project.close()
    project.db_path.write_bytes(b"this is not a database at all " * 200)
    with pytest.raises(StoreError, match="damaged") as info:
        Project.open(project.folder)
    assert "backup" in info.value.hint


def test_damaged_pages_are_a_store_error(annotated):
    project, image_id = annotated
    for k in range(40):  # make the tables span several pages
        project.move_corner(image_id, k % 17, 0, (k, k))
    project.close()
    data = bytearray(project.db_path.read_bytes())
    assert len(data) > 4 * 4096
    data[4096:] = np.random.default_rng(1).integers(0, 256, len(data) - 4096, np.uint8).tobytes()
    project.db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"), Project.open(project.folder) as p:
        p.history()
        p.images()


def test_full_disk_is_a_store_error_and_keeps_saved_data(annotated):
    project, image_id = annotated
    con = project._db()  # fault injection: cap this connection's file size
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="disk is full") as info:
        for k in range(1000):
            project.set_ground_truth(image_id, spine(shift=k / 10))
    assert "intact" in info.value.hint
    saved = project.ground_truth(image_id)
    n_edits = len(project.history())
    project.close()
    with Project.open(project.folder) as p:
        assert p.check_integrity() == []
        np.testing.assert_array_equal(p.ground_truth(image_id), saved)
        assert len(p.history()) == n_edits


def test_read_only_database_is_a_store_error(annotated, monkeypatch):
    project, image_id = annotated
    real_connect = sqlite3.connect

    def read_only(database, **kwargs):
        return real_connect(database.replace("mode=rw", "mode=ro"), **kwargs)

    # Simulated: the tests may run as root, for whom chmod does not bite.
    monkeypatch.setattr(store_db.sqlite3, "connect", read_only)
    with Project.open(project.folder) as p:
        np.testing.assert_array_equal(p.ground_truth(image_id), spine())
        with pytest.raises(StoreError, match="read-only") as info:
            p.move_corner(image_id, 0, 0, (1, 1))
        assert "write" in info.value.hint
    monkeypatch.undo()
    np.testing.assert_array_equal(project.ground_truth(image_id), spine())


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root ignores folder permissions",
)
def test_read_only_folder_is_a_store_error(annotated):
    project, _ = annotated
    project.close()
    project.folder.chmod(0o555)
    project.db_path.chmod(0o444)
    try:
        with pytest.raises(StoreError), Project.open(project.folder) as p:
            p.set_status(1, "reviewed")
    finally:
        project.folder.chmod(0o755)
        project.db_path.chmod(0o644)


# ------------------------------------------------------------------ migrations

# A hand-made version-1 file: the released v1 layout written out by hand, plus
# data. It must keep opening (and migrating) whatever later versions add.
V1_FIXTURE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (id INTEGER PRIMARY KEY, abs_path TEXT NOT NULL, rel_path TEXT,
  sha256 TEXT NOT NULL UNIQUE, width INTEGER NOT NULL CHECK (width > 0),
  height INTEGER NOT NULL CHECK (height > 0),
  spacing_row REAL CHECK (spacing_row IS NULL OR spacing_row > 0),
  spacing_col REAL CHECK (spacing_col IS NULL OR spacing_col > 0),
  bit_depth INTEGER NOT NULL, template TEXT NOT NULL, added TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'not_started'
  CHECK (status IN ('not_started', 'in_review', 'reviewed')),
  reviewer TEXT, reviewed_at TEXT,
  split TEXT CHECK (split IS NULL OR split IN ('train', 'val')));
CREATE TRIGGER images_split_locked BEFORE UPDATE OF split ON images
  WHEN OLD.split IS NOT NULL AND NEW.split IS NOT OLD.split
  BEGIN SELECT RAISE(ABORT, 'split assignment is locked'); END;
CREATE TABLE ground_truth (image_id INTEGER PRIMARY KEY REFERENCES images(id),
  points BLOB NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('import', 'manual', 'accepted_prediction')),
  updated TEXT NOT NULL);
CREATE TABLE models (version TEXT PRIMARY KEY, path TEXT NOT NULL, card TEXT NOT NULL,
  created TEXT NOT NULL, parent TEXT REFERENCES models(version),
  active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)));
CREATE UNIQUE INDEX models_one_active ON models(active) WHERE active = 1;
CREATE TABLE predictions (image_id INTEGER NOT NULL REFERENCES images(id),
  model_version TEXT NOT NULL REFERENCES models(version), points BLOB NOT NULL, spread BLOB,
  created TEXT NOT NULL, PRIMARY KEY (image_id, model_version));
CREATE TABLE edits (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, user TEXT NOT NULL,
  image_id INTEGER REFERENCES images(id), kind TEXT NOT NULL, vertebra INTEGER, corner INTEGER,
  before TEXT, after TEXT);
CREATE INDEX edits_by_image ON edits(image_id, id);
CREATE TRIGGER edits_no_update BEFORE UPDATE ON edits
  BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END;
CREATE TRIGGER edits_no_delete BEFORE DELETE ON edits
  BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END;
"""
V1_DATA = """
INSERT INTO meta VALUES ('template', 'T1-L5'), ('created', '2025-01-01T00:00:00+00:00');
INSERT INTO images (id, abs_path, rel_path, sha256, width, height, bit_depth, template, added)
  VALUES (1, '/data/a.png', NULL, '%s', 800, 1600, 8, 'T1-L5', '2025-01-01T00:00:00+00:00');
INSERT INTO edits (at, user, image_id, kind, before, after)
  VALUES ('2025-01-01T00:00:00+00:00', 'alice', 1, 'add_image', 'null', '{}');
""" % sha(1)  # noqa: UP031


def layout(con: sqlite3.Connection) -> set[tuple[str, str, str]]:
    rows = con.execute("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL")
    return {(t, n, re.sub(r"\s+", "", sql).lower()) for t, n, sql in rows}


def test_v1_fixture_matches_the_released_v1_migration():
    made, migrated = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    made.executescript(V1_FIXTURE)
    schema.MIGRATIONS[0](migrated)
    assert layout(made) == layout(migrated)


def make_v1(folder):
    folder.mkdir()
    con = sqlite3.connect(folder / DB_NAME)
    con.executescript(V1_FIXTURE + V1_DATA)
    con.execute("INSERT INTO ground_truth VALUES (1, ?, 'import', 'then')", (spine().tobytes(),))
    con.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()


def user_version(folder) -> int:
    con = sqlite3.connect(folder / DB_NAME)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def test_v1_fixture_opens_with_its_data(tmp_path):
    make_v1(tmp_path / "old")
    with Project.open(tmp_path / "old", user="bob") as p:
        assert p.schema_version == schema.schema_version()
        np.testing.assert_array_equal(p.ground_truth(1), spine())
        p.move_corner(1, 0, 0, (1, 2))
        assert [e.user for e in p.history(1)] == ["alice", "bob"]


def test_pending_migrations_run_once_in_one_transaction(tmp_path, monkeypatch):
    make_v1(tmp_path / "old")

    def add_note(conn):
        conn.execute("ALTER TABLE images ADD COLUMN note TEXT DEFAULT 'migrated'")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_note])
    with Project.open(tmp_path / "old") as p:
        assert p.schema_version == len(schema.MIGRATIONS)
        np.testing.assert_array_equal(p.ground_truth(1), spine())
    con = sqlite3.connect(tmp_path / "old" / DB_NAME)
    assert con.execute("SELECT note FROM images").fetchall() == [("migrated",)]
    con.close()
    with Project.open(tmp_path / "old"):  # already current: nothing re-applied
        pass


def test_failed_migration_leaves_the_file_untouched(tmp_path, monkeypatch):
    make_v1(tmp_path / "old")

    def half_done(conn):
        conn.execute("ALTER TABLE images ADD COLUMN note TEXT")
        conn.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, half_done])
    with pytest.raises(StoreError, match="upgrade"):
        Project.open(tmp_path / "old")
    assert user_version(tmp_path / "old") == 1
    con = sqlite3.connect(tmp_path / "old" / DB_NAME)
    assert "note" not in [r[1] for r in con.execute("PRAGMA table_info(images)")]
    con.close()


def test_newer_database_is_refused_untouched(project):
    project.close()
    con = sqlite3.connect(project.db_path)
    con.execute(f"PRAGMA user_version = {schema.schema_version() + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer spinegui") as info:
        Project.open(project.folder)
    assert "Update spinegui" in info.value.hint
    assert user_version(project.folder) == schema.schema_version() + 1


def test_clear_ground_truth_removes_and_logs(tmp_path):
    project = Project.create(tmp_path / "p", "T1-L5")
    img = tmp_path / "x.png"
    img.write_bytes(b"not really a png")
    image_id = project.add_image(img, width=50, height=60, sha256=file_sha256(img))
    assert project.clear_ground_truth(image_id) is None
    points = np.tile(
        np.array([[10.0, 10.0], [20.0, 10.0], [10.0, 15.0], [20.0, 15.0]]), (17, 1, 1)
    ) + np.arange(17)[:, None, None] * [0.0, 20.0]
    project.set_ground_truth(image_id, points)
    removed = project.clear_ground_truth(image_id)
    np.testing.assert_array_equal(removed, points)
    assert project.ground_truth(image_id) is None
    last = project.history(image_id)[-1]
    assert last.kind == "clear" and last.after is None
    project.close()


def test_project_settings_travel_with_the_project(tmp_path):
    with Project.create(tmp_path / "p", "T1-L5") as project:
        assert project.setting("retrain") is None
        project.set_setting("retrain", '{"epochs": 7}')
        project.set_setting("retrain", '{"epochs": 9}')
    with Project.open(tmp_path / "p") as project:
        assert project.setting("retrain") == '{"epochs": 9}'
        assert project.template.name == "T1-L5"  # settings never clobber the project's own
