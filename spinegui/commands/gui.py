"""``spinegui`` with no subcommand: the review window.

Opens the project last worked on, or the welcome page. ``--screenshot PATH``
(when the top-level parser offers it) saves the window once predictions are
drawn and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from spinegui.gui.app import run_gui

    screenshot = getattr(args, "screenshot", None)
    project = getattr(args, "project", None)
    return run_gui(
        Path(project) if project else None,
        screenshot=Path(screenshot) if screenshot else None,
    )
