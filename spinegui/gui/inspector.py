"""The numbers beside the picture: named curves, the scale, and each vertebra's figures.

Everything shown is computed by the review session (``Measurement``); this
panel only lays it out. Curves are named by their apex (proximal thoracic,
main thoracic, thoracolumbar/lumbar), the ground truth's and the
prediction's angles side by side. A reader can choose a curve's end vertebrae
here or by clicking them on the image; such a curve says "chosen by the
reader". Distances are in millimetres when the image has a scale, and a
prediction that misses by more than a share of the vertebra's width is
flagged with a mark as well as a tint.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.review.measurement import LARGE_ERROR_FRACTION, Measurement, VertebraRow

NO_CURVE = "—"
LARGE_MARK = "⚠ "


READER_NOTE = "ends chosen by the reader"


def _cell(curve, names) -> str:
    """'42.1°' over 'T5–T12': the angle first, where the eye lands."""
    return NO_CURVE if curve is None else f"{curve.angle:.1f}°\n{curve.ends(names)}"


def cobb_table_rows(m: Measurement) -> list[tuple[str, str, str, str]]:
    """(curve, ground truth, prediction, difference) texts, top to bottom."""
    rows = []
    for row in m.rows:
        diff = row.difference
        shown = row.truth or row.prediction  # the truth's curve decides, if there is one
        name = row.name + (" ★" if shown.major else "")
        if row.chosen_by_reader:
            name += f"\n{READER_NOTE}"
        rows.append(
            (
                name,
                _cell(row.truth, m.names),
                _cell(row.prediction, m.names),
                "" if diff is None else f"{diff:+.1f}°",
            )
        )
    return rows


def vertebra_cells(row: VertebraRow, mm: bool) -> tuple[str, str, str, str]:
    """(name, tilt, error, uncertainty) texts of one table row."""
    error = _num(row.error_mm if mm else row.error_px, " mm" if mm else " px")
    if row.large_error:
        error = LARGE_MARK + error
    unc = _num(row.uncertainty_mm if mm else row.uncertainty_px, " mm" if mm else " px")
    return (row.name, _num(row.tilt_deg, "°"), error, unc)


class InspectorPanel(QWidget):
    """Curves on top (what clinicians look for first), the scale, the vertebra table below."""

    vertebraClicked = Signal(int)
    endsChosen = Signal(int, int)
    """(upper, lower) end vertebrae picked in the panel."""
    clearEndsRequested = Signal()
    pickEndsRequested = Signal()
    calibrateRequested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._quiet = False
        self.measurement: Measurement | None = None

        cobb_box = QGroupBox("Cobb angles")
        cobb_box.setToolTip(
            "Each curve is named by where its apex lies. Angles are between the end "
            "vertebrae's midlines: the most tilted ones (AASCE challenge rules) unless a "
            "reader chose them. ★ marks the largest curve."
        )
        self.cobb_table = QTableWidget(0, 4)
        self.cobb_table.setHorizontalHeaderLabels(["Curve", "Truth", "Model", "Δ"])
        for col, tip in enumerate(
            (
                "Curve name, from the region of its apex",
                "Ground truth: measured on the green boxes (what a reader confirmed)",
                "Prediction: measured on the red boxes (the model's)",
                "Prediction minus ground truth",
            )
        ):
            self.cobb_table.horizontalHeaderItem(col).setToolTip(tip)
        self._fit_table(self.cobb_table, stretch=(0,))
        self.cobb_note = QLabel()
        self.cobb_note.setWordWrap(True)
        self.cobb_note.setStyleSheet("color: #b26a00")

        self.upper_box, self.lower_box = QComboBox(), QComboBox()
        self.upper_box.setToolTip("Upper end vertebra of the curve you want measured")
        self.lower_box.setToolTip("Lower end vertebra of the curve you want measured")
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip(
            "Measure a curve between these two vertebrae; it replaces the automatic curve "
            "it overlaps, is saved with the image and can be undone"
        )
        self.measure_button.clicked.connect(
            lambda: self.endsChosen.emit(
                self.upper_box.currentIndex(), self.lower_box.currentIndex()
            )
        )
        self.pick_button = QPushButton("On the image… (E)")
        self.pick_button.setToolTip("Click the two end vertebrae on the X-ray instead")
        self.pick_button.clicked.connect(self.pickEndsRequested)
        self.clear_button = QPushButton("Automatic ends")
        self.clear_button.setToolTip("Forget the end vertebrae chosen by the reader on this image")
        self.clear_button.clicked.connect(self.clearEndsRequested)
        ends_row = QHBoxLayout()
        ends_row.addWidget(QLabel("Ends:"))
        ends_row.addWidget(self.upper_box, 1)
        ends_row.addWidget(QLabel("to"))
        ends_row.addWidget(self.lower_box, 1)
        ends_row.addWidget(self.measure_button)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.pick_button)
        buttons_row.addWidget(self.clear_button)
        buttons_row.addStretch(1)

        self.scale_label = QLabel()
        self.scale_label.setWordWrap(True)
        self.calibrate_button = QPushButton("Calibrate… (K)")
        self.calibrate_button.setToolTip(
            "Draw a line over something of known length to measure this image in millimetres"
        )
        self.calibrate_button.clicked.connect(self.calibrateRequested)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_label, 1)
        scale_row.addWidget(self.calibrate_button)

        box_layout = QVBoxLayout(cobb_box)
        box_layout.addWidget(self.cobb_table)
        box_layout.addWidget(self.cobb_note)
        box_layout.addLayout(ends_row)
        box_layout.addLayout(buttons_row)
        box_layout.addLayout(scale_row)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Vertebra", "Tilt", "Error", "Uncertainty"])
        self._error_tip = (
            "Mean distance between predicted (red) and true (green) corners. "
            f"{LARGE_MARK.strip()} and a tint mark a miss of more than "
            f"{LARGE_ERROR_FRACTION:.0%} of the vertebra's width."
        )
        for col, tip in enumerate(
            (
                "Vertebra name",
                "Tilt of the vertebra's midline in degrees (positive: right side higher)",
                self._error_tip,
                "Spread of the model's corners under test-time augmentation: how unsure "
                "the model is about this vertebra",
            )
        ):
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
        self.clear()

    @staticmethod
    def _fit_table(table: QTableWidget, stretch: tuple[int, ...]) -> None:
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setWordWrap(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in stretch:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    # ------------------------------------------------------------------ content

    def clear(self) -> None:
        self.show_measurement(None)

    def show_measurement(self, m: Measurement | None) -> None:
        self.measurement = m
        names = () if m is None else m.names
        if names != self._names:
            self._names = names
            for box, default in ((self.upper_box, 0), (self.lower_box, len(names) - 1)):
                box.clear()
                box.addItems(list(names))
                box.setCurrentIndex(max(default, 0))
        for w in (self.upper_box, self.lower_box, self.measure_button, self.pick_button):
            w.setEnabled(m is not None)
        self._show_curves(m)
        self._show_scale(m)
        self._show_vertebrae(m)

    def _show_curves(self, m: Measurement | None) -> None:
        rows = [] if m is None else cobb_table_rows(m)
        table = self.cobb_table
        table.setRowCount(len(rows))
        for r, texts in enumerate(rows):
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                table.setItem(r, c, item)
        table.resizeRowsToContents()
        height = table.horizontalHeader().height() + sum(
            table.rowHeight(r) for r in range(table.rowCount())
        )
        table.setFixedHeight(height + 2 * table.frameWidth() + 2)
        chosen = m is not None and any(r.chosen_by_reader for r in m.rows)
        self.clear_button.setEnabled(chosen)
        notes = []
        if m is not None:
            for what, curve_set in (("Ground truth", m.truth), ("Prediction", m.prediction)):
                if curve_set.note:
                    notes.append(f"{what}: {curve_set.note}")
            if not rows and not notes:
                notes.append("No landmarks yet: nothing to measure.")
        self.cobb_note.setText("\n".join(notes))
        self.cobb_note.setVisible(bool(notes))

    def _show_scale(self, m: Measurement | None) -> None:
        self.calibrate_button.setEnabled(m is not None)
        if m is None:
            self.scale_label.setText("")
        elif m.spacing is None:
            self.scale_label.setText(
                "Scale: unknown (no DICOM pixel spacing). Distances are in pixels; "
                "calibrate with a ruler for millimetres."
            )
        else:
            self.scale_label.setText(f"Scale: {m.spacing.describe()}")

    def _show_vertebrae(self, m: Measurement | None) -> None:
        rows = () if m is None else m.vertebrae
        mm = m is not None and m.spacing is not None
        self._quiet = True
        try:
            self.table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, text in enumerate(vertebra_cells(row, mm)):
                    item = QTableWidgetItem(text)
                    if c:
                        item.setTextAlignment(
                            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                        )
                    if row.large_error:
                        item.setBackground(QColor(255, 200, 200, 90))
                    self.table.setItem(r, c, item)
        finally:
            self._quiet = False

    def select_vertebra(self, v: int) -> None:
        self._quiet = True
        try:
            if 0 <= v < self.table.rowCount():
                self.table.selectRow(v)
            else:
                self.table.clearSelection()
        finally:
            self._quiet = False

    def cobb_text(self) -> list[tuple[str, str, str, str]]:
        """What the curve table shows, row by row (for the report and tests)."""
        return [
            tuple(self.cobb_table.item(r, c).text() for c in range(4))
            for r in range(self.cobb_table.rowCount())
        ]

    def _row_selected(self) -> None:
        if self._quiet:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.vertebraClicked.emit(rows[0].row())


def _num(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.1f}{unit}"
