"""The list of a project's X-rays with their review status, filter and sort.

Filtering and sorting are plain functions over ``WorklistEntry`` values
(``arrange``), so "doubtful images first" is tested without widgets and the
next/previous keys follow exactly the order the user sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

STATUS_LABELS = {"not_started": "Not started", "in_review": "In review", "reviewed": "Reviewed"}
STATUS_COLOURS = {"not_started": "#9e9e9e", "in_review": "#f0a30a", "reviewed": "#2e9d3a"}

FILTERS = {
    "all": "All images",
    "todo": "Still to review",
    "not_started": "Not started",
    "in_review": "In review",
    "reviewed": "Reviewed",
}
SORTS = {
    "order": "Project order",
    "uncertainty": "Most uncertain first",
    "name": "File name",
    "status": "Review status",
}
COLUMNS = ("#", "Image", "Status", "Truth", "Uncertainty")


@dataclass(frozen=True)
class WorklistEntry:
    """One row: what the user needs to decide which X-ray to look at next."""

    image_id: int
    name: str
    status: str
    has_truth: bool
    uncertainty: float | None = None
    """Mean test-time-augmentation spread of the active model's prediction, px."""
    has_prediction: bool = False


def arrange(
    entries: list[WorklistEntry], filter_key: str = "all", text: str = "", sort_key: str = "order"
) -> list[WorklistEntry]:
    """The rows to show, in the order to show them."""
    needle = text.strip().lower()
    rows = [e for e in entries if _passes(e, filter_key) and needle in e.name.lower()]
    if sort_key == "uncertainty":
        # Unknown uncertainty last: an image without a prediction is no reason for doubt.
        rows.sort(key=lambda e: (e.uncertainty is None, -(e.uncertainty or 0.0), e.image_id))
    elif sort_key == "name":
        rows.sort(key=lambda e: (e.name.lower(), e.image_id))
    elif sort_key == "status":
        order = {s: i for i, s in enumerate(STATUS_LABELS)}
        rows.sort(key=lambda e: (order.get(e.status, 9), e.image_id))
    else:
        rows.sort(key=lambda e: e.image_id)
    return rows


def _passes(entry: WorklistEntry, filter_key: str) -> bool:
    if filter_key == "all":
        return True
    if filter_key == "todo":
        return entry.status != "reviewed"
    return entry.status == filter_key


def mean_spread(spread) -> float | None:
    if spread is None:
        return None
    value = float(spread.mean())
    return value if math.isfinite(value) else None


def _status_icon(status: str) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(STATUS_COLOURS.get(status, "#9e9e9e")))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pix)


class WorklistModel(QAbstractTableModel):
    """Table of the arranged entries; rows are replaced wholesale on each change."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[WorklistEntry] = []
        self._icons: dict[str, QIcon] = {}

    def set_rows(self, rows: list[WorklistEntry]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(e, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 2:
            if e.status not in self._icons:
                self._icons[e.status] = _status_icon(e.status)
            return self._icons[e.status]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(e)
        if role == Qt.ItemDataRole.UserRole:
            return e.image_id
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(e: WorklistEntry, col: int) -> str:
        if col == 0:
            return str(e.image_id)
        if col == 1:
            return e.name
        if col == 2:
            return STATUS_LABELS.get(e.status, e.status)
        if col == 3:
            return "yes" if e.has_truth else "—"
        if e.uncertainty is None:
            return "" if not e.has_prediction else "n/a"
        return f"{e.uncertainty:.1f} px"

    @staticmethod
    def _tooltip(e: WorklistEntry) -> str:
        truth = "has ground truth (green)" if e.has_truth else "no ground truth yet"
        doubt = (
            "no prediction yet"
            if not e.has_prediction
            else "model uncertainty unknown"
            if e.uncertainty is None
            else f"model uncertainty {e.uncertainty:.1f} px"
        )
        return f"{e.name}\n{STATUS_LABELS.get(e.status, e.status)}, {truth}, {doubt}"


_HEADER_TIPS = (
    "Image number in the project",
    "File name of the X-ray",
    "Review status: not started, in review (edited), reviewed (signed off)",
    "Whether the image has ground-truth landmarks (green boxes)",
    "How unsure the model is: mean spread of its corners under test-time augmentation, in "
    "pixels. Sort by it to review doubtful images first.",
)


class WorklistPanel(QWidget):
    """Filter, sort and pick an X-ray; emits ``imageSelected`` when the user picks one."""

    imageSelected = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._entries: dict[int, WorklistEntry] = {}
        self._current: int | None = None
        self._quiet = False

        self.filter_box = QComboBox()
        for key, label in FILTERS.items():
            self.filter_box.addItem(label, key)
        self.filter_box.setToolTip("Show only images with this review status")
        self.sort_box = QComboBox()
        for key, label in SORTS.items():
            self.sort_box.addItem(label, key)
        self.sort_box.setToolTip(
            "Order of the list. 'Most uncertain first' puts the images the model is least "
            "sure about at the top, so they get reviewed first."
        )
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search file names…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type part of a file name to narrow the list (Ctrl+F)")

        self.model = WorklistModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setAlternatingRowColors(True)
        self.view.setIconSize(QSize(12, 12))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.view.setColumnHidden(0, True)  # ids mean nothing to clinicians; the tooltip has it
        self.setMinimumWidth(280)
        self.view.setToolTip("Click an image to open it. PgDown / PgUp: next / previous image.")
        self.counts = QLabel()
        self.counts.setToolTip("Review progress of the whole project")

        top = QHBoxLayout()
        top.addWidget(self.filter_box, 1)
        top.addWidget(self.sort_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.search)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.counts)

        self.filter_box.currentIndexChanged.connect(self._rearrange)
        self.sort_box.currentIndexChanged.connect(self._rearrange)
        self.search.textChanged.connect(self._rearrange)
        self.view.selectionModel().currentRowChanged.connect(self._row_changed)

    # ------------------------------------------------------------------ content

    def set_entries(self, entries: list[WorklistEntry]) -> None:
        self._entries = {e.image_id: e for e in entries}
        self._rearrange()

    def update_entry(self, image_id: int, **changes) -> None:
        if image_id in self._entries:
            self._entries[image_id] = replace(self._entries[image_id], **changes)
            self._rearrange()

    def entry(self, image_id: int) -> WorklistEntry | None:
        return self._entries.get(image_id)

    def entries(self) -> list[WorklistEntry]:
        return list(self._entries.values())

    def visible_ids(self) -> list[int]:
        return [e.image_id for e in self.model.rows]

    # ---------------------------------------------------------- filter and sort

    def set_filter(self, key: str) -> None:
        self.filter_box.setCurrentIndex(max(0, self.filter_box.findData(key)))

    def set_sort(self, key: str) -> None:
        self.sort_box.setCurrentIndex(max(0, self.sort_box.findData(key)))

    def sort_key(self) -> str:
        return self.sort_box.currentData()

    # --------------------------------------------------------------- selection

    def current_image(self) -> int | None:
        return self._current

    def select_image(self, image_id: int | None) -> None:
        """Highlight an image without announcing it (the window already shows it)."""
        self._current = image_id
        self._highlight()

    def neighbour(self, step: int) -> int | None:
        """The image ``step`` rows away from the current one in the visible order."""
        ids = self.visible_ids()
        if not ids:
            return None
        if self._current not in ids:
            return ids[0] if step > 0 else ids[-1]
        i = ids.index(self._current) + step
        return ids[i] if 0 <= i < len(ids) else None

    # ------------------------------------------------------------------ private

    def _rearrange(self) -> None:
        rows = arrange(
            list(self._entries.values()),
            self.filter_box.currentData() or "all",
            self.search.text(),
            self.sort_box.currentData() or "order",
        )
        self._quiet = True
        try:
            self.model.set_rows(rows)
            self._highlight()
        finally:
            self._quiet = False
        done = sum(e.status == "reviewed" for e in self._entries.values())
        self.counts.setText(
            f"{len(rows)} shown of {len(self._entries)} · {done} reviewed"
            if self._entries
            else "No images yet: drop X-rays here or use File > Add images."
        )

    def _highlight(self) -> None:
        was_quiet, self._quiet = self._quiet, True
        try:
            ids = self.visible_ids()
            if self._current in ids:
                row = ids.index(self._current)
                self.view.selectRow(row)
                self.view.scrollTo(self.model.index(row, 0))
            else:
                self.view.clearSelection()
        finally:
            self._quiet = was_quiet

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._quiet or not current.isValid():
            return
        image_id = self.model.rows[current.row()].image_id
        if image_id != self._current:
            self._current = image_id
            self.imageSelected.emit(image_id)
