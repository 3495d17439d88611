"""Bridge between the project store and the neutral ``AnnotatedImage`` records.

Importers produce records and exporters consume them; the store keeps images
and landmarks by id. These two functions are the only place that converts, so
the CLI, the trainer and the GUI agree on what "the project's annotations" are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from spinegui.core.errors import ImageLoadError, LandmarkError, TemplateError
from spinegui.core.formats.records import AnnotatedImage
from spinegui.core.imageio import file_sha256
from spinegui.core.landmarks import as_landmarks
from spinegui.core.store import FileProblem, Project
from spinegui.core.templates import get_template


@dataclass
class ImagesAdded:
    """Which X-rays adding files (or retrieving them) added, found already there, or failed.

    One summary for the window's imports and the PACS retrievals, so both say
    the same things in the same words.
    """

    added: list[int] = field(default_factory=list)
    already_there: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    FAILED: ClassVar[str] = "could not be read"
    NOTHING: ClassVar[str] = "no images found"

    def summary_parts(self) -> list[str]:
        parts = []
        if self.added:
            parts.append(f"{len(self.added)} image(s) added")
        if self.already_there:
            parts.append(f"{len(self.already_there)} already in the project")
        if self.failed:
            parts.append(f"{len(self.failed)} {self.FAILED}")
        return parts

    def summary(self) -> str:
        return ", ".join(self.summary_parts()) or self.NOTHING


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

    Records of another spine template than the project's are refused as a
    whole, before anything is added: T1-L5 landmarks in a C7-L5 project would
    put every vertebra one level off. Within a matching import, a record whose
    image cannot be read or whose landmarks are unusable is skipped and named,
    as is an image already in the project (same content hash), rather than
    ending the import half done.
    """
    records = list(records)
    check_template(project, records)
    result = AddResult()
    for i, rec in enumerate(records):
        try:
            _add_record(project, rec, source, result)
        except (ImageLoadError, LandmarkError) as exc:
            result.skipped.append(f"{rec.name}: {exc.message}")
        if on_progress is not None:
            on_progress(i + 1)
    return result


def _add_record(project: Project, rec: AnnotatedImage, source: str, result: AddResult) -> None:
    landmarks = None if rec.landmarks is None else as_landmarks(rec.landmarks, rec.template)
    digest = file_sha256(rec.image)
    existing = project.find_image_by_hash(digest)
    if existing is not None:
        result.skipped.append(f"{rec.name}: already in the project as image {existing.id}")
        return
    image_id = project.add_image(
        rec.image,
        width=rec.width,
        height=rec.height,
        sha256=digest,
        spacing_mm=rec.spacing_mm,
        template=rec.template,
    )
    if landmarks is not None:
        project.set_ground_truth(image_id, landmarks, source=source)
    result.added.append(image_id)


def check_template(project: Project, records: list[AnnotatedImage]) -> None:
    """Refuse records made for another spine template than the project's, saying why."""
    want = project.template
    other = sorted({r.template for r in records} - {want.name})
    if other:
        theirs = get_template(other[0])
        raise TemplateError(
            f"The data uses template {theirs.name} ({theirs.n_vertebrae} vertebrae, "
            f"{theirs.vertebrae[0]} to {theirs.vertebrae[-1]}), but the project "
            f"{project.folder} is {want.name} ({want.n_vertebrae} vertebrae): every "
            "landmark would land on the wrong vertebra.",
            f"Import it into a {theirs.name} project (a new folder is made for you), "
            "or choose a project of that template.",
        )


def project_records(
    project: Project, *, reviewed_only: bool = False, skip: Iterable[int] = ()
) -> list[AnnotatedImage]:
    """Every image of the project as a record with its ground truth (or None)."""
    out = []
    left_out = set(skip)
    for img in project.images():
        if (reviewed_only and img.status != "reviewed") or img.id in left_out:
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


def checked_records(
    project: Project, *, reviewed_only: bool = False
) -> tuple[list[AnnotatedImage], list[FileProblem]]:
    """``project_records`` without images whose file is gone or no longer the annotated one.

    The landmarks of a replaced X-ray belong to the image it replaced; handing
    them on with the new file (to an export, say) would attach one patient's
    measurements to another's picture. The problems are returned for a report.
    """
    problems = project.check_files()
    records = project_records(
        project, reviewed_only=reviewed_only, skip=(p.image_id for p in problems)
    )
    return records, problems
