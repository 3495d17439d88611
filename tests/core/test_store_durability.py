"""Acknowledged edits survive SIGKILL at any moment.

A child process edits a project in a loop and acknowledges each edit on
stdout once ``move_corner`` has returned; the parent kills it at random
moments (seeded), restarts it, and after every kill checks that the database
is sound and holds every acknowledged edit, both in the history and in the
current landmarks.
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

from spinegui.core.store import Project
from tests.core.store_edit_child import corner_of

CHILD = Path(__file__).with_name("store_edit_child.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
KILLS = 60


class Child:
    """One edit child; collects complete stdout lines on a thread."""

    def __init__(self, folder: Path, image_id: int, stderr_path: Path) -> None:
        env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
        self.stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(folder), str(image_id)],
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


def check_project(folder: Path, image_id: int, acked: set[int]) -> int:
    """Assert the file is sound and every acknowledged edit is there; returns edit count."""
    con = sqlite3.connect(folder / "project.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    with Project.open(folder, user="parent") as project:
        gt = project.ground_truth(image_id)
        edits = [e for e in project.history(image_id) if e.kind == "move_corner"]
    seqs = [int(e.after[0]) for e in edits]
    # Each child continues after the last committed edit: no gaps, no repeats.
    assert seqs == list(range(1, len(seqs) + 1))
    missing = sorted(acked - set(seqs))
    assert not missing, f"acknowledged edits lost: {missing[:10]}"
    n_vertebrae = gt.shape[0]
    for s in acked:
        e = edits[s - 1]
        assert (e.vertebra, e.corner) == corner_of(s, n_vertebrae)
        assert e.after == [s, s + 0.5]
    # Current landmarks agree with the newest history row of every corner.
    latest = {(e.vertebra, e.corner): e.after for e in edits}
    for (v, c), xy in latest.items():
        assert gt[v, c].tolist() == xy
    return len(seqs)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_acknowledged_edits_survive_sigkill(tmp_path):
    folder = tmp_path / "proj"
    with Project.create(folder, "T1-L5", user="parent") as project:
        image_id = project.add_image(folder / "a.png", width=800, height=1600, sha256="ab" * 32)
        project.set_ground_truth(image_id, np.zeros((17, 4, 2)), source="import", kind="import")

    rng = random.Random(20240611)
    acked: set[int] = set()
    kills = 0
    child = None
    try:
        for round_no in range(KILLS):
            child = Child(folder, image_id, tmp_path / f"child{round_no}.err")
            if rng.random() < 0.75:
                # Mostly mid-editing: the child is committing every few ms.
                assert child.ready.wait(timeout=60), "child did not start"
                threading.Event().wait(rng.uniform(0.0, 0.08))
            else:
                # Sometimes during start-up or while opening the project.
                threading.Event().wait(rng.uniform(0.0, 0.5))
            still_running = child.kill()
            err = (tmp_path / f"child{round_no}.err").read_text()
            assert still_running, f"child stopped by itself:\n{err}"
            kills += 1
            acked.update(child.acks())
            child = None
            check_project(folder, image_id, acked)
    finally:
        if child is not None:
            child.kill()
    assert kills >= 50
    assert len(acked) > kills, "kills should interrupt a stream of edits, not idle children"
