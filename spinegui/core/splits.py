"""Which reviewed images a retrain learns from and which it is checked on.

Why a *locked* validation set: the before/after table a reviewer reads when
deciding whether to adopt a new model is only meaningful if every model is
scored on the same images, and only honest if no model ever trained on them.
So an image, once put in validation, stays there for every later retrain, and
an image once trained on never moves to validation (``Project.assign_split``
enforces both). New reviewed images only ever *add* to either side.

Why a quota rather than a hash threshold: with the handful of images a
clinic starts with, a pure "hash below 20 %" rule often yields no validation
image at all, or half of them. Instead validation is topped up to
``max(MIN_VAL, round(VAL_FRACTION * total))`` images, choosing among the new
images by their content hash. That is deterministic (same project state, same
plan, whether the GUI or ``spinegui train --project`` makes it) and
independent of file names or the order images were added.

No Qt and no torch: the GUI counts with this on every refresh, and the trainer
process applies the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from spinegui.core.store import ImageRecord, Project

__all__ = [
    "MIN_TRAIN",
    "MIN_VAL",
    "VAL_FRACTION",
    "SplitPlan",
    "apply_plan",
    "plan_splits",
    "project_plan",
    "val_target",
]

VAL_FRACTION = 0.2
"""Share of the reviewed images kept aside to check each new model."""
MIN_TRAIN = 4
"""Fewer images than one mini-batch of the paper's size cannot teach the network anything."""
MIN_VAL = 1
"""Without a validation image there is no before/after comparison and no best epoch."""


def val_target(total: int) -> int:
    """How many of ``total`` reviewed images validation should hold."""
    return max(MIN_VAL, round(VAL_FRACTION * total)) if total > 0 else 0


@dataclass(frozen=True)
class SplitPlan:
    """What a retrain would use now; ``new_*`` are assignments not yet written."""

    template: str
    train_ids: list[int]
    val_ids: list[int]
    new_train_ids: list[int] = field(default_factory=list)
    new_val_ids: list[int] = field(default_factory=list)
    corrected: int = 0
    """Reviewed images whose landmarks a person moved (store source "manual")."""
    accepted: int = 0
    """Reviewed images whose prediction was accepted unchanged."""
    imported: int = 0
    """Reviewed images whose landmarks came from an import."""
    unreviewed_with_truth: int = 0
    """Images with landmarks that are not marked reviewed yet (not used)."""
    other_template: int = 0
    """Reviewed images of another spine template than the project's (not used)."""
    val_sources: dict[str, int] = field(default_factory=dict)
    """Validation images by landmark source ("manual", "accepted_prediction", "import")."""

    def validation_mix(self) -> str:
        """How the validation landmarks came about, and a warning when they say little.

        A prediction accepted unchanged is the current model's own answer: scoring
        models against it mostly measures agreement with the current model.
        """
        n = len(self.val_ids)
        if n == 0:
            return ""
        edited = self.val_sources.get("manual", 0)
        accepted = self.val_sources.get("accepted_prediction", 0)
        imported = self.val_sources.get("import", 0)
        parts = [f"{edited} corrected by hand", f"{accepted} accepted unchanged"]
        if imported:
            parts.append(f"{imported} with imported landmarks")
        text = f"Of the {n} validation image{'s' if n != 1 else ''}: {', '.join(parts)}."
        if accepted > n / 2:
            text += (
                " Most were accepted as the model drew them, so this comparison mostly "
                "measures agreement with the current model, not accuracy. Correct (or "
                "import) more validation images for a fair test."
            )
        return text

    @property
    def mostly_accepted(self) -> bool:
        return self.val_sources.get("accepted_prediction", 0) > len(self.val_ids) / 2

    @property
    def total(self) -> int:
        return len(self.train_ids) + len(self.val_ids)

    @property
    def locked_val(self) -> int:
        return len(self.val_ids) - len(self.new_val_ids)

    @property
    def enough(self) -> bool:
        return len(self.train_ids) >= MIN_TRAIN and len(self.val_ids) >= MIN_VAL

    @property
    def more_needed(self) -> int:
        """How many more reviewed images would make a retrain possible (0 when enough)."""
        n_train, n_val, total = len(self.train_ids), len(self.val_ids), self.total
        extra = 0
        while n_train < MIN_TRAIN or n_val < MIN_VAL:
            extra += 1
            total += 1
            # A new image tops validation up first, exactly as plan_splits would.
            if n_val < val_target(total):
                n_val += 1
            else:
                n_train += 1
        return extra

    def shortage_message(self) -> str:
        """Plain words for a reviewer: why Retrain is not possible yet and what to do."""
        if self.enough:
            return ""
        need = self.more_needed
        return (
            f"Retraining needs at least {MIN_TRAIN + MIN_VAL} reviewed images with landmarks "
            f"({MIN_TRAIN} to learn from and {MIN_VAL} to check the new model on). "
            f"This project has {self.total}: review {need} more "
            f"image{'s' if need != 1 else ''} (check or correct the landmarks, then mark "
            "the image reviewed)."
        )


def _is_usable(rec: ImageRecord, template: str) -> bool:
    return rec.status == "reviewed" and rec.gt_source is not None and rec.template == template


def plan_splits(images: Iterable[ImageRecord], template: str) -> SplitPlan:
    """The train/validation split a retrain would use, keeping every existing assignment."""
    images = list(images)
    usable = [r for r in images if _is_usable(r, template)]
    train = [r.id for r in usable if r.split == "train"]
    val = [r.id for r in usable if r.split == "val"]
    new = sorted((r for r in usable if r.split is None), key=lambda r: (r.sha256, r.id))
    need_val = max(0, val_target(len(usable)) - len(val))
    new_val = sorted(r.id for r in new[:need_val])
    new_train = sorted(r.id for r in new[need_val:])
    sources = [r.gt_source for r in usable]
    val_set = set(val + new_val)
    val_sources: dict[str, int] = {}
    for r in usable:
        if r.id in val_set:
            val_sources[r.gt_source] = val_sources.get(r.gt_source, 0) + 1
    return SplitPlan(
        template=template,
        train_ids=sorted(train + new_train),
        val_ids=sorted(val + new_val),
        new_train_ids=new_train,
        new_val_ids=new_val,
        corrected=sources.count("manual"),
        accepted=sources.count("accepted_prediction"),
        imported=sources.count("import"),
        unreviewed_with_truth=sum(
            1 for r in images if r.gt_source is not None and r.status != "reviewed"
        ),
        other_template=sum(
            1
            for r in images
            if r.status == "reviewed" and r.gt_source is not None and r.template != template
        ),
        val_sources=val_sources,
    )


def project_plan(project: Project) -> SplitPlan:
    """``plan_splits`` over a project's images and template."""
    return plan_splits(project.images(), project.template.name)


def apply_plan(project: Project, plan: SplitPlan | None = None) -> SplitPlan:
    """Write the plan's new assignments (permanent); returns the plan that was applied.

    Re-planned from the store when ``plan`` is None, so a caller that counted
    a while ago cannot write a stale plan over images reviewed since.
    """
    plan = plan or project_plan(project)
    if plan.new_val_ids:
        project.assign_split(plan.new_val_ids, "val")
    if plan.new_train_ids:
        project.assign_split(plan.new_train_ids, "train")
    return plan
