"""PACS work off the GUI thread: one ``PacsJob`` thread per request, plain values out.

Network calls can take seconds (or the full timeout when a server is gone), so
none runs on the GUI thread. A job runs a function of ``spinegui.pacs`` with a
``JobContext`` that reports progress, streams partial results (thumbnails as
they arrive) and tells it when the user pressed Cancel; the function checks
between network calls. Failures the user can act on arrive as the
``SpineguiError`` they were raised as (message + hint), anything else as a
bug report line, never as a traceback on screen.

Each job makes its own ``PacsClient``: a ``requests`` session must not be
shared between threads. The owner calls ``stop`` (cancel + wait) before it
goes away, so no thread outlives its window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QThread, Signal

from spinegui.core.errors import SpineguiError
from spinegui.pacs.client import PacsClient
from spinegui.pacs.config import ServerConfig

log = logging.getLogger(__name__)

STOP_WAIT_MS = 35_000
"""Longer than a request's connect + read timeout: a cancelled call still has to return."""


class JobContext:
    """What a job's function may use: progress, partial results, the Cancel flag."""

    def __init__(self, job: PacsJob) -> None:
        self._job = job
        self._cancel = threading.Event()

    def progress(self, done: int, total: int, text: str) -> None:
        self._job.progressed.emit(int(done), int(total), str(text))

    def partial(self, value: Any) -> None:
        self._job.partial.emit(value)

    def cancelled(self) -> bool:
        return self._cancel.is_set()


class PacsJob(QThread):
    """Runs ``work(client, context)`` once on its own thread."""

    progressed = Signal(int, int, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    """A SpineguiError (show message + hint), or a string for an unexpected bug."""

    def __init__(
        self,
        config: ServerConfig,
        secret: str | None,
        work: Callable[[PacsClient, JobContext], Any],
        parent=None,
    ) -> None:
        super().__init__(parent)
        self._config = config
        self._secret = secret
        self._work = work
        self.context = JobContext(self)

    def cancel(self) -> None:
        self.context._cancel.set()

    def stop(self) -> None:
        """Cancel and wait for the thread (call before the owner is deleted)."""
        self.cancel()
        if self.isRunning():
            self.wait(STOP_WAIT_MS)

    def run(self) -> None:
        try:
            with PacsClient(self._config, self._secret) as client:
                result = self._work(client, self.context)
        except SpineguiError as exc:
            self.failed.emit(exc)
            return
        except Exception as exc:  # a bug: say so in words, keep the window alive
            log.exception("PACS job failed")
            self.failed.emit(f"Unexpected error: {type(exc).__name__}: {exc}")
            return
        self.succeeded.emit(result)


class _StopOnClose(QObject):
    def __init__(self, owner: QObject, window: QObject, stop: Callable[[], None]) -> None:
        super().__init__(owner)
        self._stop = stop
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Close:
            self._stop()
        return False


def stop_when_window_closes(owner: QObject, stop: Callable[[], None]) -> None:
    """Call ``stop`` when the window ``owner`` belongs to closes.

    A dialog's threads must end before the window (their grandparent) is
    deleted; the dialog itself may still be open then, so its own close
    handler is not enough.
    """
    window = owner.parent()
    if window is not None:
        _StopOnClose(owner, window, stop)
