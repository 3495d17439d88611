"""The search results of Open from PACS: studies with their series, ticks and thumbnails.

Image series can be ticked (a study's box ticks all of them); report series
are listed greyed, because their reports are read with the images anyway.
Thumbnails arrive after the list, one by one, and find their row by series UID.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from spinegui.core.review.report_fields import dicom_date, person_name
from spinegui.pacs.search import SeriesHit, StudyHit

COLUMNS = ("Patient", "Patient ID", "Date", "Accession", "Description", "Images")
ICON_PX = 64
SERIES_ROLE = Qt.ItemDataRole.UserRole


def to_icon(grey: np.ndarray) -> QIcon:
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    h, w = grey.shape
    image = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(image))


def _count(n: int | None) -> str:
    return "" if n is None else str(n)


class StudyTree(QTreeWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(list(COLUMNS))
        self.setIconSize(QSize(ICON_PX, ICON_PX))
        self.setColumnWidth(0, 260)
        self.setColumnWidth(4, 220)

    def show_studies(self, studies: list[StudyHit]) -> list[SeriesHit]:
        """List ``studies``; returns the image series (the ones worth a thumbnail)."""
        self.clear()
        images = []
        for study in studies:
            top = QTreeWidgetItem(
                [
                    person_name(study.patient_name),
                    study.patient_id,
                    dicom_date(study.study_date),
                    study.accession,
                    study.description,
                    _count(study.instance_count),
                ]
            )
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsAutoTristate)
            self.addTopLevelItem(top)
            for s in study.series:
                description = s.description or ("measurements" if s.modality == "SR" else "")
                name = f"{s.modality} series {s.number or ''}".strip()
                row = QTreeWidgetItem([name, "", "", "", description, _count(s.instances)])
                row.setData(0, SERIES_ROLE, s)
                if s.is_image:
                    row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    row.setCheckState(0, Qt.CheckState.Unchecked)
                    images.append(s)
                else:
                    row.setDisabled(True)
                    row.setToolTip(0, "Reports are read automatically with the images")
                top.addChild(row)
            top.setExpanded(True)
        return images

    def series_items(self) -> list[QTreeWidgetItem]:
        items = []
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            items += [top.child(j) for j in range(top.childCount())]
        return items

    def checked_series(self) -> list[SeriesHit]:
        return [
            row.data(0, SERIES_ROLE)
            for row in self.series_items()
            if row.checkState(0) == Qt.CheckState.Checked
        ]

    def set_all_checked(self, checked: bool) -> None:
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        for row in self.series_items():
            if row.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                row.setCheckState(0, state)

    def set_thumbnail(self, series_uid: str, picture: np.ndarray) -> None:
        for row in self.series_items():
            if row.data(0, SERIES_ROLE).series_uid == series_uid:
                row.setIcon(0, to_icon(picture))
