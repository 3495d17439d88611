"""The project's models, newest first, with their cards and a way back to any of them.

Why: a retrained model can look better on the validation numbers and still
behave worse on the next patients. The reviewer must be able to see where
each model came from (which model it started from, on which data, with which
settings, how well it did) and switch back in one click. Switching only
changes which model is active; no model file is deleted here.

Reads only the project store (no torch): the cards were written when each
model was adopted.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.errors import SpineguiError
from spinegui.core.store import ModelRecord, Project
from spinegui.core.store.db import local_time

__all__ = ["ModelHistoryDialog", "describe_model"]

COLUMNS = (
    "Model",
    "In use",
    "Created",
    "Started from",
    "Training images",
    "Corner error (px)",
    "Cobb SMAPE (%)",
)


def _validation(card: dict[str, Any]) -> dict[str, Any]:
    """The model's own figures on its validation images, whichever way the card holds them."""
    comp = card.get("comparison") or {}
    if comp.get("new"):
        return comp["new"]
    metrics = card.get("metrics") or {}
    return metrics.get("val") or {}


def _fmt(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def describe_model(record: ModelRecord) -> str:
    """The model card as text a reviewer can read (and copy into a report)."""
    card = record.card or {}
    val = _validation(card)
    settings = card.get("settings") or {}
    lines = [
        f"Model {record.version}" + ("  (in use)" if record.active else ""),
        f"Created: {local_time(card.get('created') or record.created) or '-'}",
        f"Started from: {record.parent or 'nothing (trained from scratch or shipped)'}",
        f"File: {record.path}" + ("" if record.path.is_file() else "  (MISSING)"),
        "",
        f"Spine template: {card.get('template') or '-'}; network: {card.get('arch') or '-'}, "
        f"image size {card.get('preset') or '-'}",
        f"Training images: {card.get('train_images', '-')}; validation images: "
        f"{card.get('val_images', '-')}",
        f"Data fingerprint: {card.get('data_fingerprint') or '-'}",
        "  (changes whenever an image or a landmark of the training data changes)",
        "",
        "On its validation images:",
        f"  mean corner error {_fmt(val.get('mean_px'), '.2f')} px, "
        f"Cobb SMAPE {_fmt(val.get('smape'), '.2f')}%, "
        f"Pearson r {_fmt(val.get('pearson_r'), '.4f')}",
    ]
    comp = card.get("comparison") or {}
    before = comp.get("current")
    if before:
        lines.append(
            f"  the model before it ({before.get('version')}) on the same images: "
            f"{_fmt(before.get('mean_px'), '.2f')} px, SMAPE {_fmt(before.get('smape'), '.2f')}%, "
            f"r {_fmt(before.get('pearson_r'), '.4f')}"
        )
    if settings:
        lines += ["", "Settings:"]
        lines += [f"  {k}: {v}" for k, v in sorted(settings.items())]
    extra = {
        k: v
        for k, v in card.items()
        if k
        not in {
            "comparison",
            "settings",
            "metrics",
            "created",
            "template",
            "arch",
            "preset",
            "train_images",
            "val_images",
            "data_fingerprint",
            "parent",
            "val_ids",
        }
    }
    if extra:
        lines += ["", "More:", json.dumps(extra, indent=2, sort_keys=True, default=str)]
    return "\n".join(lines)


class ModelHistoryDialog(QDialog):
    """List of the project's models; "Use this model" makes the selected one active."""

    modelActivated = Signal(str, str)
    """(version, checkpoint path) after the active model was changed here."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model history")
        self.resize(900, 560)
        self._project = project
        self._records: list[ModelRecord] = []

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every model this project has used, newest first. Select one to read how it was "
            "made; “Use this model” switches back to it. No model is ever deleted here."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        layout.addWidget(splitter, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip(
            "Make the selected model the one that places landmarks in this project."
        )
        self.use_button.clicked.connect(self.activate_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.reload()

    def reload(self) -> None:
        """Re-read the models from the project (another run may have added one)."""
        try:
            self._records = list(reversed(self._project.models()))
        except SpineguiError as exc:
            self._records = []
            self.message.setText(f"{exc.message} {exc.hint}")
        self.table.setRowCount(len(self._records))
        for row, rec in enumerate(self._records):
            card = rec.card or {}
            val = _validation(card)
            values = (
                rec.version,
                "in use" if rec.active else "",
                local_time(card.get("created") or rec.created) or "",
                rec.parent or "-",
                str(card.get("train_images", "-")),
                _fmt(val.get("mean_px"), ".1f"),
                _fmt(val.get("smape"), ".1f"),
            )
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if rec.active:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        if not self._records:
            self.details.setPlainText("This project has no models yet.")
        active_rows = [i for i, r in enumerate(self._records) if r.active]
        self.table.selectRow(active_rows[0] if active_rows else 0)
        self._show_selected()

    def selected(self) -> ModelRecord | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._records[min(rows)] if rows and self._records else None

    def select_version(self, version: str) -> None:
        for row, rec in enumerate(self._records):
            if rec.version == version:
                self.table.selectRow(row)
                return

    def _show_selected(self) -> None:
        rec = self.selected()
        if rec is None:
            self.use_button.setEnabled(False)
            return
        self.details.setPlainText(describe_model(rec))
        self.use_button.setEnabled(not rec.active)
        self.use_button.setText("In use" if rec.active else f"Use {rec.version}")

    def activate_selected(self) -> bool:
        """Make the selected model active; refuses (with a message) when its file is gone."""
        rec = self.selected()
        if rec is None or rec.active:
            return False
        if not rec.path.is_file():
            self.message.setText(
                f"The file of {rec.version} is missing ({rec.path}). Restore it from a backup "
                "to use this model again."
            )
            return False
        try:
            self._project.set_active_model(rec.version)
        except SpineguiError as exc:
            self.message.setText(f"{exc.message} {exc.hint}")
            return False
        self.message.setText(f"{rec.version} is now the model in use.")
        self.reload()
        self.modelActivated.emit(rec.version, str(rec.path))
        return True
