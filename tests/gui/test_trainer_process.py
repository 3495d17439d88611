"""TrainerProcess: child output as signals, exit outcomes, cancel with a kill fallback.

Stub scripts stand in for the trainer so these tests run in well under a
second each and can make the child misbehave on purpose.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from spinegui.gui.trainer_process import TrainerProcess, describe_exit


@pytest.fixture
def proc(qapp):
    p = TrainerProcess()
    yield p
    p.shutdown(grace_ms=200)
    assert not p.is_running()


def _script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "stub.py"
    path.write_text(textwrap.dedent(body))
    return [str(path)]


def _run(qtbot, proc, args, timeout=20000):
    events, logs = [], []
    proc.event.connect(events.append)
    proc.logLine.connect(logs.append)
    with qtbot.waitSignal(proc.finished, timeout=timeout) as blocker:
        proc.start(sys.executable, args)
    return events, logs, blocker.args


def _start_until_first_event(qtbot, proc, args) -> None:
    """Start a stub that keeps running, and wait until it has printed an event."""
    events = []
    proc.event.connect(events.append)
    proc.start(sys.executable, args)
    qtbot.waitUntil(lambda: bool(events), timeout=20000)


def test_json_lines_become_events_and_other_output_becomes_log(qtbot, proc, tmp_path):
    args = _script(
        tmp_path,
        """
        import json, sys
        print(json.dumps({"event": "start", "epochs": 2}))
        print("not json")
        sys.stdout.write(json.dumps({"event": "end", "status": "completed"}))  # no newline
        print("Data: 6 images", file=sys.stderr)
        """,
    )
    events, logs, (outcome, code) = _run(qtbot, proc, args)
    assert (outcome, code) == ("finished", 0)
    assert [e["event"] for e in events] == ["start", "end"]
    assert "not json" in logs and "Data: 6 images" in logs
    assert not proc.is_running()


def test_error_exit_keeps_the_stderr_tail_for_the_message(qtbot, proc, tmp_path):
    args = _script(
        tmp_path,
        """
        import sys
        print("spinegui: error: The project has no reviewed images.", file=sys.stderr)
        print("  Review some images first.", file=sys.stderr)
        sys.exit(2)
        """,
    )
    _, _, (outcome, code) = _run(qtbot, proc, args)
    assert (outcome, code) == ("failed", 2)
    assert "no reviewed images" in proc.stderr_tail()
    text = describe_exit(outcome, code, proc.stderr_tail())
    assert "could not start" in text and "The project has no reviewed images." in text
    assert "unchanged" in text


def test_a_crash_is_reported_as_such(qtbot, proc, tmp_path):
    args = _script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    _, _, (outcome, _code) = _run(qtbot, proc, args)
    assert outcome == "crashed"
    assert "stopped unexpectedly" in describe_exit(outcome, _code, proc.stderr_tail())


def test_cancel_stops_a_cooperative_trainer(qtbot, proc, tmp_path):
    args = _script(
        tmp_path,
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        print('{"event": "start"}', flush=True)
        while True:
            time.sleep(0.05)
        """,
    )
    _start_until_first_event(qtbot, proc, args)
    with qtbot.waitSignal(proc.finished, timeout=20000) as blocker:
        proc.cancel()
    assert blocker.args == ["cancelled", 143]


def test_cancel_kills_a_trainer_that_ignores_terminate(qtbot, proc, tmp_path):
    args = _script(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('{"event": "start"}', flush=True)
        while True:
            time.sleep(0.05)
        """,
    )
    _start_until_first_event(qtbot, proc, args)
    with qtbot.waitSignal(proc.finished, timeout=20000) as blocker:
        proc.cancel(grace_ms=100)
    assert blocker.args[0] == "cancelled"
    assert not proc.is_running()


def test_only_one_run_at_a_time(qtbot, proc, tmp_path):
    args = _script(tmp_path, "import time\ntime.sleep(30)\n")
    proc.start(sys.executable, args)
    with pytest.raises(RuntimeError):
        proc.start(sys.executable, args)
    proc.shutdown(grace_ms=200)
    assert not proc.is_running()


def test_a_missing_program_fails_to_start(qtbot, proc, tmp_path):
    with qtbot.waitSignal(proc.finished, timeout=20000) as blocker:
        proc.start(str(tmp_path / "no-such-program"), [])
    assert blocker.args[0] == "failed_to_start"
    assert "could not be started" in describe_exit("failed_to_start", -1, "")


def test_custom_parser_is_used(qtbot, tmp_path):
    p = TrainerProcess(parse_line=lambda line: ("parsed", json.loads(line)["n"]))
    try:
        args = _script(tmp_path, "print('{\"n\": 5}')\n")
        events, _, (outcome, _) = _run(qtbot, p, args)
        assert outcome == "finished" and events == [("parsed", 5)]
    finally:
        p.shutdown(grace_ms=200)
