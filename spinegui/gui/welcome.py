"""The first thing a new user sees: what the tool does and the four ways to start."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

INTRO = """
<h1>spinegui</h1>
<p style="font-size: 12pt">Measure scoliosis on spinal X-rays.</p>
<ol style="font-size: 11pt; line-height: 140%">
<li>Open X-rays (PNG, JPEG, TIFF, DICOM) or a project.</li>
<li>The model draws each vertebra as a
    <span style="color:#d32f2f"><b>red dashed box</b></span>.</li>
<li>Drag a corner to correct it, or press <b>A</b> to accept a box.
    Corrected boxes turn <span style="color:#2e9d3a"><b>green</b></span>.</li>
<li>Read the Cobb angles on the right, then press <b>Ctrl+Enter</b>
    to mark the image reviewed and go to the next one.</li>
</ol>
<p style="color: #777">Every change is saved as you make it. Research use only; not a medical
device.</p>
"""


class WelcomeView(QWidget):
    """Shown when no project is open; every button says what it will do."""

    openDemo = Signal()
    openProject = Signal()
    newProject = Signal()
    openFiles = Signal()
    recentChosen = Signal(Path)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        intro = QLabel(INTRO)
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)

        buttons = QVBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, tip, signal in (
            (
                "demo",
                "Try the demo",
                "Open a demo project of synthetic X-rays: safe to edit, nothing real is changed",
                self.openDemo,
            ),
            (
                "open",
                "Open a project…",
                "Open a folder that holds a spinegui project (project.sqlite)",
                self.openProject,
            ),
            (
                "new",
                "New project from a folder of X-rays…",
                "Create a project inside a folder and add every X-ray found in it",
                self.newProject,
            ),
            (
                "files",
                "Open X-ray files…",
                "Open single X-ray files; they are collected in your "
                "Inbox project so no correction is ever lost",
                self.openFiles,
            ),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setMinimumHeight(34)
            b.clicked.connect(signal)
            buttons.addWidget(b)
            self.buttons[key] = b
        buttons.addSpacing(12)
        buttons.addWidget(QLabel("<b>Recent projects</b>"))
        self.recent = QListWidget()
        self.recent.setToolTip("Double-click to open")
        self.recent.itemActivated.connect(
            lambda item: self.recentChosen.emit(Path(item.data(Qt.ItemDataRole.UserRole)))
        )
        buttons.addWidget(self.recent, 1)
        hint = QLabel("Tip: you can also drop X-ray files or a project folder on this window.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #777")
        buttons.addWidget(hint)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(intro, 3)
        row.addSpacing(32)
        row.addLayout(buttons, 2)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def set_recent(self, folders: list[Path]) -> None:
        self.recent.clear()
        for folder in folders:
            item = QListWidgetItem(f"{folder.name}   —   {folder.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            self.recent.addItem(item)
        if not folders:
            self.recent.addItem("(none yet)")
            self.recent.item(0).setFlags(Qt.ItemFlag.NoItemFlags)
