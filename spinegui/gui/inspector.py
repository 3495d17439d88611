"""The numbers beside the picture: per-vertebra tilt, error, uncertainty and Cobb angles.

The values are computed by plain functions (``vertebra_rows``, ``cobb_lines``)
so what the table says is tested without widgets; the widgets only show them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.cobb import CobbResult, safe_cobb
from spinegui.core.geometry import tilts

COBB_NAMES = ("Main / proximal thoracic", "Main thoracic", "Thoracolumbar / lumbar")
LARGE_ERROR_PX = 10.0
"""Rows whose prediction misses the truth by more than this are tinted, to draw the eye."""


@dataclass(frozen=True)
class VertebraRow:
    name: str
    tilt_deg: float | None
    error_px: float | None
    uncertainty_px: float | None


@dataclass(frozen=True)
class CobbLine:
    """One Cobb angle as text for truth and prediction, e.g. '23.4° (T5–T11)'."""

    label: str
    truth: str
    prediction: str


def vertebra_rows(names, truth, prediction, spread) -> list[VertebraRow]:
    """Tilt of the truth (else the prediction), corner error and spread per vertebra."""
    shown = truth if truth is not None else prediction
    tilt = tilts(shown) if shown is not None else None
    error = None
    if truth is not None and prediction is not None:
        error = np.linalg.norm(np.asarray(prediction) - np.asarray(truth), axis=-1).mean(axis=-1)
    unc = None if spread is None else np.asarray(spread).mean(axis=-1)
    return [
        VertebraRow(
            name,
            None if tilt is None else float(tilt[i]),
            None if error is None else float(error[i]),
            None if unc is None else float(unc[i]),
        )
        for i, name in enumerate(names)
    ]


def format_angle(result: CobbResult | None, k: int, names) -> str:
    if result is None:
        return "—"
    upper, lower = result.pairs[k]
    if upper == lower:
        return "no curve"
    return f"{result.angles[k]:.1f}° ({names[upper]}–{names[lower]})"


def cobb_lines(names, truth_result, prediction_result) -> list[CobbLine]:
    return [
        CobbLine(
            label,
            format_angle(truth_result, k, names),
            format_angle(prediction_result, k, names),
        )
        for k, label in enumerate(COBB_NAMES)
    ]


class InspectorPanel(QWidget):
    """Cobb angles on top (what clinicians look for first), the vertebra table below."""

    vertebraClicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._quiet = False

        cobb_box = QGroupBox("Cobb angles")
        cobb_box.setToolTip(
            "Angles between the most tilted vertebrae (AASCE challenge rules), with their end "
            "vertebrae. Ground truth uses the green boxes, prediction the red ones."
        )
        grid = QGridLayout(cobb_box)
        for col, title in enumerate(("", "Ground truth", "Prediction")):
            head = QLabel(f"<b>{title}</b>")
            grid.addWidget(head, 0, col)
        self.cobb_cells: list[tuple[QLabel, QLabel, QLabel]] = []
        for row, label in enumerate(COBB_NAMES, start=1):
            cells = (QLabel(label), QLabel("—"), QLabel("—"))
            for col, cell in enumerate(cells):
                cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                grid.addWidget(cell, row, col)
            self.cobb_cells.append(cells)
        self.cobb_note = QLabel()
        self.cobb_note.setWordWrap(True)
        self.cobb_note.setStyleSheet("color: #b26a00")
        grid.addWidget(self.cobb_note, len(COBB_NAMES) + 1, 0, 1, 3)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Vertebra", "Tilt", "Error", "Uncertainty"])
        tips = (
            "Vertebra name",
            "Tilt of the vertebra's midline in degrees (positive: right side higher)",
            "Mean distance between predicted (red) and true (green) corners, in pixels",
            "Spread of the model's corners under test-time augmentation, in pixels: how unsure "
            "the model is about this vertebra",
        )
        for col, tip in enumerate(tips):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Click a vertebra to select it on the image")
        self.table.itemSelectionChanged.connect(self._row_selected)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(cobb_box)
        layout.addWidget(self.table, 1)

    def clear(self) -> None:
        self.show_landmarks((), None, None, None, None)

    def show_landmarks(self, names, truth, prediction, spread, image_height) -> None:
        self._names = tuple(names)
        rows = vertebra_rows(self._names, truth, prediction, spread) if self._names else []
        self._quiet = True
        try:
            self.table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                values = (
                    row.name,
                    _num(row.tilt_deg, "°"),
                    _num(row.error_px, " px"),
                    _num(row.uncertainty_px, " px"),
                )
                for c, text in enumerate(values):
                    item = QTableWidgetItem(text)
                    if c:
                        item.setTextAlignment(
                            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                        )
                    if row.error_px is not None and row.error_px > LARGE_ERROR_PX:
                        item.setBackground(QColor(255, 200, 200, 90))
                    self.table.setItem(r, c, item)
        finally:
            self._quiet = False
        truth_res, why_t = safe_cobb(truth, image_height)
        pred_res, why_p = safe_cobb(prediction, image_height)
        for cells, line in zip(
            self.cobb_cells, cobb_lines(self._names, truth_res, pred_res), strict=True
        ):
            cells[1].setText(line.truth)
            cells[2].setText(line.prediction)
        notes = [
            f"{what}: {why}"
            for what, why, pts in (
                ("Ground truth", why_t, truth),
                ("Prediction", why_p, prediction),
            )
            if why and pts is not None
        ]
        self.cobb_note.setText("\n".join(notes))
        self.cobb_note.setVisible(bool(notes))

    def select_vertebra(self, v: int) -> None:
        self._quiet = True
        try:
            if 0 <= v < self.table.rowCount():
                self.table.selectRow(v)
            else:
                self.table.clearSelection()
        finally:
            self._quiet = False

    def cobb_text(self) -> list[tuple[str, str, str]]:
        return [(a.text(), b.text(), c.text()) for a, b, c in self.cobb_cells]

    def _row_selected(self) -> None:
        if self._quiet:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.vertebraClicked.emit(rows[0].row())


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.1f}{unit}"
