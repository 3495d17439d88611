"""A finished retrain: both models on the same validation images, and the choice.

The table is built from the trainer's comparison event by
``retrain_run.comparison_rows``, so any metric the trainer reports is shown.
Metric names sit in the first column, where they can wrap, and the table is
as tall as its rows: nothing is clipped in a narrow dock and no second
scroll bar sits inside the panel's. The model versions are named above the
table rather than in its headers, where long names were cut off.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spinegui.gui.retrain_run import MetricRow, RetrainRun, comparison_rows

HEADERS = ("Measure", "Current", "New", "Change")
BETTER, WORSE = QColor("#1b6e1b"), QColor("#a01818")
WARNING_STYLE = "background: #fff4d6; color: #5c4400; border: 1px solid #e0c060; padding: 6px;"


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


class RetrainResultBox(QGroupBox):
    """Before/after table and the adopt/discard buttons."""

    adoptClicked = Signal()
    discardClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Result: current model vs new model", parent)
        layout = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.models_label = QLabel()
        self.models_label.setWordWrap(True)
        self.mix_label = QLabel()
        self.mix_label.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(lambda *_: self._fit_height())  # wrapped labels
        self.adopt_button = QPushButton("Use the new model")
        self.adopt_button.setMinimumHeight(36)
        self.adopt_button.setToolTip(
            "Make the new model the one that places landmarks in this project. Predictions "
            "are refreshed. You can go back to any earlier model in the model history."
        )
        self.adopt_button.clicked.connect(self.adoptClicked)
        self.discard_button = QPushButton("Keep the current model")
        self.discard_button.setMinimumHeight(36)
        self.discard_button.setToolTip(
            "Throw the new model away. Your reviewed images are kept; you can retrain any time."
        )
        self.discard_button.clicked.connect(self.discardClicked)
        for w in (self.intro, self.models_label, self.mix_label, self.table):
            layout.addWidget(w)
        layout.addWidget(self.adopt_button)
        layout.addWidget(self.discard_button)
        self.rows: list[MetricRow] = []

    def show_run(self, run: RetrainRun) -> None:
        comp = run.comparison
        cur = (comp.current if comp is not None else None) or {}
        new = (comp.new if comp is not None else None) or {}
        n_val = comp.val_images if comp is not None else len(run.plan.val_ids)
        cur_name = cur.get("version") or run.active or "none"
        self.models_label.setText(f"<b>Current:</b> {cur_name} &nbsp; <b>New:</b> {run.version}")
        self.rows = comparison_rows(
            cur,
            new,
            comp.vertebrae if comp is not None else [],
            comp.rows if comp is not None else None,
        )
        self._fill(self.rows)
        if comp is None:
            intro = (
                "The trainer did not report a comparison, so only the new model's own "
                "validation figures are known (see the log)."
            )
        else:
            intro = (
                f"Both models measured on the same {n_val} validation image"
                f"{'s' if n_val != 1 else ''}, which neither learnt from, the way the window "
                "predicts (with the mirrored image). Lower errors and SMAPE are better; a "
                "Pearson r closer to 1 is better."
            )
            if not cur:
                intro += " The project had no model before, so there is nothing to compare with."
        self.intro.setText(intro)
        mix = run.plan.validation_mix()
        self.mix_label.setText(mix)
        self.mix_label.setStyleSheet(WARNING_STYLE if run.plan.mostly_accepted else "")
        self.mix_label.setVisible(bool(mix))
        self.discard_button.setText(
            "Keep the current model" if run.active else "Discard the new model"
        )

    def _fill(self, rows: list[MetricRow]) -> None:
        table = self.table
        table.setRowCount(len(rows))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, row in enumerate(rows):
            change, better = row.change()
            cells = (row.label, _fmt(row.current, row.fmt), _fmt(row.new, row.fmt), change)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(right)
                if c == 3 and better is not None:
                    item.setForeground(BETTER if better else WORSE)
                table.setItem(r, c, item)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as its rows, which wrap to the width: no scroll bar inside the panel's."""
        table = self.table
        table.resizeRowsToContents()
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + 2
        height += sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()

    def texts(self) -> list[tuple[str, str, str, str]]:
        """What the table says, row by row (for tests and the log)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(len(HEADERS)))
            for r in range(self.table.rowCount())
        ]
