"""The PDF goes into a patient record: one full page, naming patient, image and curves."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QLabel

from spinegui.gui.report import (
    DISCLAIMER,
    ExportError,
    ReportInfo,
    draw_report,
    export_pdf,
    export_png,
)

INFO = ReportInfo(
    image_name="patient_0042.dcm",
    image_size=(768, 1536),
    curves=[
        ("Main thoracic", "31.5° (T5–T11)", "29.8° (T5–T11)"),
        ("Thoracolumbar/lumbar", "12.0° (T12–L4, chosen by the reader)", "—"),
    ],
    cobb_source="The ground truth is the measurement.",
    model="c7l5-v1",
    reviewer="dr_who",
    reviewed_at="2025-03-01 14:05",
    status="reviewed",
    project="/data/clinic",
    scale="0.200 mm per pixel (DICOM pixel spacing)",
    patient=[("Patient", "Doe, Jane"), ("Patient ID", "P0042"), ("Study date", "2025-02-28")],
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
    assert b"patient_0042.dcm" in data  # the document title names the image
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        text = " ".join(text.split())  # wrapped lines read as one
        for needed in ("Doe, Jane", "Main thoracic", "29.8°", "chosen by the reader", "dr_who"):
            assert needed in text


def test_the_report_fills_its_page(qapp):
    page = QImage(1240, 1754, QImage.Format.Format_RGB32)  # A4 at 150 dpi
    page.fill(QColor("white"))
    tall = QPixmap(400, 1000)  # a spine film's proportions
    tall.fill(QColor(90, 90, 90))
    painter = QPainter(page)
    drawn = draw_report(painter, QRectF(page.rect()), tall, INFO)
    painter.end()
    image = drawn["image"]
    assert image.height() > 0.65 * page.height()  # the X-ray takes most of the height
    pixels = np.frombuffer(page.constBits(), np.uint8).reshape(1754, 1240, 4).copy()
    ink = pixels[..., :3].min(axis=2)
    rows = np.flatnonzero((ink < 200).any(axis=1))
    assert rows[-1] - rows[0] > 0.9 * page.height()  # text and picture reach top to bottom
    lines = "\n".join(drawn["lines"])
    for needed in ("Patient: Doe, Jane", "Ground truth: 31.5° (T5–T11)", "Prediction: 29.8°",
                   "Scale: 0.200 mm per pixel", "Reviewed by: dr_who", DISCLAIMER):  # fmt: skip
        assert needed in lines


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
