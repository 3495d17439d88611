"""``spinegui measure``: Cobb angles of every annotated image of a project."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "measure"
HELP = "write the Cobb angles of each image's ground truth to a CSV"
DESCRIPTION = """Compute the three Cobb angles (AASCE challenge rules) of each image's
ground-truth landmarks and write one row per image: image path, the three
angles in degrees and the end vertebrae of each angle. An existing CSV is
replaced only with --overwrite, and only once the new one is complete."""

COLUMNS = ("image", "cobb_pt", "cobb_mt", "cobb_tl", "ends_pt", "ends_mt", "ends_tl", "s_curve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project_dir", metavar="PROJECT_DIR", type=Path, help="project folder")
    p.add_argument(
        "--out", type=Path, default=Path("cobb.csv"), help="CSV to write (default: cobb.csv)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace the CSV if it exists")


def run(args: argparse.Namespace) -> int:
    import csv

    from spinegui.core.cobb import cobb_angles
    from spinegui.core.errors import LandmarkError
    from spinegui.core.formats.csvlong import spreadsheet_safe
    from spinegui.core.outputs import atomic_writer, check_file_target, protected_folders
    from spinegui.core.store import Project
    from spinegui.core.templates import get_template

    rows, failed, unannotated = [], [], 0
    with Project.open(args.project_dir) as project:
        images = project.images()
        check_file_target(
            args.out, overwrite=args.overwrite, protected=protected_folders(i.path for i in images)
        )
        for img in images:
            points = project.ground_truth(img.id)
            if points is None:
                unannotated += 1
                continue
            names = get_template(img.template).vertebrae
            try:
                res = cobb_angles(points, image_height=img.height)
            except LandmarkError as exc:
                failed.append(f"{img.path.name}: {exc.message}")
                continue
            ends = [f"{names[a]}-{names[b]}" for a, b in res.pairs]
            angles = (f"{a:.2f}" for a in res.angles)
            rows.append([spreadsheet_safe(str(img.path)), *angles, *ends, res.s_curve])
    with atomic_writer(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"Wrote Cobb angles of {len(rows)} images to {args.out}.")
    if unannotated:
        print(f"{unannotated} images have no ground truth yet.")
    for line in failed:
        print(f"  not measured: {line}")
    return 1 if failed else 0
