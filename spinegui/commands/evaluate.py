"""``spinegui evaluate``: a model's accuracy on annotated data, beside a trivial baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spinegui.commands.predict import add_model_run_arguments

NAME = "evaluate"
HELP = "measure a model's landmark and Cobb-angle accuracy against a mean-shape baseline"
DESCRIPTION = """\
Evaluate a model on annotated images and print, next to the same numbers for
the "mean shape" baseline (every image gets the average training spine):

  in a clinician's units: the main Cobb angle's mean absolute error (deg),
  the share of images within 5 and 10 deg of the expert (two readers differ
  by about 5), the bias and slope of predicted against true angle (a slope
  below 1 means large curves are read too small), the Bland-Altman limits of
  agreement, and the mean vertebra tilt error (deg);
  and the literature's: mean and median landmark error (px; mm where the
  pixel spacing is known), per-vertebra error, Pearson r of coordinates (the
  paper's metric), Cobb angle SMAPE (the AASCE challenge's) and the paper's
  one-way ANOVA.

DATA is an AASCE folder or a spinegui project folder; or use --synthetic N.

--subset is NOT a folder's own "test" directory (such as AASCE's
data/test): it is a part of a split that spinegui makes itself. --subset
test takes the images the model's training run held out as its test set,
as recorded in the checkpoint; for data the checkpoint does not describe
(another folder), it makes a fresh seeded 80/15/5 split of DATA (by
--split-seed) and takes its 15 % test part. To score a dataset's own test
folder, pass that folder as DATA with --subset all.

--plot PNG draws predicted against true main Cobb angle and the Bland-Altman
plot of their difference.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from spinegui.commands.train import add_data_arguments

    parser.add_argument(
        "data", nargs="?", type=Path, metavar="DATA", help="an AASCE folder or a project folder"
    )
    parser.add_argument("--model", type=Path, help="checkpoint (default: the shipped model)")
    parser.add_argument("--template", help="spine template for the shipped model (default T1-L5)")
    add_data_arguments(parser, positional=True)
    parser.add_argument(
        "--subset",
        choices=("all", "test", "val", "train"),
        default="all",
        help="a part of spinegui's own split of DATA (see above), not a folder's "
        "test directory (default all)",
    )
    parser.add_argument(
        "--all-images", action="store_true", help="projects: include images not yet marked reviewed"
    )
    add_model_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="save predicted-vs-true and Bland-Altman plots of the main Cobb angle",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --plot if it exists")


def _load(args, predictor):
    from spinegui.core.errors import SpineguiError
    from spinegui.core.store import DB_NAME
    from spinegui.ml import data as d

    preset = predictor.network_preset()
    if args.synthetic is not None:
        if args.data is not None:
            raise SpineguiError("Give either DATA or --synthetic, not both.", "")
        return d.synthetic_dataset(
            predictor.template,
            args.synthetic,
            seed=args.data_seed,
            preset=preset,
            size=args.synthetic_size,
        )
    if args.data is None:
        raise SpineguiError(
            "No evaluation data given.", "Pass an AASCE or project folder, or --synthetic N."
        )
    if not args.data.is_dir():
        raise SpineguiError(f"{args.data} is not a folder.", "Pass an AASCE or project folder.")
    if (args.data / DB_NAME).is_file():
        return d.project_dataset(args.data, preset, reviewed_only=not args.all_images)
    return d.aasce_dataset(args.data, preset, limit=args.limit)


def _select(args, data, meta) -> tuple[object, str | None]:
    """The requested subset, and a note on how it was chosen."""
    from spinegui.core.errors import SpineguiError
    from spinegui.ml.data import split_data

    if args.subset == "all":
        return data, None
    recorded = ((meta.get("train_config") or {}).get("data") or {}).get("split") or {}
    ids_key = {"test": "test_ids", "val": "val_ids"}.get(args.subset)
    if ids_key and recorded.get(ids_key) and args.split_seed is None:
        chosen = data.select_ids(recorded[ids_key])
        if len(chosen):
            return chosen, f"{args.subset} images recorded in the checkpoint ({len(chosen)})"
    seed = args.split_seed
    if seed is None:
        seed = recorded.get("seed", (meta.get("train_config") or {}).get("seed", 0))
    train, test, val = split_data(data, seed)
    chosen = {"train": train, "test": test, "val": val}[args.subset]
    if not len(chosen):
        raise SpineguiError(
            f"The {args.subset} part of the split is empty for {len(data)} images.",
            "Use more images or --subset all.",
        )
    return chosen, f"{args.subset} part of the 80/15/5 split with seed {seed}"


def run(args: argparse.Namespace) -> int:
    from spinegui.core.templates import DEFAULT_TEMPLATE, get_template
    from spinegui.ml.evaluate import evaluate
    from spinegui.ml.predict import Predictor, default_model_path

    if args.plot is not None:
        from spinegui.core.outputs import check_file_target

        protected = [args.data] if args.data is not None else []
        check_file_target(args.plot, overwrite=args.overwrite, protected=protected)
    template = get_template(args.template).name if args.template else None
    model_path = args.model or default_model_path(template or DEFAULT_TEMPLATE)
    predictor = Predictor.load(
        model_path, args.device, expected_template=template, stage_one_only=args.stage_one_only
    )
    data = _load(args, predictor)
    if args.limit is not None and len(data) > args.limit:
        data = data.subset(range(args.limit))
    data, note = _select(args, data, predictor.meta)
    report = evaluate(predictor, data, tta=args.tta)
    if note:
        report.notes.append(f"evaluated on the {note}")
    if args.plot is not None:
        _plot(args.plot, report)
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        print(report.format_table())
        if args.plot is not None:
            print(f"Plots saved to {args.plot}")
    return 0


def _plot(path: Path, report) -> None:
    from spinegui.core.agreement_plot import save_agreement_plot
    from spinegui.core.errors import SpineguiError

    m = report.model
    if len(m.main_true) < 2:
        raise SpineguiError(
            f"Only {len(m.main_true)} image(s) have a measurable Cobb angle: nothing to plot.",
            "Evaluate on more annotated images.",
        )
    title = (
        f"{report.model_version} on {report.data_source} "
        f"({len(m.main_true)} images, TTA {'on' if report.tta else 'off'})"
    )
    save_agreement_plot(m.main_pred, m.main_true, path, title=title)
