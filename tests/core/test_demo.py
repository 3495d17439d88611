"""The demo project: content, the shipped model, and being safe to build again and again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from spinegui.core.cobb import cobb_angles
from spinegui.core.demo import DEMO_MARKER, build_demo_project, default_demo_folder, demo_plan
from spinegui.core.errors import StoreError
from spinegui.core.store import Project
from tests.core.test_model_card import fake_model


@pytest.fixture
def shipped(tmp_path) -> Path:
    """A stand-in for model/: one C7-L5 model, one for another spine, one damaged file."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    fake_model(folder / "c7l5-fast.safetensors")
    fake_model(folder / "t1l5-fast.safetensors", template="T1-L5", created="2027-01-01")
    (folder / "damaged.safetensors").write_bytes(b"junk")
    return folder


def test_plan_mixes_curves_angles_and_truth():
    plan = demo_plan(12, seed=0)
    with_truth = [p for p in plan if p["ground_truth"]]
    without = [p for p in plan if not p["ground_truth"]]
    assert len(with_truth) == len(without) == 6
    for half in (with_truth, without):
        assert {p["curve"] for p in half} == {"C", "S"}
    angles = sorted(p["cobb_deg"] for p in plan)
    assert angles[0] < 15 and angles[-1] > 45
    assert len({p["file"] for p in plan}) == 12
    assert demo_plan(12, seed=0) == plan and demo_plan(12, seed=1) != plan


def test_demo_holds_16_bit_phantoms_half_with_imported_truth(tmp_path):
    folder = build_demo_project(tmp_path / "demo", count=4, models_folder=tmp_path / "none")
    assert folder == (tmp_path / "demo").resolve()
    plan = json.loads((folder / DEMO_MARKER).read_text())["images"]
    with Project.open(folder) as project:
        images = project.images()
        assert len(images) == 4
        assert project.check_files() == []
        assert project.active_model() is None  # no model ships: the GUI says "no model yet"
        for image, entry in zip(images, plan, strict=True):
            assert image.path == folder / entry["file"] and image.rel_path is not None
            pixels = cv2.imread(str(image.path), cv2.IMREAD_UNCHANGED)
            assert pixels.dtype == np.uint16 and pixels.shape == (image.height, image.width)
            assert image.template == "C7-L5" and image.spacing_mm is not None
            truth = project.ground_truth(image.id)
            if entry["ground_truth"]:
                assert image.gt_source == "import"
                assert cobb_angles(truth, image.height).main == pytest.approx(
                    entry["cobb_deg"], abs=0.5
                )
            else:
                assert truth is None and image.gt_source is None
    assert sorted(p.name for p in folder.parent.iterdir()) == ["demo"]  # no staging left


def test_shipped_c7l5_model_is_registered_active_by_absolute_path(tmp_path, shipped, monkeypatch):
    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=shipped)
    monkeypatch.chdir(tmp_path / "shipped")  # works from any working directory
    with Project.open(folder) as project:
        (model,) = project.models()
        active = project.active_model()
        assert active == model and active.version == "c7l5-fast"
        assert active.path == (shipped / "c7l5-fast.safetensors").resolve()
        assert active.path.is_absolute() and active.path.is_file()
        assert active.card["template"] == "C7-L5" and active.card["shipped"] is True


def test_shipped_model_comes_from_the_models_folder_by_default(tmp_path, shipped, monkeypatch):
    from spinegui.core import paths

    monkeypatch.setattr(paths, "models_dir", lambda: shipped)
    with Project.open(build_demo_project(tmp_path / "demo", count=2)) as project:
        assert project.active_model().version == "c7l5-fast"


def test_building_again_reuses_the_project_and_keeps_edits(tmp_path, shipped):
    folder = build_demo_project(tmp_path / "demo", count=4, models_folder=shipped)
    with Project.open(folder) as project:
        before = [(i.id, i.sha256) for i in project.images()]
        project.set_status(before[0][0], "reviewed")
    assert build_demo_project(tmp_path / "demo", count=4, models_folder=shipped) == folder
    with Project.open(folder) as project:
        assert [(i.id, i.sha256) for i in project.images()] == before
        assert project.image(before[0][0]).status == "reviewed"
        assert len(project.models()) == 1


def test_a_deleted_demo_image_is_redrawn_identically(tmp_path):
    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=tmp_path / "none")
    lost = folder / "images" / "demo_02.png"
    lost.unlink()
    build_demo_project(folder, count=2, models_folder=tmp_path / "none")
    with Project.open(folder) as project:
        assert lost.is_file() and project.check_files() == []


def test_a_model_shipped_later_is_registered_and_activated(tmp_path, shipped):
    empty = tmp_path / "empty"
    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=empty)
    build_demo_project(folder, count=2, models_folder=shipped)
    with Project.open(folder) as project:
        assert project.active_model().version == "c7l5-fast"


def test_a_changed_shipped_model_replaces_the_old_shipped_one(tmp_path, shipped):
    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=shipped)
    fake_model(shipped / "c7l5-fast.safetensors", created="2026-06-01T00:00:00+00:00")
    build_demo_project(folder, count=2, models_folder=shipped)
    with Project.open(folder) as project:
        versions = [m.version for m in project.models()]
        assert len(versions) == 2 and versions[0] == "c7l5-fast"
        assert project.active_model().version.startswith("c7l5-fast-")
        assert project.active_model().card["fingerprint"] != project.models()[0].card["fingerprint"]


def test_a_model_the_user_promoted_stays_active(tmp_path, shipped):
    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=shipped)
    with Project.open(folder) as project:
        own = fake_model(folder / "models" / "retrained.safetensors")
        project.add_model("retrained-1", own, card={"template": "C7-L5"})
        project.set_active_model("retrained-1")
    fake_model(shipped / "c7l5-fast.safetensors", created="2026-06-01T00:00:00+00:00")
    build_demo_project(folder, count=2, models_folder=shipped)
    with Project.open(folder) as project:
        assert project.active_model().version == "retrained-1"
        assert len(project.models()) == 3  # the new shipped model is known, not forced on


def test_another_project_or_a_full_folder_is_never_touched(tmp_path):
    Project.create(tmp_path / "mine").close()
    with pytest.raises(StoreError, match="not the demo project"):
        build_demo_project(tmp_path / "mine", count=2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="other files") as info:
        build_demo_project(tmp_path / "full", count=2)
    assert info.value.hint
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "mine"]


def test_an_empty_folder_is_fine(tmp_path):
    (tmp_path / "demo").mkdir()
    with Project.open(build_demo_project(tmp_path / "demo", count=2)) as project:
        assert len(project.images()) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG variables are Linux-only")
def test_default_folder_is_in_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_demo_folder() == tmp_path / "spinegui" / "demo"
