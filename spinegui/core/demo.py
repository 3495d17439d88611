"""The demo project: synthetic X-rays on which every feature can be tried safely.

People evaluating the tool should not need patient data, and a first run
should show the whole loop (prediction in red, truth in green, corrections,
Cobb angles, retraining). So the demo holds C7-L5 phantoms with exact
landmarks: half come with imported ground truth (something to compare and to
train on), half without (something to predict and correct), mixing C and S
curves over a clinical range of angles.

The folder is built in a hidden sibling and renamed into place, so an
interrupted build never leaves a half-made project that a second run would
take for the demo. Images are deterministic per seed, so an image file that
went missing is redrawn bit for bit on the next run instead of breaking the
project. The shipped model is registered by absolute path (it lives outside
the folder), so the project opens from any working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from spinegui.core.errors import StoreError
from spinegui.core.imageio import file_sha256
from spinegui.core.model_card import register_shipped_model
from spinegui.core.phantom import batch_seeds, generate_phantom
from spinegui.core.store import DB_NAME, Project

__all__ = [
    "DEMO_MARKER",
    "DEMO_TEMPLATE",
    "build_demo_project",
    "default_demo_folder",
    "demo_plan",
]

DEMO_TEMPLATE = "C7-L5"
DEMO_MARKER = "demo.json"
MARKER_KIND = "spinegui-demo"
IMAGE_SIZE = (1536, 768)  # (height, width): small enough to load instantly, 2:1 like an AP film
COBB_RANGE = (8.0, 55.0)  # mild to surgical: the range reviewers meet in clinic


def default_demo_folder() -> Path:
    """Where ``spinegui demo`` keeps its project: the user's data folder, not the cwd."""
    import platformdirs

    return Path(platformdirs.user_data_dir("spinegui", appauthor=False)) / "demo"


def demo_plan(count: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """What each demo image shows: file, phantom seed, curve, Cobb angle, truth or not.

    Truth alternates so both halves hold both curve shapes; angles are spread
    evenly over ``COBB_RANGE`` and shuffled so neighbours in the worklist
    differ.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    angles = np.linspace(*COBB_RANGE, count)
    np.random.default_rng(seed).shuffle(angles)
    return [
        {
            "file": f"images/demo_{i + 1:02d}.png",
            "seed": s,
            "curve": "C" if (i // 2) % 2 == 0 else "S",
            "cobb_deg": round(float(angles[i]), 1),
            "ground_truth": i % 2 == 0,
        }
        for i, s in enumerate(batch_seeds(seed, count))
    ]


def _render(entry: dict[str, Any], path: Path):
    """Draw one planned phantom and write it as a 16-bit PNG; returns the phantom."""
    ph = generate_phantom(
        DEMO_TEMPLATE,
        entry["seed"],
        cobb_deg=entry["cobb_deg"],
        curve=entry["curve"],
        size=IMAGE_SIZE,
    )
    pixels = np.round(np.clip(ph.image, 0.0, 1.0) * 65535).astype(np.uint16)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), pixels):
        raise StoreError(
            f"Could not write the demo image {path}.",
            "Check that the disk has free space and that you may write to that folder.",
        )
    return ph


def _fill(folder: Path, count: int, seed: int) -> None:
    plan = demo_plan(count, seed)
    with Project.create(folder, DEMO_TEMPLATE) as project:
        for entry in plan:
            path = folder / entry["file"]
            ph = _render(entry, path)
            spacing = 1.0 / float(ph.params["px_per_mm"])
            image_id = project.add_image(
                path,
                width=ph.image.shape[1],
                height=ph.image.shape[0],
                sha256=file_sha256(path),
                spacing_mm=(spacing, spacing),
                bit_depth=16,
                template=DEMO_TEMPLATE,
            )
            if entry["ground_truth"]:
                project.set_ground_truth(image_id, ph.landmarks, source="import", kind="import")
    marker = {
        "kind": MARKER_KIND,
        "format_version": 1,
        "template": DEMO_TEMPLATE,
        "count": count,
        "seed": seed,
        "size": list(IMAGE_SIZE),
        "images": plan,
    }
    (folder / DEMO_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / DEMO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") == MARKER_KIND else None


def _build_fresh(folder: Path, count: int, seed: int) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StoreError(
            f"{folder} already holds other files, so the demo project cannot be made there.",
            "Choose an empty or new folder for the demo project.",
        )
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    except OSError as exc:
        raise StoreError(
            f"Could not create the demo project in {folder.parent}: {exc.strerror or exc}.",
            "Choose a folder you are allowed to write to.",
        ) from exc
    try:
        _fill(staging, count, seed)
        if folder.is_dir():
            folder.rmdir()  # empty, checked above; rename cannot replace a folder
        os.rename(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if _read_marker(folder) is not None:
            return  # another process finished the same demo first: use theirs
        raise StoreError(
            f"Could not create the demo project in {folder}: {exc.strerror or exc}.",
            "Check free disk space and that you may write to that folder.",
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _restore_missing_images(folder: Path, marker: dict[str, Any]) -> list[Path]:
    """Redraw demo images that were deleted; the seed makes them the same pixels."""
    restored = []
    for entry in marker.get("images", []):
        path = folder / entry["file"]
        if not path.exists():
            _render(entry, path)
            restored.append(path)
    return restored


def build_demo_project(
    folder: str | os.PathLike[str],
    count: int = 12,
    seed: int = 0,
    *,
    models_folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Create the demo project in ``folder``, or bring an existing one up to date.

    Returns the project folder. ``models_folder`` replaces the shipped
    ``model/`` folder (tests, or a site's own model collection). Calling it
    again reuses the project and its edits: it only redraws missing images
    and registers a newly shipped model. A folder holding any other project
    is refused rather than changed.
    """
    folder = Path(folder).expanduser().resolve()
    if (folder / DB_NAME).exists():
        marker = _read_marker(folder)
        if marker is None:
            raise StoreError(
                f"{folder} holds a spinegui project that is not the demo project.",
                "Open it as a normal project, or choose another folder for the demo.",
            )
        _restore_missing_images(folder, marker)
    else:
        _build_fresh(folder, count, seed)
    with Project.open(folder) as project:
        register_shipped_model(project, models_folder, follow_updates=True)
    return folder
