"""The PDF goes into a patient record: it must be one page, name the image, fail loudly."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QLabel

from spinegui.gui.report import DISCLAIMER, ExportError, ReportInfo, export_pdf, export_png

INFO = ReportInfo(
    image_name="patient_0042.png",
    image_size=(768, 1536),
    cobb=[
        ("Main / proximal thoracic", "31.5° (T5–T11)"),
        ("Main thoracic", "no curve"),
        ("Thoracolumbar / lumbar", "12.0° (T12–L4)"),
    ],
    cobb_source="ground truth",
    model="c7l5-v1",
    reviewer="dr_who",
    status="reviewed",
    project="/data/clinic",
    spacing_mm=(0.2, 0.2),
)


def _picture() -> QPixmap:
    pix = QPixmap(200, 400)
    pix.fill(QColor("gray"))
    return pix


def test_pdf_is_one_page_with_the_facts(qapp, tmp_path):
    out = export_pdf(tmp_path / "r.pdf", _picture(), INFO)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/Count 1" in data  # one page
    assert b"patient_0042.png" in data  # the document title names the image


def test_pdf_to_an_unwritable_place_raises_a_user_error(qapp, tmp_path):
    with pytest.raises(ExportError) as err:
        export_pdf(tmp_path / "missing_folder" / "r.pdf", _picture(), INFO)
    assert err.value.hint


def test_png_has_the_widget_size(qtbot, tmp_path):
    label = QLabel("x")
    qtbot.addWidget(label)
    label.resize(320, 240)
    out = export_png(label, tmp_path / "v.png")
    pix = QPixmap(str(out))
    assert (pix.width(), pix.height()) == (320, 240)


def test_disclaimer_says_not_a_medical_device():
    assert "not a medical device" in DISCLAIMER.lower()
