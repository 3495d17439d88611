"""``spinegui demo``: the demo project of synthetic X-rays, opened in the review window."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "open the demo project (synthetic X-rays) in the review window"
DESCRIPTION = """Build (first time) or reuse the demo project: synthetic C7-L5 spine X-rays,
half with ground truth, and open it. Predictions appear as images open when a
model ships with this installation; without one the window says so.

--screenshot PATH waits until the first image's prediction is drawn, saves the
window as a PNG and exits (for README pictures and smoke tests)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where to keep the demo project (default: the user data folder)",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        default=None,
        help="save the window as a PNG once predictions are drawn, then exit",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds --screenshot waits for the prediction (default: 60)",
    )


def run(args: argparse.Namespace) -> int:
    from spinegui.core.demo import build_demo_project, default_demo_folder
    from spinegui.gui.app import run_gui

    folder = build_demo_project(args.folder or default_demo_folder())
    return run_gui(folder, screenshot=args.screenshot, timeout_s=args.timeout)
