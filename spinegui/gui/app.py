"""Starting the GUI: the QApplication, the main window, and the screenshot mode.

``run_gui`` is what ``spinegui`` and ``spinegui demo`` call. With a
screenshot path it opens the project, waits until the shown image's
prediction is drawn (or a timeout, noted on stderr), saves the window as a
PNG and quits: README pictures and a start-up smoke test come from the same
code path as a user's launch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from spinegui import __version__
from spinegui.gui import timing
from spinegui.gui.settings import APPLICATION, ORGANIZATION, Settings

SCREENSHOT_TIMEOUT_S = 60.0
POLL_MS = 100


def make_app(argv: list[str] | None = None) -> QApplication:
    """The one QApplication, named so QSettings finds the user's preferences."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("spinegui")
    app.setApplicationVersion(__version__)
    _apply_style(app)
    return app


def _apply_style(app: QApplication) -> None:
    from spinegui.core.paths import resources_dir

    qss = resources_dir() / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


class ScreenshotJob:
    """Waits until the window is settled (prediction drawn), saves it, then quits."""

    def __init__(self, window, path: Path, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> None:
        self.window = window
        self.path = Path(path)
        self.deadline = time.monotonic() + timeout_s
        self.saved = False
        self.note = ""
        self._settled_polls = 0
        self.timer = QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

    def start(self) -> None:
        self.timer.start()

    def _poll(self) -> None:
        if self.window.is_settled():
            self._settled_polls += 1  # two quiet polls: let the last repaint land
            if self._settled_polls < 2:
                return
        elif time.monotonic() < self.deadline:
            self._settled_polls = 0
            return
        else:
            self.note = "timed out waiting for the prediction; saved the window as it was"
        self.save()

    def save(self) -> None:
        self.timer.stop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.saved = self.window.grab().save(str(self.path), "PNG")
        title = self.window.windowTitle()
        msg = (
            f"spinegui: saved screenshot {self.path} of '{title}'"
            if self.saved
            else f"spinegui: could not write {self.path}"
        )
        if self.note:
            msg += f" ({self.note})"
        print(msg, file=sys.stderr)
        self.window.close()
        QApplication.instance().quit()


def run_gui(
    project: Path | None = None,
    *,
    screenshot: Path | None = None,
    settings: Settings | None = None,
    timeout_s: float = SCREENSHOT_TIMEOUT_S,
    open_last: bool = True,
) -> int:
    """Open the window on ``project`` (else the last project, else the welcome page).

    On Linux the X11 libraries are checked before Qt loads its plugin, so a
    missing one is named with the command that installs it (a
    ``SpineguiError``, printed by the CLI) instead of an abort.
    """
    if QApplication.instance() is None:
        from spinegui.gui.platform_check import check_display_libraries

        check_display_libraries()
    app = make_app()
    from spinegui.gui.main_window import MainWindow

    settings = settings or Settings()
    window = MainWindow(settings)
    if screenshot is not None:
        window.resize(1400, 900)
    target = project
    if target is None and open_last:
        target = settings.last_project()
    window.show()
    timing.mark("window_shown")
    if target is not None:
        # After show(): the window appears at once, the project fills in a moment later.
        QTimer.singleShot(0, lambda: window.open_project(Path(target)))
    job = None
    if screenshot is not None:
        job = ScreenshotJob(window, screenshot, timeout_s)
        QTimer.singleShot(0, job.start)
    code = app.exec()
    if job is not None and not job.saved:
        return 1
    return int(code)
