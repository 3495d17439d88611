"""Bug 5: on a machine without Qt's X11 libraries ``spinegui`` said "Aborted"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spinegui.gui import app as app_module
from spinegui.gui import platform_check
from spinegui.gui.platform_check import (
    DisplayLibrariesMissing,
    check_display_libraries,
    install_line,
    missing_from_ldd,
    uses_xcb,
)

LDD_OUTPUT = """\
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x2)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-future.so.9 => not found
"""


def test_ldd_output_names_each_missing_library_once():
    assert missing_from_ldd(LDD_OUTPUT) == [
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
        "libxcb-future.so.9",
    ]


def test_the_message_names_what_is_missing_and_the_apt_line(tmp_path):
    with pytest.raises(DisplayLibrariesMissing) as info:
        check_display_libraries(
            {"DISPLAY": ":0"}, plugin=tmp_path / "libqxcb.so", ldd=lambda _p: LDD_OUTPUT
        )
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in info.value.message
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in info.value.hint
    assert "libxcb-future.so.9" in info.value.hint  # unknown to the table, still named
    assert "xcb-cursor" not in info.value.message  # Qt's own hint blamed the wrong one


def test_without_ldd_the_known_libraries_are_tried_one_by_one(tmp_path):
    missing = platform_check.missing_libraries(
        plugin=tmp_path / "libqxcb.so",
        ldd=lambda _p: None,
        loadable=lambda name: name != "libxcb-keysyms.so.1",
    )
    assert missing == ["libxcb-keysyms.so.1"]
    assert install_line(missing) == "sudo apt-get install libxcb-keysyms1"


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [({}, "linux", True), ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
     ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False), ({}, "darwin", False),
     ({"QT_QPA_PLATFORM": "wayland"}, "linux", False)],
)  # fmt: skip
def test_only_an_x11_start_is_checked(env, platform, expected):
    assert uses_xcb(env, platform) is expected


def test_spinegui_says_what_to_install_before_qt_starts(monkeypatch, capsys, tmp_path):
    """The check runs before any QApplication is made; the CLI prints message and hint."""
    from spinegui.cli import main

    made = []
    monkeypatch.setattr(app_module.QApplication, "instance", staticmethod(lambda: None))
    monkeypatch.setattr(app_module, "make_app", lambda *a: made.append(1))
    monkeypatch.setattr(platform_check, "uses_xcb", lambda env=None: True)
    monkeypatch.setattr(platform_check, "missing_libraries", lambda **k: ["libxcb-icccm.so.4"])
    assert main(["demo", "--folder", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4" in err and "sudo apt-get install libxcb-icccm4" in err
    assert made == []  # Qt never got to load its plugin


def _really_missing() -> list[str]:
    if not uses_xcb({}) or platform_check.xcb_plugin() is None:
        return []
    return platform_check.missing_libraries()


@pytest.mark.skipif(not _really_missing(), reason="this machine has every X11 library")
def test_on_this_machine_the_real_command_explains_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = ":99"
    out = subprocess.run(
        [sys.executable, "-m", "spinegui", "demo", "--folder", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).parent,
    )
    assert out.returncode == 2, out.stderr
    assert "sudo apt-get install" in out.stderr and "Aborted" not in out.stderr
