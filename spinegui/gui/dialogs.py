"""Dialogs and notices: errors in plain words, the shortcut list, About.

Errors a user can cause arrive as SpineguiError with a message (what went
wrong) and a hint (what to do); both are shown, never a traceback. Problems
that need no decision (a failed prediction) go to a non-modal notice bar so
the user is told without being stopped.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from spinegui import __version__
from spinegui.core.errors import SpineguiError
from spinegui.gui.actions import shortcut_rows
from spinegui.gui.report import DISCLAIMER

CITATION = (
    "The landmark network and its loss (MSE + α·BPD, the bipartite distance between left and "
    "right vertebra corners) follow the paper on shape-aware vertebral landmark detection "
    "for adolescent idiopathic scoliosis supplied with this project (see paper.txt). Cobb "
    "angles follow the AASCE 2019 challenge rules."
)


def show_error(parent: QWidget | None, title: str, error: BaseException | str, hint: str = ""):
    """Tell the user what went wrong and what to do; returns after they close it."""
    if isinstance(error, SpineguiError):
        message, hint = error.message, error.hint or hint
    else:
        message = str(error)
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent
    )
    if hint:
        box.setInformativeText(hint)
    box.exec()
    return box


class NoticeBar(QWidget):
    """A dismissable strip above the image for news that needs no decision."""

    dismissed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("NoticeBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Hide this message")
        close.clicked.connect(self.hide)
        close.clicked.connect(self.dismissed)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self.set_kind("info")
        self.hide()

    def set_kind(self, kind: str) -> None:
        colours = {"info": ("#e8f1fb", "#1d4f86"), "warning": ("#fff4e0", "#7a4b00")}
        bg, fg = colours.get(kind, colours["info"])
        self.setStyleSheet(f"#NoticeBar {{ background: {bg}; }} QLabel {{ color: {fg}; }}")

    def show_message(self, text: str, kind: str = "info") -> None:
        self.set_kind(kind)
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class ShortcutsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows()
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Where", "Keys", "What it does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(text))
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(620, 560)


def about_text() -> str:
    return (
        f"<h2>spinegui {__version__}</h2>"
        "<p>Measure scoliosis on spinal X-rays: a neural network places the four corners of "
        "every vertebra, you correct them, and the Cobb angles follow.</p>"
        f"<p>{CITATION}</p>"
        f"<p><b>{DISCLAIMER}</b></p>"
        "<p>Licence: MIT.</p>"
    )


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(parent, "About spinegui", about_text())
