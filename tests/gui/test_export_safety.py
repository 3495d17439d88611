"""The window's save dialogs ask before replacing a file, and never let an X-ray be replaced."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from spinegui.core.store import Project


def test_saving_the_view_over_the_xray_itself_is_refused(
    window, demo_project, monkeypatch, no_dialogs
):
    with Project.open(demo_project) as p:
        image = p.images()[0]
    assert window.open_project(demo_project) and window.show_image(image.id)
    before = image.path.read_bytes()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(image.path), ""))
    window.choose_export_png()
    assert image.path.read_bytes() == before
    assert len(no_dialogs) == 1 and "being read" in no_dialogs[0][0]
