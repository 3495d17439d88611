"""Exports for the patient record: the annotated X-ray as PNG, a one-page PDF report.

The PDF is laid out with QPainter on a QPdfWriter, so it needs no extra
dependency and looks the same on every platform. The page is used: a header
with the patient and study (from the DICOM header when there is one), the
annotated X-ray as large as the page allows on the left, and beside it the
named curves with the ground truth's and the prediction's angles, the scale,
who reviewed the image and when, and the model; the research-use disclaimer
at the foot. ``draw_report`` paints onto any QPaintDevice, so the layout is
tested on a plain image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QWidget

from spinegui import __version__
from spinegui.core.errors import OutputError
from spinegui.core.outputs import atomic_path

DISCLAIMER = "Research use only. Not a medical device; not for diagnosis."
LEGEND = (
    "Green, solid: ground truth. Red, dashed: the model's prediction. Curves are named "
    "by the level of their apex; their lines are drawn on the end vertebrae."
)

ExportError = OutputError
"""A report or picture that could not be written (the core's output error)."""


@dataclass(frozen=True)
class ReportInfo:
    """Everything the report states besides the picture."""

    image_name: str
    image_size: tuple[int, int]
    curves: list[tuple[str, str, str]] = field(default_factory=list)
    """(curve name, ground truth text, prediction text), e.g. ('Main thoracic',
    '31.5° (T5–T11)', '29.8° (T5–T11)'); '—' where a set has no such curve."""
    cobb_source: str = ""
    """Which angles count: the ground truth's, or only the model's so far."""
    model: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    status: str = ""
    project: str = ""
    scale: str | None = None
    """'0.143 mm per pixel (DICOM pixel spacing)', or None when the image has no scale."""
    patient: list[tuple[str, str]] = field(default_factory=list)
    """(label, value) from the DICOM header: patient, ID, birth date, study, ..."""
    created: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))


def save_png(image: QImage, path: Path) -> Path:
    """Write a picture under a temporary name, then rename: a full disk tears nothing."""
    path = Path(path)
    with atomic_path(path) as tmp:
        # Qt reports success even when a full disk cut the file short: read it back.
        if image.isNull() or not image.save(str(tmp), "PNG") or QImage(str(tmp)).isNull():
            raise _write_failed(path)
    return path


def export_png(widget: QWidget, path: Path) -> Path:
    """Save exactly what a widget shows as a PNG (the X-ray uses ``export_render``)."""
    return save_png(widget.grab().toImage(), path)


def export_pdf(path: Path, picture: QPixmap | QImage, info: ReportInfo) -> Path:
    """Write a one-page A4 report; raises ExportError when the file cannot be written."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if not _write_pdf(tmp, picture, info):
            raise _write_failed(path)
    return path


def _write_pdf(path: Path, picture, info: ReportInfo) -> bool:
    """Lay the report out into ``path``; False when it could not be written whole."""
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter)
    writer.setResolution(200)
    writer.setTitle(f"Spine report: {info.image_name}")
    writer.setCreator(f"spinegui {__version__}")
    painter = QPainter()
    if not painter.begin(writer):
        return False
    try:
        draw_report(painter, QRectF(0, 0, writer.width(), writer.height()), picture, info)
    finally:
        painter.end()
    del writer  # closes the file before it is renamed
    return _complete_pdf(path)


def _complete_pdf(path: Path) -> bool:
    """A PDF ends with %%EOF; one cut short by a full disk (Qt does not say so) does not."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 1024))
            return b"%%EOF" in f.read()
    except OSError:
        return False


class _Writer:
    """Lines of text down a column; remembers what it wrote (for tests)."""

    def __init__(self, painter: QPainter, rect: QRectF, unit: float, lines: list[str]) -> None:
        self.p, self.rect, self.unit, self.lines = painter, rect, unit, lines
        self.y = rect.top()

    def font(self, size: float, bold: bool = False) -> None:
        f = QFont("Helvetica")
        f.setPixelSize(max(1, round(size * self.unit)))
        f.setBold(bold)
        self.p.setFont(f)

    def text(self, text: str, size: float = 1.0, bold: bool = False, gap: float = 0.25) -> None:
        self.font(size, bold)
        box = QRectF(self.rect.left(), self.y, self.rect.width(), self.rect.bottom() - self.y)
        used = self.p.boundingRect(box, Qt.TextFlag.TextWordWrap, text)
        self.p.drawText(box, Qt.TextFlag.TextWordWrap, text)
        self.lines.append(text)
        self.y += used.height() + gap * size * self.unit

    def pairs(self, rows: list[tuple[str, str]], size: float = 0.95) -> None:
        label_w = self.rect.width() * 0.38
        for label, value in rows:
            self.font(size, bold=True)
            self.p.drawText(QRectF(self.rect.left(), self.y, label_w, 2 * self.unit), label)
            self.font(size)
            box = QRectF(self.rect.left() + label_w, self.y, self.rect.width() - label_w, 10**6)
            used = self.p.boundingRect(box, Qt.TextFlag.TextWordWrap, value)
            self.p.drawText(box, Qt.TextFlag.TextWordWrap, value)
            self.lines.append(f"{label}: {value}")
            self.y += max(used.height(), size * self.unit * 1.2) + 0.15 * self.unit

    def space(self, units: float = 0.6) -> None:
        self.y += units * self.unit

    def rule(self) -> None:
        self.p.setPen(QPen(QColor(170, 170, 170), max(1.0, self.unit / 14)))
        self.p.drawLine(self.rect.left(), self.y, self.rect.right(), self.y)
        self.p.setPen(QColor(0, 0, 0))
        self.space(0.5)


def draw_report(painter: QPainter, page: QRectF, picture, info: ReportInfo) -> dict:
    """Lay the report out on ``page``; returns {"lines": texts drawn, "image": its rectangle}."""
    unit = page.height() / 62.0  # the body text's size: 62 lines to a page
    lines: list[str] = []
    painter.setPen(QColor(0, 0, 0))
    head = _Writer(painter, page, unit, lines)
    head.text("Scoliosis measurement report", 1.7, bold=True, gap=0.1)
    head.text(f"{info.image_name} · {info.created} · spinegui {__version__}", 0.9)
    head.rule()
    if info.patient:
        left = QRectF(page.left(), head.y, page.width() / 2 - unit, page.height())
        right = QRectF(page.left() + page.width() / 2, head.y, page.width() / 2, page.height())
        half = (len(info.patient) + 1) // 2
        a, b = _Writer(painter, left, unit, lines), _Writer(painter, right, unit, lines)
        a.pairs(info.patient[:half])
        b.pairs(info.patient[half:])
        head.y = max(a.y, b.y)
    else:
        head.text("No patient or study data: the image is not a DICOM file.", 0.9)
    head.rule()

    footer_h = 2.6 * unit
    body_top, body_bottom = head.y, page.bottom() - footer_h
    text_w = page.width() * 0.40
    image_box = QRectF(page.left(), body_top, page.width() - text_w - unit, body_bottom - body_top)
    placed = _draw_picture(painter, image_box, picture)

    side = _Writer(
        painter,
        QRectF(page.right() - text_w, body_top, text_w, body_bottom - body_top),
        unit,
        lines,
    )
    side.text("Cobb angles", 1.25, bold=True)
    side.text(info.cobb_source, 0.85)
    if info.curves:
        for name, truth, pred in info.curves:
            side.text(name, 1.05, bold=True, gap=0.05)
            side.pairs([("Ground truth", truth), ("Prediction", pred)], 0.95)
            side.space(0.3)
    else:
        side.text("No curve could be measured.", 0.95)
    side.rule()
    side.pairs(
        [
            ("Scale", info.scale or "unknown: distances in pixels"),
            ("Image", f"{info.image_size[0]} × {info.image_size[1]} px"),
            ("Status", info.status),
            ("Reviewed by", info.reviewer or "not signed off"),
            ("Reviewed at", info.reviewed_at or "—"),
            ("Model", info.model or "none"),
            ("Project", info.project),
        ]
    )
    side.rule()
    side.text(LEGEND, 0.8)

    foot = _Writer(
        painter, QRectF(page.left(), body_bottom + 0.6 * unit, page.width(), footer_h), unit, lines
    )
    foot.text(DISCLAIMER, 0.9, bold=True)
    return {"lines": lines, "image": placed}


def _draw_picture(painter: QPainter, box: QRectF, picture) -> QRectF:
    """The picture as large as fits in ``box``, kept in proportion, at the top left."""
    if picture is None or picture.isNull() or box.height() <= 0:
        return QRectF()
    size = QSizeF(picture.width(), picture.height()).scaled(
        box.size(), Qt.AspectRatioMode.KeepAspectRatio
    )
    target = QRectF(
        box.left() + (box.width() - size.width()) / 2, box.top(), size.width(), size.height()
    )
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    if isinstance(picture, QImage):
        painter.drawImage(target, picture)
    else:
        painter.drawPixmap(target, picture, QRectF(picture.rect()))
    return target


def _write_failed(path: Path) -> ExportError:
    return ExportError(
        f"Could not write {path}.",
        "Choose a folder you are allowed to write to, with free disk space.",
    )
