"""Child process of test_store_durability: edits a project until it is killed.

Usage: python store_edit_child.py PROJECT_FOLDER IMAGE_ID KIND WRITER

KIND is what it edits: "corner" (edit number s moves one corner, chosen by s,
to (s, s + 0.5)), "vertebra" (edit s shifts vertebra s mod V by (1, 0.5)) or
"status" (edit s sets the review status number s mod 3). WRITER (0 or 1)
names the child in the history ("child0") and, for corners, the vertebrae it
owns (those of its parity), so two children can write to one image at once.
The child continues after its last edit found in the history, so numbers
never repeat, and prints "ack s" only after the store call has returned, i.e.
after the store claims the edit is durable. It first prints the journal mode
and synchronous level of its own connection, the settings the claim rests on.
"""

from __future__ import annotations

import contextlib
import sys
import time

from spinegui.core.store import STATUSES, Project

MAX_LIFETIME_S = 60.0  # never outlive a crashed parent for long
KIND_OF = {"corner": "move_corner", "vertebra": "move_vertebra", "status": "status"}
SHIFT = (1.0, 0.5)


def corner_of(seq: int, n_vertebrae: int, writer: int = 0) -> tuple[int, int]:
    """The corner edit ``seq`` of ``writer`` moves (writers own alternate vertebrae)."""
    half = (n_vertebrae - writer + 1) // 2
    return 2 * (seq % half) + writer, (seq // half) % 4


def edits_of(project: Project, image_id: int, kind: str, writer: int) -> list:
    user = f"child{writer}"
    return [e for e in project.history(image_id) if e.user == user and e.kind == KIND_OF[kind]]


def edit(project: Project, image_id: int, kind: str, writer: int, seq: int) -> None:
    n = project.template.n_vertebrae
    if kind == "corner":
        v, c = corner_of(seq, n, writer)
        project.move_corner(image_id, v, c, (seq, seq + 0.5))
    elif kind == "vertebra":
        project.move_vertebra(image_id, seq % n, SHIFT)
    else:
        project.set_status(image_id, STATUSES[seq % len(STATUSES)])


def main(folder: str, image_id: int, kind: str, writer: int) -> None:
    started = time.monotonic()
    with Project.open(folder, user=f"child{writer}") as project:
        journal, synchronous = project.durability()
        seq = len(edits_of(project, image_id, kind, writer))
        print(f"ready {seq} {journal} {synchronous}", flush=True)
        while time.monotonic() - started < MAX_LIFETIME_S:
            seq += 1
            edit(project, image_id, kind, writer, seq)
            print(f"ack {seq}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
