"""Two windows or two processes on one project: no edit overwrites another unseen.

Every edit can name the state it was based on (``expected``); the store refuses
it with ``ProjectConflict`` when someone else changed that state since. Undo
uses the same check with the state its edit produced. Model versions are
reserved in the database, so two retrains never share a name or a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from spinegui.core.errors import ProjectConflict, SpineguiError
from spinegui.core.store import Project

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    with Project.create(tmp_path / "p", "T1-L5", user="setup") as p:
        image_id = p.add_image(tmp_path / "a.png", width=400, height=1600, sha256="ab" * 32)
        p.set_ground_truth(image_id, np.arange(136, dtype=float).reshape(17, 4, 2))
    return tmp_path / "p"


@pytest.fixture
def alice_and_bob(folder):
    with Project.open(folder, user="alice") as a, Project.open(folder, user="bob") as b:
        yield a, b


def test_a_corner_edit_from_a_stale_view_is_refused_naming_the_vertebra(alice_and_bob):
    alice, bob = alice_and_bob
    seen = alice.ground_truth(1)[4, 1].copy()
    bob.move_corner(1, 4, 1, (50, 60))
    with pytest.raises(ProjectConflict) as exc:
        alice.move_corner(1, 4, 1, (70, 80), expected=seen)
    assert "T5" in exc.value.message and "bob" in exc.value.message
    assert alice.ground_truth(1)[4, 1].tolist() == [50, 60]
    alice.move_corner(1, 4, 1, (70, 80), expected=(50, 60))  # based on the current state: fine
    assert alice.ground_truth(1)[4, 1].tolist() == [70, 80]


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset to set a time zone")
def test_the_refusal_says_when_in_the_readers_own_time(alice_and_bob, monkeypatch):
    """It said 'at 05:37:32 UTC': a reader in Berlin had to add an hour to know which edit."""
    alice, bob = alice_and_bob
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no summer time
    time.tzset()
    try:
        seen = alice.ground_truth(1)[4, 1].copy()
        bob.move_corner(1, 4, 1, (50, 60))
        stamp = bob.history(1)[-1].at
        with pytest.raises(ProjectConflict) as exc:
            alice.move_corner(1, 4, 1, (70, 80), expected=seen)
        local = datetime.fromisoformat(stamp).astimezone().strftime("%H:%M:%S")
        assert f"at {local}" in exc.value.message and "UTC" not in exc.value.message
    finally:
        monkeypatch.undo()
        time.tzset()


def test_vertebra_and_whole_array_edits_check_their_base_too(alice_and_bob):
    alice, bob = alice_and_bob
    seen = alice.ground_truth(1)
    bob.move_vertebra(1, 2, (5, 5))
    with pytest.raises(ProjectConflict, match="T3"):
        alice.move_vertebra(1, 2, (1, 1), expected=seen[2])
    with pytest.raises(ProjectConflict, match="T3"):
        alice.set_vertebra(1, 2, seen[2], expected=seen[2])
    with pytest.raises(ProjectConflict, match="landmarks"):
        alice.set_ground_truth(1, seen, expected=seen)
    with pytest.raises(ProjectConflict):
        alice.set_ground_truth(1, seen, expected=None)  # "there were none": not so
    alice.move_vertebra(1, 3, (1, 1), expected=seen[3])  # untouched vertebra: fine
    np.testing.assert_array_equal(alice.ground_truth(1)[2], seen[2] + 5)


def test_undo_applies_only_to_the_state_the_edit_produced(alice_and_bob):
    alice, bob = alice_and_bob
    before = alice.move_corner(1, 0, 0, (11, 12))
    bob.move_corner(1, 0, 0, (13, 14))
    with pytest.raises(ProjectConflict):  # Ctrl+Z in alice's window
        alice.move_corner(1, 0, 0, before, expected=(11, 12))
    assert alice.ground_truth(1)[0, 0].tolist() == [13, 14]


def test_a_status_change_from_a_stale_view_is_refused(alice_and_bob):
    alice, bob = alice_and_bob
    bob.set_status(1, "reviewed")
    with pytest.raises(ProjectConflict, match="review status"):
        alice.set_status(1, "in_review", expected="not_started")
    assert alice.image(1).status == "reviewed"


def test_changes_by_another_connection_are_noticed(alice_and_bob):
    alice, bob = alice_and_bob
    version, bookmark = alice.data_version(), alice.last_edit_id()
    alice.move_corner(1, 0, 0, (1, 1))
    assert alice.data_version() == version, "one's own commits are not news"
    bob.set_status(1, "in_review")
    assert alice.data_version() != version
    assert alice.changed_images(bookmark) == {1}


EDITOR = """
import sys
from spinegui.core.errors import ProjectConflict
from spinegui.core.store import Project

folder, who, edits = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Project.open(folder, user=who) as p:
    done = 0
    while done < edits:
        seen = p.ground_truth(1)[0, 0].copy()
        try:  # read, then write based on what was read: one more step to the right
            p.move_corner(1, 0, 0, (seen[0] + 1, seen[1]), expected=seen)
        except ProjectConflict:
            print("conflict", flush=True)
            continue
        done += 1
        print("ack", flush=True)
"""


def run_two_editors(folder: Path, edits: int = 40) -> tuple[bool, str]:
    """Two processes each add ``edits`` steps to the same corner; none may be lost."""
    with Project.open(folder) as p:
        start = p.ground_truth(1)[0, 0, 0]
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(EDITOR), str(folder), who, str(edits)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for who in ("left", "right")
    ]
    outs = [proc.communicate(timeout=120) for proc in procs]
    if any(proc.returncode for proc in procs):
        err = next(e for (_o, e), proc in zip(outs, procs, strict=True) if proc.returncode)
        return False, (err.strip().splitlines() or ["an editor failed"])[-1][:140]
    acks = sum(o.count("ack") for o, _e in outs)
    conflicts = sum(o.count("conflict") for o, _e in outs)
    with Project.open(folder) as p:
        end = p.ground_truth(1)[0, 0, 0]
    lost = acks - int(end - start)
    return lost == 0, f"{acks} acknowledged steps, {conflicts} conflicts refused, {lost} lost"


@pytest.mark.timeout(180)
def test_two_processes_editing_the_same_corner_lose_no_step(folder):
    ok, note = run_two_editors(folder, edits=40)
    assert ok, note


RESERVER = """
import sys
from spinegui.core.store import Project
with Project.open(sys.argv[1]) as p:
    print(" ".join(p.reserve_model_version("retrain-") for _ in range(15)))
"""


@pytest.mark.timeout(180)
def test_two_retrains_never_get_the_same_model_version(folder):
    (folder / "models" / "retrain-03.safetensors").write_bytes(b"an older run's file")
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESERVER, str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    names = [n for proc in procs for n in proc.communicate(timeout=120)[0].split()]
    assert len(names) == 30 == len(set(names))
    assert min(names) == "retrain-04"


def test_a_reservation_becomes_the_model_or_is_released(folder):
    with Project.open(folder) as p:
        first = p.reserve_model_version()
        p.add_model(first, p.models_dir / f"{first}.safetensors")
        second = p.reserve_model_version()
        p.release_model_version(second)
        assert (first, second, p.reserve_model_version()) == (
            "retrain-01",
            "retrain-02",
            "retrain-02",
        )


def test_discard_never_deletes_a_registered_model(folder):
    from spinegui.ml.retrain import discard_candidate

    with Project.open(folder) as p:
        model = p.models_dir / "retrain-01.safetensors"
        model.write_bytes(b"the weights another window adopted")
        p.add_model("retrain-01", model)
        with pytest.raises(SpineguiError, match="registered"):
            discard_candidate(model, project=p)
        assert model.read_bytes() == b"the weights another window adopted"
