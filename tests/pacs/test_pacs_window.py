"""The PACS commands in the review window: images land in the Inbox or the open project."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from spinegui.gui.inference import InferenceService
from spinegui.gui.main_window import MainWindow
from spinegui.gui.pacs_actions import open_from_pacs
from spinegui.gui.pacs_dialog import OpenFromPacsDialog
from spinegui.gui.settings import Settings
from spinegui.pacs.credentials import Credentials
from tests.pacs import orthanc
from tests.pacs.conftest import config_for
from tests.pacs.dx import make_dx

WAIT_MS = 20_000


@pytest.fixture
def window(qtbot, tmp_path):
    service = InferenceService(device="cpu")
    w = MainWindow(Settings.at(tmp_path / "s.ini"), inference=service, inbox=tmp_path / "inbox")
    qtbot.addWidget(w)
    yield w
    w.close()
    service.shutdown()


def test_open_from_pacs_without_a_project_fills_the_inbox_and_shows_the_image(
    qtbot, window, orthanc_server, patient_id
):
    dx = make_dx(patient_id=patient_id, study_uid=generate_uid(), series_uid=generate_uid())
    orthanc_server.upload(dx.to_bytes())
    config = config_for(orthanc_server)
    creds = Credentials()
    creds.remember(config, orthanc.PASSWORD, persist=False)
    dialog = open_from_pacs(window, config=config, credentials=creds)
    dialog.patient_id.setText(patient_id)
    dialog.search()
    qtbot.waitUntil(lambda: dialog.busy is None and bool(dialog.series_items()), timeout=WAIT_MS)
    dialog.set_all_checked(True)
    with qtbot.waitSignal(window.imageShown, timeout=WAIT_MS) as shown:
        dialog.retrieve()
    assert window.project is not None and window.project.folder.name == "inbox"
    (rec,) = window.project.images()
    assert shown.args == [rec.id]
    assert window.project.dicom_source(rec.id).patient_id == patient_id
    # The dialog's own thread wrote the images: nothing "from another window" to announce.
    window.check_for_changes()
    dialog.done(0)
    assert not window.check_for_changes()
    assert "another window" not in window.statusBar().currentMessage()


def test_file_menu_has_the_pacs_commands(qtbot, window, monkeypatch):
    titles = {a.text(): a for a in window.menuBar().actions()}
    file_menu = titles["&File"].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert "Open from PA&CS…" in texts and "&Send reports to PACS…" in texts
    assert window.actions_["open_pacs"].shortcut().toString() == "Ctrl+Alt+O"
    window.actions_["send_pacs"].trigger()  # no project open: a status message, no dialog
    assert "Open a project" in window.statusBar().currentMessage()
    shown = []
    monkeypatch.setattr(OpenFromPacsDialog, "open", lambda self: shown.append(self))
    window.actions_["open_pacs"].trigger()
    assert len(shown) == 1 and shown[0].parent() is window
    shown[0].done(0)


def test_closing_the_window_mid_retrieval_stops_the_thread(
    qtbot, tmp_path, own_orthanc, patient_id
):
    study, series = generate_uid(), generate_uid()
    for i in range(4):
        own_orthanc.upload(
            make_dx(patient_id=patient_id, study_uid=study, series_uid=series, seed=i).to_bytes()
        )
    service = InferenceService(device="cpu")
    w = MainWindow(Settings.at(tmp_path / "s.ini"), inference=service, inbox=tmp_path / "inbox")
    config = config_for(own_orthanc)
    creds = Credentials()
    creds.remember(config, orthanc.PASSWORD, persist=False)
    dialog = open_from_pacs(w, config=config, credentials=creds)
    dialog.patient_id.setText(patient_id)
    dialog.search()
    qtbot.waitUntil(lambda: dialog.busy is None and bool(dialog.series_items()), timeout=WAIT_MS)
    dialog.set_all_checked(True)
    dialog.retrieve()
    job = dialog.jobs["retrieve"]
    w.close()  # the dialog is still open, its thread still running
    assert not job.isRunning()
    service.shutdown()
