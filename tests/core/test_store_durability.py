"""Acknowledged edits survive SIGKILL at any moment: corners, vertebrae, statuses, two writers.

Child processes edit a project in a loop and acknowledge each edit on stdout
once the store call has returned; the parent kills them at random moments
(seeded), restarts them, and after every kill checks that the database is
sound and holds every acknowledged edit, both in the history and in the
current state. Each child also reports the journal mode and synchronous
level of its own connection: a kill test passes with ``synchronous=OFF`` too
(the operating system keeps what the process wrote), so the power-cut half
of the promise rests on those settings, which are asserted here.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from spinegui.core.store import STATUSES, Project
from tests.core.store_edit_child import SHIFT, corner_of, edits_of

CHILD = Path(__file__).with_name("store_edit_child.py")
REPO_ROOT = Path(__file__).resolve().parents[2]


class Child:
    """One edit child; collects complete stdout lines on a thread."""

    def __init__(self, folder: Path, image_id: int, kind: str, writer: int, err: Path) -> None:
        env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
        self.stderr = open(err, "w")  # noqa: SIM115 - closed in kill()
        self.err_path = err
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(folder), str(image_id), kind, str(writer)],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a line cut off by the kill acknowledges nothing
                self.lines.append(line.strip())
                if line.startswith("ready"):
                    self.ready.set()
        self.ready.set()

    def kill(self) -> bool:
        """SIGKILL; True if the child was still running (it must never stop by itself)."""
        running = self.proc.poll() is None
        if running:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(timeout=10)
        self.stderr.close()
        return running

    def acks(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("ack ")]

    def settings(self) -> tuple[str, str] | None:
        ready = [line.split() for line in self.lines if line.startswith("ready")]
        return (ready[0][2], ready[0][3]) if ready else None


def new_project(folder: Path) -> int:
    with Project.create(folder, "T1-L5", user="parent") as project:
        image_id = project.add_image(folder / "a.png", width=800, height=1600, sha256="ab" * 32)
        project.set_ground_truth(image_id, np.zeros((17, 4, 2)), source="import", kind="import")
    return image_id


def check_project(folder: Path, image_id: int, kind: str, acked: dict[int, set[int]]) -> int:
    """Assert the file is sound and every acknowledged edit is there; returns edit count."""
    con = sqlite3.connect(folder / "project.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    total = 0
    with Project.open(folder, user="parent") as project:
        gt, status = project.ground_truth(image_id), project.image(image_id).status
        every = [e for e in project.history(image_id) if e.user.startswith("child")]
        for writer, acks in acked.items():
            edits = edits_of(project, image_id, kind, writer)
            total += len(edits)
            missing = sorted(acks - set(range(1, len(edits) + 1)))
            assert not missing, f"writer {writer}: acknowledged edits lost: {missing[:10]}"
            for s, e in enumerate(edits, start=1):
                if kind == "corner":
                    assert (e.vertebra, e.corner) == corner_of(s, gt.shape[0], writer)
                    assert e.after == [s, s + 0.5]
                elif kind == "vertebra":
                    shifted = (np.asarray(e.before) + SHIFT).tolist()
                    assert e.vertebra == s % gt.shape[0] and e.after == shifted
                else:
                    assert e.after == STATUSES[s % len(STATUSES)]
    # The current state agrees with the newest history row of what was edited.
    if kind == "status" and every:
        assert status == every[-1].after
    for e in every:
        if kind == "corner":
            latest = [x for x in every if (x.vertebra, x.corner) == (e.vertebra, e.corner)][-1]
            assert gt[e.vertebra, e.corner].tolist() == latest.after
        elif kind == "vertebra":
            latest = [x for x in every if x.vertebra == e.vertebra][-1]
            assert gt[e.vertebra].tolist() == latest.after
    return total


def kill_loop(folder: Path, kind: str, *, kills: int, seed: int, writers: int = 1) -> int:
    """Start, kill and check ``kills`` times; returns how many edits were acknowledged."""
    image_id = new_project(folder) if not (folder / "project.sqlite").exists() else 1
    rng = random.Random(seed)
    acked: dict[int, set[int]] = {w: set() for w in range(writers)}
    children: list[Child] = []
    try:
        for round_no in range(kills):
            children = [
                Child(folder, image_id, kind, w, folder.parent / f"{kind}{round_no}-{w}.err")
                for w in range(writers)
            ]
            if rng.random() < 0.75:
                # Mostly mid-editing: the children are committing every few ms.
                for child in children:
                    assert child.ready.wait(timeout=60), "child did not start"
                threading.Event().wait(rng.uniform(0.0, 0.08))
            else:
                # Sometimes during start-up or while opening the project.
                threading.Event().wait(rng.uniform(0.0, 0.5))
            for w, child in enumerate(children):
                assert child.kill(), f"child stopped by itself:\n{child.err_path.read_text()}"
                settings = child.settings()
                assert settings in (None, ("wal", "full")), f"child wrote with {settings}"
                acked[w].update(child.acks())
            children = []
            check_project(folder, image_id, kind, acked)
    finally:
        for child in children:
            child.kill()
    return sum(len(a) for a in acked.values())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_acknowledged_corner_edits_survive_sigkill(tmp_path):
    acked = kill_loop(tmp_path / "proj", "corner", kills=40, seed=20240611)
    assert acked > 40, "kills should interrupt a stream of edits, not idle children"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["vertebra", "status"])
def test_acknowledged_vertebra_and_status_edits_survive_sigkill(tmp_path, kind):
    acked = kill_loop(tmp_path / "proj", kind, kills=12, seed=7)
    assert acked > 12


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_writers_killed_together_lose_nothing(tmp_path):
    acked = kill_loop(tmp_path / "proj", "corner", kills=12, seed=11, writers=2)
    assert acked > 12


def test_the_promise_rests_on_these_settings(tmp_path):
    """The kill tests cannot see fsync, so pin what the README's power-cut promise needs."""
    new_project(tmp_path / "proj")
    with Project.open(tmp_path / "proj") as project:
        assert project.durability() == ("wal", "full")
