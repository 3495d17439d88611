"""Undo and redo as plain data: a list of steps per user action, and where we are in it.

Qt's QUndoStack would tie the review model to Qt; this is the part of it the
session needs. An entry is already applied when pushed (the session writes
first and records only what succeeded), so pushing never re-runs it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class UndoEntry:
    """One user action: the steps it made, on which image, named for the menu."""

    image_id: int
    steps: list
    text: str


class UndoHistory:
    """Entries before ``index`` are done, from ``index`` on they are undone (redoable)."""

    def __init__(self) -> None:
        self.entries: list[UndoEntry] = []
        self.index = 0

    def push(self, entry: UndoEntry) -> None:
        """Record an action just done; whatever was undone can no longer be redone."""
        del self.entries[self.index :]
        self.entries.append(entry)
        self.index = len(self.entries)

    def clear(self) -> None:
        self.entries.clear()
        self.index = 0

    def next_undo(self) -> UndoEntry | None:
        return self.entries[self.index - 1] if self.index > 0 else None

    def next_redo(self) -> UndoEntry | None:
        return self.entries[self.index] if self.index < len(self.entries) else None

    def undone(self) -> None:
        self.index -= 1

    def redone(self) -> None:
        self.index += 1

    def undo_text(self) -> str:
        entry = self.next_undo()
        return "" if entry is None else entry.text

    def redo_text(self) -> str:
        entry = self.next_redo()
        return "" if entry is None else entry.text
