"""Bridge between the project store and the neutral ``AnnotatedImage`` records.

Importers produce records and exporters consume them; the store keeps images
and landmarks by id. These two functions are the only place that converts, so
the CLI, the trainer and the GUI agree on what "the project's annotations" are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from spinegui.core.formats.records import AnnotatedImage
from spinegui.core.imageio import file_sha256
from spinegui.core.store import Project


@dataclass
class AddResult:
    """What ``add_records`` did, for a report a person reads."""

    added: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def add_records(
    project: Project,
    records: Iterable[AnnotatedImage],
    *,
    source: str = "import",
    on_progress: Callable[[int], None] | None = None,
) -> AddResult:
    """Add each record's image (hashed now) and its landmarks as ground truth.

    An image already in the project (same content hash) is skipped and named
    in the result rather than aborting the whole import.
    """
    result = AddResult()
    for i, rec in enumerate(records):
        digest = file_sha256(rec.image)
        existing = project.find_image_by_hash(digest)
        if existing is not None:
            result.skipped.append(f"{rec.name}: already in the project as image {existing.id}")
        else:
            image_id = project.add_image(
                rec.image,
                width=rec.width,
                height=rec.height,
                sha256=digest,
                spacing_mm=rec.spacing_mm,
                template=rec.template,
            )
            if rec.landmarks is not None:
                project.set_ground_truth(image_id, rec.landmarks, source=source)
            result.added.append(image_id)
        if on_progress is not None:
            on_progress(i + 1)
    return result


def project_records(project: Project, *, reviewed_only: bool = False) -> list[AnnotatedImage]:
    """Every image of the project as a record with its ground truth (or None)."""
    out = []
    for img in project.images():
        if reviewed_only and img.status != "reviewed":
            continue
        out.append(
            AnnotatedImage(
                image=img.path,
                width=img.width,
                height=img.height,
                template=img.template,
                landmarks=project.ground_truth(img.id),
                spacing_mm=img.spacing_mm,
            )
        )
    return out
