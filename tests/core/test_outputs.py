"""Outputs never replace a file unasked, never go into input folders, never end half written."""

from __future__ import annotations

import errno
import os

import pytest

from spinegui.core.errors import OutputError
from spinegui.core.outputs import (
    atomic_write,
    check_file_target,
    check_targets,
    protected_folders,
    staged_folder,
)


def _full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_replaces_whole(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, where):
    target = tmp_path / "out.txt"
    target.write_text("old")
    monkeypatch.setattr(os, where, _full_disk)
    with pytest.raises(OutputError) as exc:
        atomic_write(target, "new")
    assert "disk is full" in exc.value.message and "Nothing was written" in exc.value.message
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_existing_file_is_named_and_kept_unless_overwrite(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("mine")
    with pytest.raises(OutputError) as exc:
        check_file_target(target)
    assert str(target) in exc.value.message and "--overwrite" in exc.value.hint
    assert check_file_target(target, overwrite=True) == target


def test_an_input_image_is_never_replaced_even_when_asked(tmp_path):
    xray = tmp_path / "x.png"
    xray.write_bytes(b"pixels")
    with pytest.raises(OutputError, match="being read"):
        check_file_target(xray, overwrite=True, inputs=[xray])


@pytest.mark.parametrize("kind", ["folder", "missing_parent"])
def test_bad_file_targets_are_explained(tmp_path, kind):
    target = tmp_path if kind == "folder" else tmp_path / "nowhere" / "a.csv"
    with pytest.raises(OutputError) as exc:
        check_file_target(target)
    assert ("folder" in exc.value.message) and exc.value.hint


def test_image_folders_and_aasce_datasets_are_protected(tmp_path):
    images = tmp_path / "xrays"
    images.mkdir()
    (images / "a.png").write_bytes(b"x")
    dataset = tmp_path / "ds"
    (dataset / "data" / "training").mkdir(parents=True)
    (dataset / "labels" / "training").mkdir(parents=True)
    (dataset / "data" / "training" / "b.jpg").write_bytes(b"x")
    guarded = protected_folders([images / "a.png", dataset / "data" / "training" / "b.jpg"])
    for refused in (
        images / "out.csv",
        dataset / "labels" / "training" / "angles.csv",
        dataset / "out.json",
    ):
        with pytest.raises(OutputError, match="outputs never go there"):
            check_targets([refused], overwrite=True, protected=guarded)
    check_targets([images / "exports" / "out.csv", tmp_path / "out.csv"], protected=guarded)


def test_staged_folder_moves_in_only_when_complete(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError), staged_folder(out) as stage:
        (stage / "new.txt").write_text("half")
        raise RuntimeError("crash while writing")
    assert sorted(os.listdir(out)) == ["keep.txt"]

    with pytest.raises(OutputError, match="already exist"), staged_folder(out) as stage:
        (stage / "keep.txt").write_text("theirs")
        (stage / "other.txt").write_text("x")
    assert sorted(os.listdir(out)) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"

    with staged_folder(out, overwrite=True) as stage:
        (stage / "keep.txt").write_text("replaced")
    assert (out / "keep.txt").read_text() == "replaced"
    assert sorted(os.listdir(out)) == ["keep.txt"]


def test_new_folder_appears_in_one_piece_or_not_at_all(tmp_path, monkeypatch):
    out = tmp_path / "new"
    monkeypatch.setattr(os, "fsync", _full_disk)
    with pytest.raises(OutputError, match="disk is full"), staged_folder(out) as stage:
        (stage / "a.txt").write_text("a")
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_path_for_writers_that_want_a_name(tmp_path, monkeypatch):
    from spinegui.core.outputs import atomic_path

    target = tmp_path / "view.png"
    target.write_bytes(b"old picture")
    monkeypatch.setattr(os, "replace", _full_disk)
    with pytest.raises(OutputError, match="disk is full"), atomic_path(target) as tmp:
        tmp.write_bytes(b"new picture")
    monkeypatch.undo()
    assert target.read_bytes() == b"old picture"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"
        tmp.write_bytes(b"new picture")
    assert target.read_bytes() == b"new picture"
    assert sorted(os.listdir(tmp_path)) == ["view.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_outputs_get_the_permissions_of_a_plain_write(tmp_path):
    """Written through a temporary name, a file or folder still gets the umask's permissions.

    mkstemp and mkdtemp make owner-only names: a report or export saved to a
    shared folder came out unreadable for the colleague it was for.
    """
    old = os.umask(0o022)
    try:
        new_file = atomic_write(tmp_path / "report.csv", "a,b\n")
        with staged_folder(tmp_path / "export") as stage:
            (stage / "labels.csv").write_text("x")
        kept = tmp_path / "private.csv"
        kept.write_text("old")
        kept.chmod(0o640)
        atomic_write(kept, "new")
    finally:
        os.umask(old)
    assert new_file.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "export").stat().st_mode & 0o777 == 0o755
    assert kept.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its own
