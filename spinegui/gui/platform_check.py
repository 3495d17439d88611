"""Before the window opens on Linux: are the system libraries Qt's X11 plugin needs there?

Without them Qt prints a misleading hint (it blames ``xcb-cursor0`` whatever
is missing) and aborts the interpreter, so ``make demo`` on a fresh Debian
machine ended in ``Aborted``. This check runs before the QApplication loads
the plugin, names each missing library and prints the one ``apt-get`` line
that installs it.

Which libraries are missing is read from ``ldd`` on the plugin itself, so the
check follows whatever the installed Qt needs; ``XCB_PACKAGES`` only names
the Debian/Ubuntu package of each. Without ``ldd`` the known libraries are
tried with ``dlopen`` one by one.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from spinegui.core.errors import SpineguiError

XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
"""Shared library -> the Debian/Ubuntu package that installs it."""

ALL_PACKAGES = " ".join(dict.fromkeys(XCB_PACKAGES.values()))
"""Everything at once: the line the README gives for a fresh machine."""


def uses_xcb(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will load its X11 plugin: Linux, and no other platform was asked for."""
    env = os.environ if env is None else env
    if (platform or sys.platform) != "linux":
        return False
    wanted = env.get("QT_QPA_PLATFORM", "")
    return wanted == "" or wanted.split(":")[0].split(";")[0] == "xcb"


def xcb_plugin() -> Path | None:
    """The installed Qt's X11 platform plugin, found without starting Qt."""
    import PySide6

    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def missing_from_ldd(output: str) -> list[str]:
    """Library names ``ldd`` reports as "not found", each once, in its order."""
    found = []
    for line in output.splitlines():
        if "=> not found" in line:
            found.append(line.split("=>")[0].strip())
    return list(dict.fromkeys(found))


def _ldd(path: Path) -> str | None:
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        return subprocess.run(
            [ldd, str(path)], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_libraries(
    plugin: Path | None = None,
    ldd: Callable[[Path], str | None] = _ldd,
    loadable: Callable[[str], bool] = _loadable,
) -> list[str]:
    """System libraries the X11 plugin needs that this machine lacks (empty: all there)."""
    plugin = plugin if plugin is not None else xcb_plugin()
    if plugin is None:
        return []
    output = ldd(plugin)
    if output is not None:
        return missing_from_ldd(output)
    return [name for name in XCB_PACKAGES if not loadable(name)]


def install_line(missing: list[str]) -> str:
    packages = [XCB_PACKAGES[n] for n in missing if n in XCB_PACKAGES]
    unknown = [n for n in missing if n not in XCB_PACKAGES]
    line = f"sudo apt-get install {' '.join(dict.fromkeys(packages))}" if packages else ""
    if unknown:
        line += ("; " if line else "") + "and the packages providing " + ", ".join(unknown)
    return line


class DisplayLibrariesMissing(SpineguiError):
    """The window cannot open: Qt's X11 plugin lacks system libraries."""


def check_display_libraries(env: Mapping[str, str] | None = None, **probe) -> None:
    """Raise ``DisplayLibrariesMissing`` (what is missing, how to install it) or return."""
    if not uses_xcb(env):
        return
    missing = missing_libraries(**probe)
    if not missing:
        return
    raise DisplayLibrariesMissing(
        "The window cannot open: Qt's X11 display plugin needs system libraries this "
        f"machine lacks: {', '.join(missing)}.",
        f"Install them with:  {install_line(missing)}\n"
        f"  (everything the window needs, on a fresh Debian/Ubuntu: sudo apt-get install "
        f"{ALL_PACKAGES})\n"
        "  Without a display, commands and 'QT_QPA_PLATFORM=offscreen spinegui demo "
        "--screenshot out.png' work as they are.",
    )
