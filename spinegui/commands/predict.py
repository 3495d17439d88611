"""``spinegui predict``: landmarks for X-ray files, headless.

A file that cannot be read is reported on stderr and skipped, and the exit
status says so at the end; one broken file in a folder of hundreds should
not cost the other results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

NAME = "predict"
HELP = "predict vertebra landmarks for X-ray images with a trained model"
DESCRIPTION = """\
Predict the 4 corner landmarks of every vertebra for each image.

IMAGE_OR_DIR: image files (PNG, JPEG, TIFF, DICOM, ...) or folders of them.
Output (--format):
  jsonl  (default) one JSON object per image: image (the path as given),
         template, width, height, landmarks (4V [x, y] pairs in AASCE order,
         pixels of the original image), cobb_angles, model; unless --no-tta also
         spread (per landmark, px). Written to --out or stdout.
  csv    long-format CSV (one row per landmark); needs --out FILE.
  aasce  AASCE/BoostNet folder layout (T1-L5 only); needs --out DIR.

An existing --out is replaced only with --overwrite, and never inside a folder
of the images being read; the output appears only once it is complete.
Without --model the model shipped for --template (default T1-L5) is used.
Exit status: 0 all images done, 1 some images skipped, 2 nothing could run.
"""


def add_model_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--tta, --stage-one-only and --device: how a model is run, the same for predict
    and evaluate so that an evaluation scores exactly what a prediction gives."""
    parser.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the mirrored pass, on by default as in the review window: a whole-image model "
        "averages it in (measured to help); with a refinement stage it only gives the "
        "per-corner spread (averaging measured to hurt there)",
    )
    parser.add_argument(
        "--stage-one-only",
        action="store_true",
        help="a two-stage model's first stage alone (the paper's network), without refinement",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="images or folders")
    parser.add_argument("--model", type=Path, help="checkpoint (default: the shipped model)")
    parser.add_argument("--template", help="spine template (default: the model's, else T1-L5)")
    parser.add_argument("--out", type=Path, help="output file (or folder for aasce)")
    parser.add_argument("--format", choices=("jsonl", "csv", "aasce"), default="jsonl")
    add_model_run_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def expand_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(image paths as given or found in folders, inputs that do not exist)."""
    from spinegui.core.imageio import IMAGE_SUFFIXES

    found: list[str] = []
    missing: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.extend(
                str(p / f.name)
                for f in sorted(p.iterdir())
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
            )
        elif p.exists():
            found.append(item)
        else:
            missing.append(item)
    return found, missing


def _cobb(landmarks, height) -> list[float] | None:
    from spinegui.core.cobb import cobb_angles
    from spinegui.core.errors import SpineguiError

    try:
        return [round(a, 3) for a in cobb_angles(landmarks, image_height=height).angles]
    except (SpineguiError, ValueError):
        return None


def run(args: argparse.Namespace) -> int:
    from spinegui.core.errors import SpineguiError
    from spinegui.core.outputs import atomic_writer, protected_folders
    from spinegui.core.templates import DEFAULT_TEMPLATE, get_template
    from spinegui.ml.predict import Predictor, default_model_path

    if args.format in ("csv", "aasce") and args.out is None:
        raise SpineguiError(
            f"--format {args.format} writes files and needs --out.",
            "Add --out FILE (csv) or --out DIR (aasce).",
        )
    template = get_template(args.template).name if args.template else None
    model_path = args.model or default_model_path(template or DEFAULT_TEMPLATE)
    predictor = Predictor.load(
        model_path, args.device, expected_template=template, stage_one_only=args.stage_one_only
    )

    paths, missing = expand_inputs(args.inputs)
    if args.out is not None:
        _check_out(args, paths)
    failures = 0
    for item in missing:
        print(f"spinegui: skipped {item}: no such file or folder", file=sys.stderr)
        failures += 1
    if not paths and not missing:
        raise SpineguiError("No image files found in the given folders.", "")

    sink, records = None, []
    with contextlib.ExitStack() as stack:
        if args.format == "jsonl":
            sink = stack.enter_context(atomic_writer(args.out)) if args.out else sys.stdout
        failures += _predict_all(args, predictor, paths, sink, records)
    safety = {"overwrite": args.overwrite, "protected": protected_folders(map(Path, paths))}
    if args.format == "csv":
        from spinegui.core.formats.csvlong import write_csv

        write_csv(records, args.out, **safety)
    elif args.format == "aasce":
        from spinegui.core.formats.aasce import write_aasce

        write_aasce(records, args.out, **safety)
    if args.out is not None and not args.quiet:
        written = len(paths) - (failures - len(missing))
        print(f"Wrote {written} prediction(s) to {args.out}", file=sys.stderr)
    return 1 if failures else 0


def _check_out(args: argparse.Namespace, paths: list[str]) -> None:
    """Refuse an output that would replace something, before any prediction runs."""
    from spinegui.core.outputs import check_file_target, check_targets, protected_folders

    inputs = [Path(p) for p in paths]
    safety = {"overwrite": args.overwrite, "inputs": inputs, "protected": protected_folders(inputs)}
    if args.format != "aasce":
        check_file_target(args.out, **safety)
    elif args.out.exists():
        labels = args.out / "labels" / "training"
        planned = [args.out / "data" / "training" / p.name for p in inputs]
        planned += [labels / f"{p.name}.mat" for p in inputs]
        check_targets(planned, **safety)


def _predict_all(args, predictor, paths, sink, records) -> int:
    """Predict each path into ``sink`` (JSON lines) or ``records``; returns the failures."""
    from tqdm import tqdm

    from spinegui.core.errors import SpineguiError
    from spinegui.core.imageio import load_image

    failures = 0
    bar = tqdm(total=len(paths), unit="img", file=sys.stderr, disable=args.quiet or len(paths) == 0)
    try:
        for path in paths:
            try:
                loaded = load_image(path)
                pred = predictor.predict(loaded, tta=args.tta)
            except SpineguiError as exc:
                bar.write(f"spinegui: skipped {path}: {exc}", file=sys.stderr)
                failures += 1
                bar.update(1)
                continue
            if sink is not None:
                obj = {
                    "image": path,
                    "template": pred.template,
                    "width": pred.width,
                    "height": pred.height,
                    "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in pred.flat],
                    "cobb_angles": _cobb(pred.landmarks, pred.height),
                    "model": predictor.version,
                }
                if pred.spread is not None:
                    obj["spread"] = [round(float(s), 3) for s in pred.spread.reshape(-1)]
                sink.write(json.dumps(obj) + "\n")
                sink.flush()
            else:
                records.append(_record(path, loaded, pred))
            bar.update(1)
    finally:
        bar.close()
    return failures


def _record(path: str, loaded, pred):
    from spinegui.core.formats.records import AnnotatedImage

    spacing = getattr(loaded, "spacing_mm", None)
    return AnnotatedImage(
        image=Path(path),
        width=pred.width,
        height=pred.height,
        template=pred.template,
        landmarks=pred.landmarks,
        spacing_mm=spacing,
    )
