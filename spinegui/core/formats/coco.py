"""COCO keypoints JSON, the format most labelling and training tools exchange.

One category per spine template, its keypoints the template's landmark names
and its skeleton the vertebra boxes, so CVAT, Label Studio or pycocotools
show the boxes without knowing anything about spines. What COCO has no field
for (dataset Cobb angles, pixel spacing, the template of an unannotated
image) travels in extra fields on the image entry, which COCO readers ignore.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from spinegui.core.errors import FormatError, LandmarkError
from spinegui.core.formats.records import (
    MAX_SIDE,
    AnnotatedImage,
    check_image_size,
    image_file,
    relative_path,
)
from spinegui.core.landmarks import as_landmarks, to_flat
from spinegui.core.outputs import atomic_write, check_file_target
from spinegui.core.templates import DEFAULT_TEMPLATE, TEMPLATES, SpineTemplate, get_template

_CATEGORY_IDS = {name: i + 1 for i, name in enumerate(TEMPLATES)}


def skeleton(template: SpineTemplate) -> list[list[int]]:
    """Box edges TL-TR, TR-BR, BR-BL, BL-TL per vertebra, 1-based as COCO numbers keypoints."""
    edges = []
    for v in range(template.n_vertebrae):
        tl, tr, bl, br = (4 * v + c + 1 for c in range(4))
        edges += [[tl, tr], [tr, br], [br, bl], [bl, tl]]
    return edges


def write_coco(
    records: list[AnnotatedImage],
    path: str | Path,
    *,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
) -> Path:
    """Write records as one COCO keypoints file; image paths relative to it where possible.

    An existing file is replaced only with ``overwrite``; the file appears
    whole or not at all; nothing is written into a ``protected`` folder
    (see ``spinegui.core.outputs``).
    """
    path = check_file_target(
        path, overwrite=overwrite, inputs=[r.image for r in records], protected=protected
    )
    images, annotations = [], []
    for image_id, rec in enumerate(records, start=1):
        entry = {
            "id": image_id,
            "file_name": relative_path(rec.image, path.parent),
            "width": int(rec.width),
            "height": int(rec.height),
            "template": rec.template,
        }
        if rec.angles is not None:
            entry["cobb_angles"] = [float(a) for a in rec.angles]
        if rec.spacing_mm is not None:
            entry["pixel_spacing_mm"] = [float(s) for s in rec.spacing_mm]
        images.append(entry)
        if rec.landmarks is not None:
            annotations.append(_annotation(len(annotations) + 1, image_id, rec))
    categories = [
        {
            "id": _CATEGORY_IDS[t.name],
            "name": t.name,
            "supercategory": "spine",
            "keypoints": t.landmark_names(),
            "skeleton": skeleton(t),
        }
        for t in TEMPLATES.values()
    ]
    doc = {
        "info": {"description": "spinegui vertebra corner landmarks"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    atomic_write(path, json.dumps(doc, indent=1))
    return path


def _annotation(ann_id: int, image_id: int, rec: AnnotatedImage) -> dict:
    template = get_template(rec.template)
    points = to_flat(as_landmarks(rec.landmarks, template))
    keypoints = np.column_stack([points, np.full(len(points), 2.0)]).ravel()
    lo, hi = points.min(axis=0), points.max(axis=0)
    w, h = (hi - lo).tolist()
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": _CATEGORY_IDS[template.name],
        "keypoints": keypoints.tolist(),
        "num_keypoints": len(points),
        "bbox": [float(lo[0]), float(lo[1]), w, h],
        "area": w * h,
        "iscrowd": 0,
    }


def read_coco(
    path: str | Path, *, image_root: str | Path | None = None, allow_outside: bool = False
) -> list[AnnotatedImage]:
    """Read a COCO keypoints file written by spinegui or any tool using its categories.

    Every image must be a readable image file of the size its entry states, and
    must lie inside ``image_root`` (default: the folder of the JSON file) unless
    ``allow_outside``: a ``file_name`` of ``/etc/passwd`` or ``../../x`` is how a
    crafted file makes a program read (and later copy out) files it never meant to.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FormatError(f"Cannot read {path}: {e.strerror}.", "Check the path.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(
            f"{path.name} is not valid JSON ({e}).", "Export the COCO file again."
        ) from None
    except RecursionError:
        raise FormatError(
            f"{path.name} nests its JSON too deeply to be a COCO file.",
            "Export the COCO file again.",
        ) from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
            raise FormatError(
                f"{path.name} is not a COCO file: it has no {key!r} list.",
                "Export annotations as COCO keypoints JSON.",
            )
    templates = _categories(doc["categories"], path.name)
    points_of = _annotations(doc["annotations"], templates, path.name)
    records = []
    for i, entry in enumerate(doc["images"]):
        where = f"{path.name}: images[{i}]"
        image_id = _key(entry, "id", where)
        template, landmarks = points_of.pop(image_id, (None, None))
        if template is None:
            template = entry.get("template", DEFAULT_TEMPLATE)
            if not isinstance(template, str) or template not in TEMPLATES:
                raise FormatError(
                    f"{where} names unknown template {template!r}.",
                    f"Use one of {', '.join(TEMPLATES)}.",
                )
        image = image_file(
            path.parent, _field(entry, "file_name", where), where, image_root, allow_outside
        )
        width, height = _size(entry, "width", where), _size(entry, "height", where)
        check_image_size(image, (width, height), where)
        records.append(
            AnnotatedImage(
                image=image,
                width=width,
                height=height,
                template=template,
                landmarks=landmarks,
                angles=_floats(entry.get("cobb_angles"), 3, f"{where}.cobb_angles"),
                spacing_mm=_floats(entry.get("pixel_spacing_mm"), 2, f"{where}.pixel_spacing_mm"),
            )
        )
    if points_of:
        orphan = next(iter(points_of))
        raise FormatError(
            f"{path.name}: an annotation refers to image_id {orphan}, which no image has.",
            "Export the COCO file again, with its images.",
        )
    return records


def _field(entry: object, key: str, where: str):
    if not isinstance(entry, dict) or key not in entry:
        raise FormatError(f"{where} has no {key!r} field.", "Export the COCO file again.")
    return entry[key]


def _key(entry: object, key: str, where: str) -> int | str:
    """An id field: COCO ids are integers (strings accepted); lists or dicts are not ids."""
    value = _field(entry, key, where)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FormatError(f"{where}.{key} is {_shown(value)}, not an id.", "Ids are whole numbers.")
    return value


def _size(entry: dict, key: str, where: str) -> int:
    value = _field(entry, key, where)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value != int(value) or not 0 < value <= MAX_SIDE:
        raise FormatError(
            f"{where}.{key} is {_shown(value)}, not an image size in pixels.",
            f"Give a whole number from 1 to {MAX_SIDE}.",
        )
    return int(value)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _floats(value, n: int, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        out = ()
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise FormatError(f"{where} must be a list of {n} numbers.", "Fix or remove that field.")
    return out


def _categories(categories: list, name: str) -> dict[int, SpineTemplate]:
    """Map category ids to templates, checking the keypoint names match exactly."""
    templates = {}
    for i, cat in enumerate(categories):
        where = f"{name}: categories[{i}]"
        cat_name = _field(cat, "name", where)
        template = TEMPLATES.get(cat_name) if isinstance(cat_name, str) else None
        if template is None:
            raise FormatError(
                f"{where} is {cat_name!r}, which is not a spine template.",
                f"Name the category after a template: {', '.join(TEMPLATES)}.",
            )
        if cat.get("keypoints") != template.landmark_names():
            raise FormatError(
                f"{where} ({cat_name}) lists keypoints that are not the template's "
                f"{template.n_landmarks} landmark names in order.",
                f"Expected {', '.join(template.landmark_names()[:4])}, ...",
            )
        templates[_key(cat, "id", where)] = template
    return templates


def _annotations(
    annotations: list, templates: dict[int, SpineTemplate], name: str
) -> dict[object, tuple[str, np.ndarray]]:
    out: dict[object, tuple[str, np.ndarray]] = {}
    for i, ann in enumerate(annotations):
        where = f"{name}: annotations[{i}]"
        template = templates.get(_key(ann, "category_id", where))
        if template is None:
            raise FormatError(
                f"{where} has category_id {ann['category_id']!r}, which no category has.",
                "Export the COCO file again, with its categories.",
            )
        image_id = _key(ann, "image_id", where)
        if image_id in out:
            raise FormatError(
                f"{where} is a second landmark set for image_id {image_id}.",
                "Keep one annotation per image.",
            )
        try:
            kp = np.asarray(_field(ann, "keypoints", where), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            kp = np.empty(0)
        if kp.ndim != 1 or kp.size != 3 * template.n_landmarks or not np.isfinite(kp).all():
            raise FormatError(
                f"{where} has {kp.size} keypoint values; template {template.name} needs "
                f"{3 * template.n_landmarks} numbers (x, y, visibility for "
                f"{template.n_landmarks} landmarks).",
                "Check that the annotation was made with this template.",
            )
        kp = kp.reshape(-1, 3)
        if np.any(kp[:, 2] == 0):
            missing = template.landmark_names()[int(np.argmax(kp[:, 2] == 0))]
            raise FormatError(
                f"{where} leaves landmark {missing} unlabelled (visibility 0).",
                "Place every corner of every vertebra before exporting.",
            )
        try:
            points = as_landmarks(kp[:, :2], template)
        except LandmarkError as exc:
            raise FormatError(f"{where}: {exc.message}", exc.hint) from None
        out[image_id] = (template.name, points)
    return out
