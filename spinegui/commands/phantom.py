"""``spinegui phantom``: write synthetic radiographs with exact landmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "phantom"
HELP = "generate synthetic spinal X-rays with exact landmarks"
DESCRIPTION = """Generate synthetic anterior-posterior spinal radiographs with exact
vertebra-corner landmarks, for trying the tool, tests and training.

Images are written as 16-bit PNG; landmarks as one file in the chosen format
(coco: annotations.json, csv: landmarks.csv, aasce: the AASCE folder layout,
T1-L5 only). The same --seed always gives the same images."""

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
    p.add_argument("--cobb", type=float, default=None, help="main Cobb angle in degrees")
    p.add_argument("--curve", choices=("C", "S"), default=None, help="curve shape")


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
    import cv2
    import numpy as np
    from tqdm import tqdm

    from spinegui.core.errors import SpineguiError
    from spinegui.core.formats import AnnotatedImage, write_aasce, write_coco, write_csv
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
    image_dir = out / "images" if args.format != "aasce" else out / ".phantom-staging"
    image_dir.mkdir(parents=True, exist_ok=True)
    records = []
    phantoms = generate_batch(
        template.name, args.count, args.seed, size=size, cobb_deg=args.cobb, curve=args.curve
    )
    for i, ph in enumerate(tqdm(phantoms, total=args.count, desc="phantoms", unit="img")):
        path = image_dir / f"phantom_{args.seed}_{i:04d}.png"
        pixels = np.round(np.clip(ph.image, 0.0, 1.0) * 65535).astype(np.uint16)
        if not cv2.imwrite(str(path), pixels):
            raise SpineguiError(f"Could not write {path}.", "Check free disk space and rights.")
        h, w = ph.image.shape
        records.append(AnnotatedImage(path, w, h, template.name, ph.landmarks))
    if args.format == "aasce":
        write_aasce(records, out)
        for rec in records:
            rec.image.unlink()
        image_dir.rmdir()
        where = out
    else:
        writer = write_coco if args.format == "coco" else write_csv
        where = writer(records, out / FORMAT_FILES[args.format])
    print(f"Wrote {len(records)} {template.name} images and landmarks to {where}")
    return 0
