"""Child process of test_store_durability: edits a project until it is killed.

Usage: python store_edit_child.py PROJECT_FOLDER IMAGE_ID

Edit number s moves one corner (chosen by s) to (s, s + 0.5). The child
continues after the last edit found in the history, so numbers never repeat,
and prints "ack s" only after ``move_corner`` has returned, i.e. after the
store claims the edit is durable. The parent kills it with SIGKILL at random
and checks every acknowledged edit survived.
"""

from __future__ import annotations

import contextlib
import sys
import time

from spinegui.core.store import Project

MAX_LIFETIME_S = 60.0  # never outlive a crashed parent for long


def corner_of(seq: int, n_vertebrae: int) -> tuple[int, int]:
    return seq % n_vertebrae, (seq // n_vertebrae) % 4


def main(folder: str, image_id: int) -> None:
    started = time.monotonic()
    with Project.open(folder, user="child") as project:
        n_vertebrae = project.template.n_vertebrae
        last = project.history(image_id, limit=1)
        seq = int(last[0].after[0]) if last and last[0].kind == "move_corner" else 0
        print(f"ready {seq}", flush=True)
        while time.monotonic() - started < MAX_LIFETIME_S:
            seq += 1
            v, c = corner_of(seq, n_vertebrae)
            project.move_corner(image_id, v, c, (seq, seq + 0.5))
            print(f"ack {seq}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main(sys.argv[1], int(sys.argv[2]))
