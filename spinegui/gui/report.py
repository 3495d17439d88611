"""Exports for the patient record: the annotated view as PNG, a one-page PDF report.

The PDF is laid out with QPainter on a QPdfWriter so it needs no extra
dependency and looks the same on every platform: title, the annotated image
scaled to fit, the three Cobb angles with their end vertebrae, who reviewed
it with which model and when, and the research-use disclaimer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QPixmap
from PySide6.QtWidgets import QWidget

from spinegui import __version__
from spinegui.core.errors import OutputError
from spinegui.core.outputs import atomic_path

DISCLAIMER = "Research use only. Not a medical device; not for diagnosis."


ExportError = OutputError
"""A report or picture that could not be written (the core's output error)."""


@dataclass(frozen=True)
class ReportInfo:
    """Everything the report states besides the picture."""

    image_name: str
    image_size: tuple[int, int]
    cobb: list[tuple[str, str]]
    """(angle name, text such as '23.4° (T5–T11)') for each of the three angles."""
    cobb_source: str
    """'ground truth' or 'prediction': which boxes the angles were measured on."""
    model: str | None
    reviewer: str | None
    status: str
    project: str
    spacing_mm: tuple[float, float] | None = None
    created: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


def export_png(widget: QWidget, path: Path) -> Path:
    """Save exactly what the widget shows (boxes, labels, Cobb lines) as a PNG.

    Written under a temporary name and renamed, so a full disk never leaves a
    torn picture where an older one was (the save dialog asked before replacing).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if not widget.grab().save(str(tmp), "PNG"):
            raise _write_failed(path)
    return path


def export_pdf(path: Path, picture: QPixmap, info: ReportInfo) -> Path:
    """Write a one-page A4 report; raises ExportError when the file cannot be written."""
    path = Path(path)
    with atomic_path(path) as tmp:
        _write_pdf(tmp, picture, info)
    return path


def _write_pdf(path: Path, picture: QPixmap, info: ReportInfo) -> None:
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setResolution(150)
    writer.setTitle(f"Spine report: {info.image_name}")
    writer.setCreator(f"spinegui {__version__}")
    painter = QPainter()
    if not painter.begin(writer):
        raise _write_failed(path)
    try:
        _draw_report(painter, writer, picture, info)
    finally:
        painter.end()
    del writer  # closes the file before it is renamed
    if not path.is_file() or path.stat().st_size == 0:
        raise _write_failed(path)


def _draw_report(painter: QPainter, writer: QPdfWriter, picture: QPixmap, info: ReportInfo):
    page = QRectF(0, 0, writer.width(), writer.height())
    dpi = writer.resolution()

    def pt(size: float, bold: bool = False) -> QFont:
        f = QFont("Helvetica")
        f.setPointSizeF(size)
        f.setBold(bold)
        return f

    line = dpi * 0.22
    y = 0.0
    painter.setFont(pt(16, bold=True))
    painter.drawText(QRectF(0, y, page.width(), line * 1.6), "Scoliosis measurement report")
    y += line * 1.8
    painter.setFont(pt(9))
    details = [
        f"Image: {info.image_name} ({info.image_size[0]} × {info.image_size[1]} px"
        + (f", {info.spacing_mm[1]:.3f} mm/px" if info.spacing_mm else "")
        + ")",
        f"Project: {info.project}",
        f"Review status: {info.status}"
        + (f", reviewed by {info.reviewer}" if info.reviewer else ""),
        f"Model: {info.model or 'none'}",
        f"Report created: {info.created} with spinegui {__version__}",
    ]
    for text in details:
        painter.drawText(QRectF(0, y, page.width(), line), text)
        y += line
    y += line * 0.5

    painter.setFont(pt(11, bold=True))
    painter.drawText(QRectF(0, y, page.width(), line * 1.3), f"Cobb angles ({info.cobb_source})")
    y += line * 1.4
    painter.setFont(pt(10))
    for name, value in info.cobb:
        painter.drawText(QRectF(0, y, page.width() * 0.5, line), name)
        painter.drawText(QRectF(page.width() * 0.5, y, page.width() * 0.5, line), value)
        y += line
    y += line * 0.5

    footer_h = line * 2.2
    box = QRectF(0, y, page.width(), page.height() - y - footer_h)
    if not picture.isNull() and box.height() > 0:
        size = QSizeF(picture.size()).scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRectF(
            box.x() + (box.width() - size.width()) / 2, box.y(), size.width(), size.height()
        )
        painter.drawPixmap(target, picture, QRectF(picture.rect()))
    painter.setFont(pt(8))
    painter.drawText(
        QRectF(0, page.height() - footer_h, page.width(), footer_h),
        Qt.AlignmentFlag.AlignBottom | Qt.TextFlag.TextWordWrap,
        "Green: ground truth (solid). Red: model prediction (dashed). " + DISCLAIMER,
    )


def _write_failed(path: Path) -> ExportError:
    return ExportError(
        f"Could not write {path}.",
        "Choose a folder you are allowed to write to, with free disk space.",
    )
