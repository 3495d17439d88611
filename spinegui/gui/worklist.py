"""The list of a project's X-rays: status, main Cobb angle, uncertainty; filter and sort.

The rows and their order come from a ``Worklist`` (spinegui.core.review),
shared with the review session, so next/previous follow exactly what this
list shows. Clicking a column header sorts by it (again: the other way
round). Names are the session's ``shown_names`` (the beginning every file
name shares left out, PACS images by patient) and, still too long, are
shortened in the middle.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap
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

from spinegui.core.review.worklist import (
    FILTERS,
    SORTS,
    STATUS_LABELS,
    Worklist,
    WorklistEntry,
    arrange,
    mean_spread,
)

__all__ = ["WorklistEntry", "WorklistPanel", "arrange", "mean_spread"]

STATUS_COLOURS = {"not_started": "#9e9e9e", "in_review": "#f0a30a", "reviewed": "#2e9d3a"}
COLUMNS = ("#", "Image", "", "Truth", "Cobb", "Unc.")
"""Short headers (each has a tooltip): in a narrow dock the file name keeps the width."""
COLUMN_SORTS = ("order", "name", "status", None, "cobb", "uncertainty")
"""The sort a click on each column header chooses (None: that column does not sort)."""


def _status_icon(status: str) -> QIcon:
    """Shape and colour both say the status: hollow, half-filled, filled with a tick."""
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(STATUS_COLOURS.get(status, "#9e9e9e"))
    p.setPen(QPen(colour, 1.6))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QRectF(1.5, 1.5, 11, 11))
    if status == "in_review":
        p.setBrush(colour)
        p.drawPie(QRectF(1.5, 1.5, 11, 11), 90 * 16, 180 * 16)  # the left half
    elif status == "reviewed":
        p.setBrush(colour)
        p.drawEllipse(QRectF(1.5, 1.5, 11, 11))
        p.setPen(QPen(QColor("white"), 1.8))
        p.drawPolyline([QPointF(4, 7.2), QPointF(6.2, 9.5), QPointF(10.2, 4.8)])
    p.end()
    return QIcon(pix)


class WorklistModel(QAbstractTableModel):
    """Table of the arranged entries; rows are replaced wholesale on each change."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[WorklistEntry] = []
        self.names: dict[int, str] = {}
        self._icons: dict[str, QIcon] = {}

    def set_rows(self, rows: list[WorklistEntry], names: dict[int, str] | None = None) -> None:
        """Show ``rows``; ``names`` is what each image is called (default: its file name)."""
        self.beginResetModel()
        self.rows = rows
        self.names = names or {}
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
            if col == 1:
                return self.names.get(e.image_id, e.name)
            return self._text(e, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 2:
            if e.status not in self._icons:
                self._icons[e.status] = _status_icon(e.status)
            return self._icons[e.status]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(e)
        if role == Qt.ItemDataRole.UserRole:
            return e.image_id
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and col == 4 and e.main_cobb_from == "prediction":
            font = QFont()
            font.setItalic(True)
            return font
        return None

    @staticmethod
    def _text(e: WorklistEntry, col: int) -> str:
        if col == 0:
            return str(e.image_id)
        if col == 1:
            return e.name
        if col == 2:
            return ""  # the icon says it (shape and colour); the row's tooltip in words
        if col == 3:
            return "✓" if e.has_truth else "—"
        if col == 4:
            if e.main_cobb is None:
                return ""
            # Brackets (and italics): measured on the model's boxes, not yet on a reader's.
            text = f"{e.main_cobb:.1f}°"
            return text if e.main_cobb_from == "truth" else f"({text})"
        if e.uncertainty is None:
            return "" if not e.has_prediction else "n/a"
        return f"{e.uncertainty:.1f}"

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
        cobb = (
            "no Cobb angle yet"
            if e.main_cobb is None
            else f"largest Cobb angle {e.main_cobb:.1f}° on the "
            + ("ground truth" if e.main_cobb_from == "truth" else "model's prediction")
        )
        who = f"\n{e.patient}" if e.patient else ""
        return f"{e.name}{who}\n{STATUS_LABELS.get(e.status, e.status)}, {truth}, {cobb}, {doubt}"


_HEADER_TIPS = (
    "Image number in the project",
    "The X-ray: its file name (without the beginning every name shares), or the patient and "
    "study date of an image from a PACS. The tooltip has the full name.",
    "Review status: hollow circle not started, half-filled in review (edited), filled with a "
    "tick reviewed (signed off). Click to sort by it.",
    "Whether the image has ground-truth landmarks (green boxes)",
    "The largest Cobb angle, measured on the ground truth; in brackets when only the model's "
    "prediction has been measured. Click to sort by it.",
    "Uncertainty: how unsure the model is, the mean spread of its corners under test-time "
    "augmentation, in pixels. Sort by it to review doubtful images first.",
)


class WorklistPanel(QWidget):
    """Filter, sort and pick an X-ray; emits ``imageSelected`` when the user picks one."""

    imageSelected = Signal(int)

    def __init__(self, worklist: Worklist | None = None, parent=None) -> None:
        super().__init__(parent)
        self.worklist = worklist if worklist is not None else Worklist()
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
            "sure about at the top, so they get reviewed first. Clicking a column header "
            "sorts by that column; clicking it again reverses the order."
        )
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Type part of a file name or patient name to narrow the list (Ctrl+F)"
        )

        self.model = WorklistModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.setAlternatingRowColors(True)
        self.view.setIconSize(QSize(14, 14))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        # The name column gives way (shortened in the middle) rather than the list scrolling.
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.sectionClicked.connect(self._header_clicked)
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

        self.filter_box.currentIndexChanged.connect(self._view_changed)
        self.sort_box.currentIndexChanged.connect(self._view_changed)
        self.search.textChanged.connect(self._view_changed)
        self.view.selectionModel().currentRowChanged.connect(self._row_changed)
        self._view_changed()

    # ------------------------------------------------------------------ content

    def set_entries(self, entries: list[WorklistEntry]) -> None:
        self.worklist.set_entries(entries)
        self.refresh()

    def update_entry(self, image_id: int, **changes) -> None:
        self.worklist.update(image_id, **changes)
        self.refresh()

    def entry(self, image_id: int) -> WorklistEntry | None:
        return self.worklist.entries.get(image_id)

    def entries(self) -> list[WorklistEntry]:
        return list(self.worklist.entries.values())

    def visible_ids(self) -> list[int]:
        return self.worklist.visible_ids()

    def refresh(self) -> None:
        """Show the worklist's rows as they are now (after entries or the view changed)."""
        rows = self.worklist.rows()
        names = self.worklist.shown_names()
        self._quiet = True
        try:
            if rows != self.model.rows or names != self.model.names:
                self.model.set_rows(rows, names)
            self._highlight()
        finally:
            self._quiet = False
        entries = self.worklist.entries
        done = sum(e.status == "reviewed" for e in entries.values())
        self.counts.setText(
            f"{len(rows)} shown of {len(entries)} · {done} reviewed"
            if entries
            else "No images yet: drop X-rays here or use File > Add X-ray files."
        )

    # ---------------------------------------------------------- filter and sort

    def set_filter(self, key: str) -> None:
        self.filter_box.setCurrentIndex(max(0, self.filter_box.findData(key)))

    def set_sort(self, key: str, reverse: bool = False) -> None:
        self.worklist.set_view(reverse=reverse)
        index = max(0, self.sort_box.findData(key))
        if index == self.sort_box.currentIndex():
            self._view_changed()
        else:
            self.sort_box.setCurrentIndex(index)

    def sort_key(self) -> str:
        return self.sort_box.currentData()

    def _header_clicked(self, column: int) -> None:
        key = COLUMN_SORTS[column]
        if key is None:
            return
        again = key == self.worklist.sort_key
        self.set_sort(key, reverse=again and not self.worklist.reverse)

    def _view_changed(self, *_args) -> None:
        self.worklist.set_view(
            filter_key=self.filter_box.currentData() or "all",
            text=self.search.text(),
            sort_key=self.sort_box.currentData() or "order",
        )
        column = COLUMN_SORTS.index(self.worklist.sort_key)
        ascending = (column in (0, 1, 2)) != self.worklist.reverse  # A-Z; angles largest first
        self.view.horizontalHeader().setSortIndicator(
            column, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        )
        self.refresh()

    # --------------------------------------------------------------- selection

    def current_image(self) -> int | None:
        return self._current

    def select_image(self, image_id: int | None) -> None:
        """Highlight an image without announcing it (the window already shows it)."""
        self._current = image_id
        self._highlight()

    def neighbour(self, step: int) -> int | None:
        """The image ``step`` rows away from the current one in the visible order."""
        return self.worklist.neighbour(self._current, step)

    # ------------------------------------------------------------------ private

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
