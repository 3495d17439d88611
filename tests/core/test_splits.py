"""The locked validation split: deterministic, permanent, only ever added to.

Also home of ``make_project``, the synthetic project the retraining tests of
tests/ml and tests/gui build on (real PNG files, so the trainer can read them).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from spinegui.core.errors import StoreError
from spinegui.core.splits import (
    MIN_TRAIN,
    MIN_VAL,
    apply_plan,
    plan_splits,
    project_plan,
    val_target,
)
from spinegui.core.store import Project

TEMPLATE = "C7-L5"
PHANTOM_SIZE = (128, 64)  # (height, width): small files, quick to read at the tiny preset


def make_project(
    folder: Path,
    n_reviewed: int,
    *,
    n_unreviewed: int = 0,
    seed: int = 0,
    template: str = TEMPLATE,
) -> Path:
    """A project of phantom X-rays with exact ground truth; returns its folder.

    The first ``n_reviewed`` images are marked reviewed, alternating between
    hand-corrected ("manual") and imported landmarks so the panel's counts
    have both; the rest have landmarks but are not reviewed.
    """
    project_dir = folder / "project"
    with Project.create(project_dir, template) as project:
        add_phantoms(project, folder / "images", n_reviewed, n_unreviewed, seed=seed)
    return project_dir


def add_phantoms(
    project: Project, images: Path, n_reviewed: int, n_unreviewed: int = 0, *, seed: int = 0
) -> list[int]:
    """Add phantom X-rays to an open project, numbered on from its image count; new ids."""
    import cv2

    from spinegui.core.phantom import batch_seeds, generate_phantom
    from spinegui.core.store import file_sha256

    images.mkdir(parents=True, exist_ok=True)
    first = len(project.images())
    seeds = batch_seeds(seed, first + n_reviewed + n_unreviewed)
    ids = []
    for k in range(n_reviewed + n_unreviewed):
        i = first + k
        ph = generate_phantom(project.template.name, seeds[i], size=PHANTOM_SIZE)
        path = images / f"xray_{i:03d}.png"
        cv2.imwrite(str(path), np.clip(ph.image * 255, 0, 255).astype(np.uint8))
        image_id = project.add_image(
            path, width=PHANTOM_SIZE[1], height=PHANTOM_SIZE[0], sha256=file_sha256(path)
        )
        project.set_ground_truth(image_id, ph.landmarks, source="manual" if i % 2 else "import")
        if k < n_reviewed:
            project.set_status(image_id, "reviewed")
        ids.append(image_id)
    return ids


# ------------------------------------------------------------- no image files


def _points(n_vertebrae: int = 18) -> np.ndarray:
    pts = np.zeros((n_vertebrae, 4, 2))
    for v in range(n_vertebrae):
        y = 10 + 20 * v
        pts[v] = [[10, y], [30, y], [10, y + 15], [30, y + 15]]
    return pts


def _add(project: Project, names, *, reviewed=True, source="manual") -> list[int]:
    """Images without files (the plan only needs records) named by a content string."""
    ids = []
    for name in names:
        digest = hashlib.sha256(name.encode()).hexdigest()
        image_id = project.add_image(f"/nowhere/{name}.png", width=64, height=128, sha256=digest)
        project.set_ground_truth(image_id, _points(), source=source)
        if reviewed:
            project.set_status(image_id, "reviewed")
        ids.append(image_id)
    return ids


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p", TEMPLATE) as p:
        yield p


def test_about_a_fifth_goes_to_validation_with_at_least_one():
    assert val_target(0) == 0
    assert val_target(3) == MIN_VAL == 1
    assert val_target(5) == 1
    assert val_target(10) == 2
    assert val_target(80) == 16


def test_plan_counts_only_reviewed_images_with_landmarks(project):
    _add(project, ["a", "b", "c"], source="manual")
    _add(project, ["d"], source="import")
    _add(project, ["e"], source="accepted_prediction")
    _add(project, ["f", "g"], reviewed=False)
    no_truth = project.add_image(
        "/nowhere/h.png", width=64, height=128, sha256=hashlib.sha256(b"h").hexdigest()
    )
    project.set_status(no_truth, "reviewed")
    plan = project_plan(project)
    assert plan.total == 5 and no_truth not in plan.train_ids + plan.val_ids
    assert (plan.corrected, plan.imported, plan.accepted) == (3, 1, 1)
    assert plan.unreviewed_with_truth == 2
    assert len(plan.val_ids) == 1 and len(plan.train_ids) == 4 and plan.enough


def test_too_few_images_says_how_many_more_to_review(project):
    _add(project, ["a", "b", "c"])
    plan = project_plan(project)
    assert not plan.enough
    assert plan.more_needed == MIN_TRAIN + MIN_VAL - 3 == 2
    assert "review 2 more images" in plan.shortage_message()
    _add(project, ["d", "e"])
    assert project_plan(project).enough and project_plan(project).shortage_message() == ""


def test_more_needed_counts_from_an_unbalanced_locked_split(project):
    ids = _add(project, ["a", "b", "c"])
    project.assign_split(ids, "val")  # e.g. assigned by hand earlier
    plan = project_plan(project)
    assert plan.more_needed == MIN_TRAIN  # validation is full; every new image trains


def test_plan_is_deterministic_and_independent_of_insertion_order(tmp_path):
    names = [f"img{i}" for i in range(12)]
    chosen = []
    for order in (names, list(reversed(names))):
        with Project.create(tmp_path / f"p{len(chosen)}", TEMPLATE) as p:
            _add(p, order)
            plan = project_plan(p)
            chosen.append({p.image(i).sha256 for i in plan.val_ids})
    assert len(chosen[0]) == val_target(12) and chosen[0] == chosen[1]


def test_validation_stays_locked_and_new_images_only_add(project):
    first = _add(project, [f"a{i}" for i in range(6)])
    plan1 = apply_plan(project)
    assert {project.split_of(i) for i in first} == {"train", "val"}
    val1, train1 = set(plan1.val_ids), set(plan1.train_ids)
    # Re-planning without new images changes nothing and writes nothing.
    again = project_plan(project)
    assert set(again.val_ids) == val1 and not again.new_val_ids and not again.new_train_ids
    _add(project, [f"b{i}" for i in range(14)])
    plan2 = apply_plan(project)
    assert val1 <= set(plan2.val_ids) and train1 <= set(plan2.train_ids)
    assert len(plan2.val_ids) == val_target(20)
    assert plan2.locked_val == len(val1)
    for image_id in val1:
        assert project.split_of(image_id) == "val"
    with pytest.raises(StoreError, match="another split"):
        project.assign_split([next(iter(val1))], "train")


def test_plan_of_records_ignores_other_templates(project):
    _add(project, [f"a{i}" for i in range(5)])
    records = project.images()
    plan = plan_splits(records, "T1-L5")
    assert plan.total == 0 and plan.other_template == 5 and not plan.enough


def test_validation_mix_warns_when_most_were_accepted_unchanged(project):
    ids = _add(project, [f"a{i}" for i in range(10)], source="accepted_prediction")
    project.assign_split(ids[:2], "val")  # two accepted validation images, locked
    _add(project, ["m0"], source="manual")
    plan = project_plan(project)
    assert plan.val_sources == {"accepted_prediction": 2}
    assert plan.mostly_accepted
    text = plan.validation_mix()
    assert "Of the 2 validation images" in text and "2 accepted unchanged" in text
    assert "agreement with the current model" in text


def test_validation_mix_is_quiet_when_the_readers_corrected_them(project):
    ids = _add(project, [f"a{i}" for i in range(5)], source="manual")
    project.assign_split(ids[:1], "val")
    plan = project_plan(project)
    assert plan.val_sources == {"manual": 1} and not plan.mostly_accepted
    text = plan.validation_mix()
    assert "1 corrected by hand" in text and "agreement" not in text
