"""``spinegui phantom``: write synthetic radiographs with exact landmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from spinegui.commands.numbers import number_in

NAME = "phantom"
HELP = "generate synthetic spinal X-rays with exact landmarks"
DESCRIPTION = """Generate synthetic anterior-posterior spinal radiographs with exact
vertebra-corner landmarks, for trying the tool, tests and training.

Images are written as 16-bit PNG; landmarks as one file in the chosen format
(coco: annotations.json, csv: landmarks.csv, aasce: the AASCE folder layout,
T1-L5 only). The same --seed always gives the same images. Files already in
OUT_DIR are replaced only with --overwrite; the output is built in a staging
folder and moved into place once complete."""

FORMAT_FILES = {"coco": "annotations.json", "csv": "landmarks.csv"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to write into")
    p.add_argument("--template", default="C7-L5", help="spine template (default: C7-L5)")
    p.add_argument("--count", type=int, default=10, help="number of images (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--size",
        default="1024x512",
        help="image size HEIGHTxWIDTH in pixels (default: 1024x512)",
    )
    p.add_argument(
        "--format",
        choices=("coco", "csv", "aasce"),
        default="coco",
        help="landmark file format (default: coco)",
    )
    p.add_argument("--cobb", type=number_in(0, 90), default=None, help="main Cobb angle in degrees")
    p.add_argument("--curve", choices=("C", "S"), default=None, help="curve shape")
    p.add_argument("--overwrite", action="store_true", help="replace files already in OUT_DIR")


def parse_size(text: str) -> tuple[int, int]:
    from spinegui.core.errors import SpineguiError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpineguiError(
            f"Image size {text!r} is not HEIGHTxWIDTH.", "Write it like 1024x512."
        ) from None
    if not (32 <= h <= 8192 and 16 <= w <= 8192):
        raise SpineguiError(
            f"Image size {h} x {w} is out of range.", "Use 32 to 8192 pixels per side."
        )
    return h, w


def run(args: argparse.Namespace) -> int:
    import shutil

    import cv2
    import numpy as np
    from tqdm import tqdm

    from spinegui.core.errors import OutputError, SpineguiError
    from spinegui.core.formats import AnnotatedImage, write_aasce, write_coco, write_csv
    from spinegui.core.outputs import check_targets, staged_folder
    from spinegui.core.phantom import generate_batch
    from spinegui.core.templates import get_template

    template = get_template(args.template)
    size = parse_size(args.size)
    if args.count < 1:
        raise SpineguiError("--count must be at least 1.")
    if args.format == "aasce" and template.name != "T1-L5":
        raise SpineguiError(
            "The AASCE layout holds T1-L5 landmarks only.",
            "Use --template T1-L5, or --format coco/csv for C7-L5.",
        )
    out: Path = args.out_dir
    names = [f"phantom_{args.seed}_{i:04d}.png" for i in range(args.count)]
    if args.format == "aasce":
        planned = [out / "data" / "training" / n for n in names]
    else:
        planned = [out / "images" / n for n in names] + [out / FORMAT_FILES[args.format]]
    check_targets(planned, overwrite=args.overwrite)
    phantoms = generate_batch(
        template.name, args.count, args.seed, size=size, cobb_deg=args.cobb, curve=args.curve
    )
    with staged_folder(out, overwrite=args.overwrite) as stage:
        image_dir = stage / ("images" if args.format != "aasce" else ".phantom-staging")
        image_dir.mkdir()
        records = []
        for name, ph in zip(
            names, tqdm(phantoms, total=args.count, desc="phantoms", unit="img"), strict=True
        ):
            path = image_dir / name
            pixels = np.round(np.clip(ph.image, 0.0, 1.0) * 65535).astype(np.uint16)
            if not cv2.imwrite(str(path), pixels):
                raise OutputError(f"Could not write {path}.", "Check free disk space and rights.")
            h, w = ph.image.shape
            records.append(AnnotatedImage(path, w, h, template.name, ph.landmarks))
        if args.format == "aasce":
            write_aasce(records, stage / "aasce")
            shutil.rmtree(image_dir)
            for part in (stage / "aasce").iterdir():
                part.rename(stage / part.name)
            (stage / "aasce").rmdir()
        else:
            writer = write_coco if args.format == "coco" else write_csv
            writer(records, stage / FORMAT_FILES[args.format])
    where = out if args.format == "aasce" else out / FORMAT_FILES[args.format]
    print(f"Wrote {len(records)} {template.name} images and landmarks to {where}")
    return 0
