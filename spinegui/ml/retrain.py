"""Retraining a project's model: the parts shared by the GUI panel and ``spinegui train``.

Why this module exists: the Retrain button runs ``spinegui train --project``
in a child process, and a person at a terminal can run the very same command.
For the two to give the same model, everything that decides *what* is run
lives here and nowhere else: the settings and their command-line form, the
new model's version name, the before/after comparison on the locked
validation images, the model card written when a model is adopted.

Importing this module must not import torch: the GUI process imports it to
build the command and to parse the trainer's output, and torch would add
seconds to the window's start and memory the trainer process already uses.
Only ``compare_on_validation`` (run inside the trainer) touches torch, lazily.

Decisions recorded here:

- A candidate model is registered in the project only when adopted. Discard
  (and a cancelled or failed run) deletes the candidate's files, so the
  project's model list holds exactly the models that were once in use and
  ``models/`` does not fill up with hundreds of megabytes of rejects. The same
  run can be reproduced from its settings and seed.
- The version name is ``retrain-NN``, numbered on from the project's models
  and files, and the checkpoint is ``models/retrain-NN.safetensors``: the
  file name is what ``Predictor.version`` reports, so predictions are stored
  under the same name the model has in the project.
"""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from spinegui.core.errors import SpineguiError
from spinegui.ml.events import ComparisonEvent, event_from_json
from spinegui.ml.presets import DEFAULT_PRESET

__all__ = [
    "ComparisonEvent",
    "RetrainSettings",
    "adopt_candidate",
    "build_card",
    "compare_on_validation",
    "discard_candidate",
    "new_version_name",
    "parse_event",
    "train_arguments",
    "train_command",
]

VERSION_PREFIX = "retrain-"


PAPER_LR = 1e-4
"""The paper's Adam learning rate, for a network trained from scratch."""

FINE_TUNE_LR = 1e-5
"""Improving a trained model on a few corrected images: a tenth of the paper's rate.

Measured with bench/active_learning.py (shipped T1-L5 model, 20 corrected
held-out AASCE X-rays, error on 20 further ones): at 1e-4 the retrain made the
next images worse (63.7 -> 77.8 px mean error); at 1e-5 it helped (62.7 px,
Cobb SMAPE 21.0 -> 17.2 %)."""


def default_lr(start: str) -> float:
    """The learning rate a retrain starts with for ``start`` ("active" or "scratch")."""
    return FINE_TUNE_LR if start == "active" else PAPER_LR


@dataclass
class RetrainSettings:
    """What a person can choose for a retrain; defaults are the paper's where it has one.

    ``epochs`` is not from the paper (it does not say); 30 epochs starting
    from the active model is enough for a few dozen corrected images to show
    their effect, and early stopping ends the run sooner when the validation
    loss stops improving.
    """

    epochs: int = 30
    lr: float = FINE_TUNE_LR
    """For ``start="active"``; a new network starts with ``PAPER_LR`` (see ``default_lr``)."""
    alpha: float = 0.01
    batch_size: int = 4
    start: str = "active"
    """"active": fine-tune the project's active model; "scratch": a new network."""
    preset: str = DEFAULT_PRESET
    """Only used from scratch: a fine-tuned model keeps its parent's image size."""
    device: str = "auto"
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetrainSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def train_arguments(project_folder: str | Path, out: str | Path, s: RetrainSettings) -> list[str]:
    """The ``spinegui train`` arguments (after ``spinegui``) for a project retrain."""
    args = [
        "train",
        "--project",
        str(project_folder),
        "--out",
        str(out),
        "--epochs",
        str(int(s.epochs)),
        "--lr",
        repr(float(s.lr)),
        "--alpha",
        repr(float(s.alpha)),
        "--batch-size",
        str(int(s.batch_size)),
        "--device",
        s.device,
        "--seed",
        str(int(s.seed)),
    ]
    if s.start == "active":
        args += ["--init-from", "active"]
    else:
        args += ["--preset", s.preset]
    return args


def train_command(
    project_folder: str | Path, out: str | Path, s: RetrainSettings, *, json_progress: bool = True
) -> tuple[str, list[str]]:
    """(program, arguments) to start the trainer as a child process of this Python."""
    args = ["-m", "spinegui", *train_arguments(project_folder, out, s)]
    if json_progress:
        args.append("--json-progress")
    return sys.executable, args


def new_version_name(project) -> str:
    """``retrain-NN``, reserved in the project's database for this run alone.

    The store numbers on from every model, reservation and file and records
    the reservation in the same transaction, so two retrains started at once
    never share a name (nor a checkpoint file).
    """
    return project.reserve_model_version(VERSION_PREFIX)


# ------------------------------------------------------------------ comparison


parse_event = event_from_json
"""One ``--json-progress`` line of a project run, the comparison event included."""


COMPARISON_ROWS: list[dict[str, Any]] = [
    {"key": "cobb_mae", "label": "Main Cobb angle error (°)", "fmt": ".1f", "better": "lower"},
    {"key": "within5_pct", "label": "Within 5° of the truth (%)", "fmt": ".0f",
     "better": "higher"},
    {"key": "within10_pct", "label": "Within 10° of the truth (%)", "fmt": ".0f",
     "better": "higher"},
    {"key": "cobb_bias", "label": "Angle bias, predicted − true (°)", "fmt": "+.1f",
     "better": "zero"},
    {"key": "cobb_slope", "label": "Angle slope, predicted vs true (1 = ideal)", "fmt": ".2f",
     "better": "one"},
    {"key": "tilt_deg", "label": "Vertebra tilt error (°)", "fmt": ".1f", "better": "lower"},
    {"key": "mean_px", "label": "Mean corner error (px)", "fmt": ".1f", "better": "lower"},
    {"key": "mean_mm", "label": "Mean corner error (mm)", "fmt": ".2f", "better": "lower"},
    {"key": "smape", "label": "Cobb angle SMAPE (%)", "fmt": ".1f", "better": "lower"},
    {"key": "pearson_r", "label": "Pearson r (1 = perfect)", "fmt": ".3f", "better": "higher"},
]  # fmt: skip
"""The comparison's figures in the order a clinician reads them, with how to show each.

``better`` is "lower", "higher", "zero" (closest to 0 is best) or "one"; for
the last two a change is shown without a verdict. A row whose value is None
for both models (mm without pixel spacing) is not shown."""


def _figures_dict(fig, version: str, path: Path) -> dict[str, Any]:
    return {
        "version": version,
        "path": str(path),
        "mean_px": fig.mean_px,
        "median_px": fig.median_px,
        "per_vertebra_px": list(fig.per_vertebra_px),
        "smape": fig.smape,
        "pearson_r": fig.pearson_r,
        "mean_mm": fig.mean_mm,
        "per_vertebra_mm": fig.per_vertebra_mm,
        "n_smape_images": fig.n_smape_images,
        "cobb_mae": fig.cobb_mae,
        "within5_pct": None if fig.within5 is None else 100.0 * fig.within5,
        "within10_pct": None if fig.within10 is None else 100.0 * fig.within10,
        "cobb_bias": fig.cobb_bias,
        "cobb_slope": fig.cobb_slope,
        "tilt_deg": fig.tilt_deg,
        "per_vertebra_tilt_deg": fig.per_vertebra_tilt_deg,
    }


def compare_on_validation(
    val_set,
    models: list[tuple[str, str, Path]],
    *,
    device: str = "auto",
    reload=None,
) -> ComparisonEvent:
    """Score each (role, version, path) model on ``val_set``; roles are "current" and "new".

    ``val_set`` is cached at the run's network size; a model made for another
    size (the active model may be a "fast" one while a from-scratch run is
    "tiny") is scored on the same images re-read at its size via
    ``reload(preset)``. A model that cannot be scored (wrong template, file
    gone) is reported in ``notes`` instead of ending a run that already
    succeeded.
    """
    import numpy as np

    from spinegui.core.templates import get_template
    from spinegui.ml.evaluate import figures
    from spinegui.ml.predict import Predictor

    results: dict[str, dict[str, Any] | None] = {"current": None, "new": None}
    notes: list[str] = []
    for role, version, path in models:
        try:
            predictor = Predictor.load(path, device=device, expected_template=val_set.template)
            data = val_set
            if tuple(predictor.data_hw) != tuple(val_set.input_hw):
                if reload is None:
                    raise SpineguiError(
                        f"Model {version} expects images of {predictor.data_hw}.", ""
                    )
                data = reload(predictor.network_preset()).select_ids(val_set.ids)
            sizes = [(s.width, s.height) for s in data.samples]
            # With the mirrored image, as the review window predicts: the figures a reader
            # compares are those of the boxes they would see.
            preds = predictor.predict_resized(data.images(), sizes, tta=True)
            pred_px = np.stack([p.landmarks for p in preds])
            true_px = np.stack([s.landmarks for s in data.samples])
            fig = figures(
                role,
                pred_px,
                true_px,
                [s.height for s in data.samples],
                [s.spacing_mm for s in data.samples],
            )
            results[role] = _figures_dict(fig, version, Path(path))
        except SpineguiError as exc:
            notes.append(f"The {role} model {version} could not be scored: {exc.message}")
    return ComparisonEvent(
        val_images=len(val_set),
        vertebrae=list(get_template(val_set.template).vertebrae),
        current=results["current"],
        new=results["new"],
        notes=notes,
        rows=[dict(r) for r in COMPARISON_ROWS],
    )


def format_comparison(event: ComparisonEvent) -> str:
    """A plain-text before/after table for the terminal."""

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    cur, new = event.current or {}, event.new or {}
    lines = [
        f"Locked validation set: {event.val_images} image(s)",
        f"{'':44}{cur.get('version', 'current (none)'):>16}{new.get('version', 'new'):>16}",
    ]
    for row in event.rows or COMPARISON_ROWS:
        a, b = cur.get(row["key"]), new.get(row["key"])
        if a is None and b is None:
            continue
        lines.append(f"{row['label']:44}{num(a, row['fmt']):>16}{num(b, row['fmt']):>16}")
    lines.append("Per vertebra, corner error (px):")
    per_c, per_n = cur.get("per_vertebra_px") or [], new.get("per_vertebra_px") or []
    for i, name in enumerate(event.vertebrae):
        c = per_c[i] if i < len(per_c) else None
        n = per_n[i] if i < len(per_n) else None
        lines.append(f"  {name:42}{num(c, '.2f'):>16}{num(n, '.2f'):>16}")
    lines.extend(event.notes)
    return "\n".join(lines)


# ---------------------------------------------------------------- adopt/discard


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def build_card(
    checkpoint: str | Path,
    *,
    parent: str | None,
    settings: dict[str, Any] | None = None,
    comparison: ComparisonEvent | dict[str, Any] | None = None,
    train_images: int | None = None,
) -> dict[str, Any]:
    """The model card kept in the project: where the model came from and how good it was.

    Read from the checkpoint's own header (no torch), so the card says what
    the file says: data fingerprint, training settings, validation metrics.
    """
    from spinegui.core.model_card import card_summary, read_model_card

    full = read_model_card(checkpoint)
    card = card_summary(full)
    cfg = full.get("train_config") or {}
    card["parent"] = parent
    card["created"] = full.get("created") or _now()
    card["settings"] = {
        k: cfg.get(k)
        for k in ("epochs", "lr", "alpha", "batch_size", "seed", "device", "arch", "preset")
    }
    init = cfg.get("init_from")
    card["settings"]["start"] = (
        f"fine-tuned from {parent or Path(init).stem}" if init else "from scratch"
    )
    if settings:
        card["settings"].update(settings)
    card["train_images"] = cfg.get("train_images") if train_images is None else train_images
    card["val_images"] = cfg.get("val_images")
    card["val_ids"] = cfg.get("val_ids")
    if comparison is not None:
        comp = comparison if isinstance(comparison, dict) else comparison.to_dict()
        card["comparison"] = {k: comp.get(k) for k in ("val_images", "current", "new", "notes")}
    return card


def adopt_candidate(
    project,
    version: str,
    checkpoint: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    comparison: ComparisonEvent | dict[str, Any] | None = None,
    fingerprint: str | None = None,
):
    """Register the finished run's model and make it the project's active model.

    The parent is the model active *now*, which is the one the comparison
    was made against; returns the new ``ModelRecord``. ``fingerprint`` (the
    card's, as the run reported it) identifies the file: a checkpoint replaced
    since the run finished is refused rather than adopted under its name.
    """
    if fingerprint is not None:
        _check_same_run(checkpoint, fingerprint)
    active = project.active_model()
    parent = active.version if active is not None else None
    card = build_card(checkpoint, parent=parent, settings=settings, comparison=comparison)
    record = project.add_model(version, checkpoint, card=card, parent=parent)
    project.set_active_model(version)
    return record


def _check_same_run(checkpoint: str | Path, fingerprint: str) -> None:
    from spinegui.core.model_card import read_model_card

    if read_model_card(checkpoint).get("fingerprint") != fingerprint:
        raise SpineguiError(
            f"{Path(checkpoint).name} is no longer the model this run trained: the file was "
            "replaced since the run finished, so it was not adopted.",
            "Run the retrain again.",
        )


def discard_candidate(
    checkpoint: str | Path, *, project=None, version: str | None = None
) -> list[Path]:
    """Delete a candidate checkpoint and its resume sidecar; returns what was removed.

    With ``project``, a file that a registered model uses (adopted meanwhile,
    perhaps in another window) is refused, never deleted, and the run's
    reserved ``version`` is released.
    """
    p = Path(checkpoint)
    if project is not None:
        owner = project.model_using_file(p)
        if owner is not None:
            raise SpineguiError(
                f"{p.name} is the checkpoint of model {owner.version}, which is registered "
                "in the project (adopted, perhaps in another window); it was not deleted.",
                "Use Model history to switch models instead.",
            )
        if version is not None:
            project.release_model_version(version)
    removed = []
    for path in (p, p.with_name(p.name.removesuffix(".safetensors") + ".resume.safetensors")):
        tmp = path.with_name(path.name + ".tmp")
        for candidate in (path, tmp):
            if candidate.exists():
                candidate.unlink()
                removed.append(candidate)
    return removed
