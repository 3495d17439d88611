"""``spinegui demo --screenshot`` end to end, in a child process as a user would launch it.

The child gets its own HOME/XDG folders so it neither reads nor writes the
user's settings and demo project; the demo folder is prepared with the tiny
test model as its active model (the shipped model may not exist yet).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage


def _run(args: list[str], home: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "SPINEGUI_INBOX": str(home / "inbox"),
    }
    return subprocess.run(
        [sys.executable, "-m", "spinegui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _non_trivial(png: Path) -> QImage:
    image = QImage(str(png))
    assert image.width() >= 800 and image.height() >= 600
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, 600, 23)}
    assert len(colours) > 50  # a real picture, not a blank or one-colour window
    return image


@pytest.mark.slow
def test_demo_screenshot_waits_for_the_prediction(qapp, demo_project, tmp_path):
    out = tmp_path / "shot.png"
    done = _run(["demo", "--folder", str(demo_project), "--screenshot", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "saved screenshot" in done.stderr and "timed out" not in done.stderr
    _non_trivial(out)


@pytest.mark.slow
def test_demo_without_a_model_still_opens_and_says_so(qapp, tmp_path):
    from spinegui.core.demo import build_demo_project

    folder = build_demo_project(tmp_path / "demo", count=2, models_folder=tmp_path / "none")
    out = tmp_path / "shot.png"
    done = _run(["demo", "--folder", str(folder), "--screenshot", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    _non_trivial(out)


@pytest.mark.slow
def test_spinegui_alone_reopens_the_last_project(qapp, demo_project, tmp_path):
    """`spinegui` with no subcommand: the last project, straight away, no welcome page."""
    out = tmp_path / "shot.png"
    script = (
        "import argparse, sys\n"
        "from spinegui.gui.app import make_app\n"
        "from spinegui.gui.settings import Settings\n"
        "make_app()\n"
        f"Settings().add_recent_project({str(demo_project)!r})\n"
        "from spinegui.commands import gui\n"
        f"sys.exit(gui.run(argparse.Namespace(screenshot={str(out)!r})))\n"
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert "demo_01.png — demo — spinegui" in done.stderr
    _non_trivial(out)
