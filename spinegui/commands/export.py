"""``spinegui export``: write a project's ground truth in an exchange format."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "export"
HELP = "export a project's landmarks as COCO, CSV or the AASCE layout"
DESCRIPTION = """Export the ground-truth landmarks of a project.

  coco   COCO keypoints JSON (OUT is the .json file)
  csv    long CSV: image, template, vertebra, corner, x, y (OUT is the .csv file)
  aasce  the AASCE folder layout with .mat files and csvs (OUT is a folder)

Images without ground truth are left out of coco and csv and listed. An
image whose file is missing or no longer the one annotated (checked by size
and time, then by content hash) is skipped and named; the exit status is then 1.
An existing output is never replaced without --overwrite, and nothing is
written into a folder holding the project's X-rays (or the dataset they were
imported from). Files appear whole or not at all."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project_dir", metavar="PROJECT_DIR", type=Path, help="project folder")
    p.add_argument("out", metavar="OUT", type=Path, help="output file or folder")
    p.add_argument("--format", choices=("coco", "csv", "aasce"), required=True)
    p.add_argument("--reviewed-only", action="store_true", help="only images marked reviewed")
    p.add_argument(
        "--overwrite", action="store_true", help="replace output files that already exist"
    )


def run(args: argparse.Namespace) -> int:
    from spinegui.core.formats import write_aasce, write_coco, write_csv
    from spinegui.core.outputs import protected_folders
    from spinegui.core.project_records import checked_records
    from spinegui.core.store import Project

    with Project.open(args.project_dir) as project:
        records, problems = checked_records(project, reviewed_only=args.reviewed_only)
    annotated = [r for r in records if r.landmarks is not None]
    safety = {"overwrite": args.overwrite, "protected": protected_folders(r.image for r in records)}
    if args.format == "aasce":
        where = write_aasce(records, args.out, **safety)
    else:
        writer = write_coco if args.format == "coco" else write_csv
        where = writer(annotated, args.out, **safety)
    print(f"Exported {len(annotated)} annotated images to {where}.")
    missing = len(records) - len(annotated)
    if missing:
        print(f"{missing} images have no ground truth yet and were left out.")
    for problem in problems:
        print(f"  skipped image {problem.image_id}: {problem.message}")
    return 1 if problems else 0
