"""The trainer as a child process, seen from the GUI thread as Qt signals.

Why a process and not a thread: training holds the CPU (and the GIL, in the
data pipeline) for minutes; in a child process the window keeps its frame
rate, a crash in native code (CUDA, a driver) cannot take the user's session
down with it, and the run is byte for byte the ``spinegui train`` command a
person can repeat in a terminal.

Why QProcess: its output arrives through the event loop, on the GUI thread,
so no extra thread or lock is needed to turn lines into signals.

The wrapper knows nothing about torch or ``spinegui.ml``: the caller passes
the function that turns one stdout line into an event object (plain JSON
dicts by default), which keeps this module importable at window start-up.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

__all__ = ["TrainerProcess", "describe_exit"]

GRACE_MS = 5000
"""How long a cancelled trainer may take to stop by itself before it is killed.

The trainer stops after the current optimiser step on SIGTERM and keeps its
files consistent; a step at the paper's size takes a few seconds on a CPU.
"""

STDERR_LINES = 40


def describe_exit(outcome: str, exit_code: int, stderr_tail: str) -> str:
    """What a clinician reads when a run did not finish: what happened, what to do."""
    if outcome == "cancelled":
        return "Retraining was cancelled. The current model is unchanged."
    if outcome == "failed_to_start":
        return (
            "The training program could not be started. The current model is unchanged. "
            "Check that spinegui is installed completely, then try again."
        )
    detail = _last_error_line(stderr_tail)
    if outcome == "crashed":
        what = (
            "The training program stopped unexpectedly (it crashed or ran out of memory). "
            "The current model is unchanged."
        )
        todo = "Try again with a smaller batch size or the CPU as device."
    elif exit_code == 2:
        what = "Retraining could not start. The current model is unchanged."
        todo = "Read the reason below, fix it, and press Retrain again."
    elif exit_code == 3:
        what = "Training became unstable (the loss diverged). The current model is unchanged."
        todo = "Try again with a lower learning rate, e.g. 0.00005."
    else:
        what = f"Retraining failed (exit status {exit_code}). The current model is unchanged."
        todo = "The log below shows the trainer's last messages; they help when reporting this."
    return f"{what}\n{todo}" + (f"\nReason: {detail}" if detail else "")


def _last_error_line(stderr_tail: str) -> str:
    lines = [ln.strip() for ln in stderr_tail.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("spinegui: error:"):
            return ln.removeprefix("spinegui: error:").strip()
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln:
            return ln
    return lines[-1] if lines else ""


class TrainerProcess(QObject):
    """One trainer run at a time; ``finished`` fires exactly once per started run.

    ``finished(outcome, exit_code)``: outcome is "finished" (exit status 0),
    "cancelled" (``cancel`` was called), "failed" (non-zero exit status),
    "crashed" (killed by a signal or crashed) or "failed_to_start".
    """

    started = Signal()
    event = Signal(object)
    """One parsed stdout line (whatever ``parse_line`` returns)."""
    logLine = Signal(str)
    """A human-readable line: the trainer's stderr, or stdout that is not an event."""
    finished = Signal(str, int)

    def __init__(
        self, parent: QObject | None = None, *, parse_line: Callable[[str], Any] | None = None
    ) -> None:
        super().__init__(parent)
        self._parse = parse_line or json.loads
        self._proc: QProcess | None = None
        self._cancelled = False
        self._done = True
        self._out_buf = b""
        self._err_buf = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    # ----------------------------------------------------------------- control

    def start(
        self,
        program: str,
        arguments: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        """Start a run; raises RuntimeError when one is still running (callers refuse first)."""
        if self.is_running():
            raise RuntimeError("a trainer run is already in progress")
        proc = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")  # lines as they happen, not at exit
        environment.insert("PYTHONIOENCODING", "utf-8")
        for key, value in (env or {}).items():
            environment.insert(key, value)
        proc.setProcessEnvironment(environment)
        if cwd:
            proc.setWorkingDirectory(cwd)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        if self._proc is not None:
            self._proc.deleteLater()  # the previous, finished run's process object
        self._proc = proc
        self._cancelled = False
        self._done = False
        self._out_buf = self._err_buf = b""
        self._stderr.clear()
        proc.start(program, list(arguments))
        self.started.emit()

    def cancel(self, grace_ms: int = GRACE_MS) -> None:
        """Ask the trainer to stop (SIGTERM), and kill it if it has not after ``grace_ms``."""
        if not self.is_running():
            return
        self._cancelled = True
        assert self._proc is not None
        self._proc.terminate()
        self._kill_timer.start(max(0, int(grace_ms)))

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the run has ended and ``finished`` was emitted; True if it has."""
        if self._proc is None or self._done:
            return True
        if self._proc.state() != QProcess.ProcessState.NotRunning:
            self._proc.waitForFinished(int(msecs))
        if not self._done and self._proc.state() == QProcess.ProcessState.NotRunning:
            # waitForFinished delivers finished() synchronously; this covers odd platforms.
            self._on_finished(self._proc.exitCode(), self._proc.exitStatus())
        return self._done

    def shutdown(self, grace_ms: int = GRACE_MS) -> None:
        """Cancel and wait, killing if needed: for window close and test teardown."""
        if self.is_running():
            self.cancel(grace_ms)
            if not self.wait(grace_ms + 1000):
                self._kill()
                self.wait(5000)

    def is_running(self) -> bool:
        return not self._done

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # ---------------------------------------------------------------- internals

    def _kill(self) -> None:
        if self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning:
            self._proc.kill()

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._out_buf += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._out_buf = self._out_buf.split(b"\n")
        for raw in lines:
            self._handle_stdout(raw)

    def _handle_stdout(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            parsed = self._parse(text)
        except ValueError:
            self.logLine.emit(text)
            return
        self.event.emit(parsed)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        self._err_buf += bytes(self._proc.readAllStandardError().data())
        # tqdm-style carriage returns redraw a line: keep the final state only.
        *lines, self._err_buf = self._err_buf.replace(b"\r\n", b"\n").split(b"\n")
        for raw in lines:
            self._handle_stderr(raw)

    def _handle_stderr(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").split("\r")[-1].rstrip()
        if text:
            self._stderr.append(text)
            self.logLine.emit(text)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._done:
            self._stderr.append(self._proc.errorString() if self._proc else "failed to start")
            self._finish("failed_to_start", -1)

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        if self._done:
            return
        self._read_stdout()
        self._read_stderr()
        if self._out_buf.strip():
            self._handle_stdout(self._out_buf)
        if self._err_buf.strip():
            self._handle_stderr(self._err_buf)
        self._out_buf = self._err_buf = b""
        if self._cancelled:
            outcome = "cancelled"
        elif status == QProcess.ExitStatus.CrashExit:
            outcome = "crashed"
        elif exit_code != 0:
            outcome = "failed"
        else:
            outcome = "finished"
        self._finish(outcome, int(exit_code))

    def _finish(self, outcome: str, exit_code: int) -> None:
        self._done = True
        self._kill_timer.stop()
        self.finished.emit(outcome, exit_code)
