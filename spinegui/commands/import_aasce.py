"""``spinegui import-aasce``: turn the AASCE dataset into a spinegui project."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "import-aasce"
HELP = "import the AASCE / BoostNet dataset into a project"
DESCRIPTION = """Import the AASCE 2019 (BoostNet) dataset, in the folder layout it is
distributed in, into a project folder (created when missing).

Every image is kept. Label noise (vertebrae out of order, crossed corners,
points outside the image, impossible angles) is listed; vertebra order is
repaired where that is unambiguous."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset_dir", metavar="DATASET_DIR", type=Path, help="the boostnet_labeldata folder"
    )
    p.add_argument("project_dir", metavar="PROJECT_DIR", type=Path, help="project folder")
    p.add_argument(
        "--split", default=None, help="only this split folder (e.g. training); default: all found"
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from spinegui.core.formats import read_aasce
    from spinegui.core.project_records import add_records
    from spinegui.core.store import DB_NAME, Project

    data = read_aasce(args.dataset_dir, split=args.split)
    print(data.summary())
    for finding in data.report:
        print(f"  - {finding.message}")
    if (args.project_dir / DB_NAME).exists():
        project = Project.open(args.project_dir)
    else:
        project = Project.create(args.project_dir, "T1-L5")
    with project, tqdm(total=len(data.records), desc="importing", unit="img") as bar:
        result = add_records(project, data.records, on_progress=lambda n: bar.update(1))
    print(f"Added {len(result.added)} images to {args.project_dir}.")
    for line in result.skipped:
        print(f"  skipped {line}")
    return 0
