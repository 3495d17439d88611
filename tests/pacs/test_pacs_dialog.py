"""File > Open from PACS, driven with pytest-qt against the test Orthanc."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid
from PySide6.QtCore import Qt

from spinegui.core.store import Project
from spinegui.gui import pacs_dialog
from spinegui.gui.pacs_dialog import OpenFromPacsDialog
from spinegui.pacs.credentials import Credentials
from tests.pacs import orthanc
from tests.pacs.conftest import config_for
from tests.pacs.dx import make_dx

WAIT_MS = 20_000


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj", "C7-L5") as p:
        yield p


def make_dialog(qtbot, server, project, password=orthanc.PASSWORD):
    config = config_for(server)
    creds = Credentials()
    creds.remember(config, password, persist=False)
    dialog = OpenFromPacsDialog(lambda: project, config=config, credentials=creds)
    qtbot.addWidget(dialog)
    return dialog


def upload(server, patient_id, images=2):
    study, series = generate_uid(), generate_uid()
    for i in range(images):
        dx = make_dx(patient_id=patient_id, study_uid=study, series_uid=series, seed=i + 1)
        server.upload(dx.to_bytes())


def search(qtbot, dialog, patient_id):
    dialog.patient_id.setText(patient_id)
    qtbot.mouseClick(dialog.search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.busy is None, timeout=WAIT_MS)


def test_search_thumbnails_pick_and_retrieve(qtbot, orthanc_server, patient_id, project):
    upload(orthanc_server, patient_id)
    dialog = make_dialog(qtbot, orthanc_server, project)
    search(qtbot, dialog, patient_id)
    assert dialog.tree.topLevelItemCount() == 1
    assert dialog.tree.topLevelItem(0).text(1) == patient_id
    (row,) = dialog.series_items()
    qtbot.waitUntil(lambda: not row.icon(0).isNull(), timeout=WAIT_MS)  # thumbnail arrived
    assert not dialog.open_button.isEnabled()  # nothing ticked yet
    dialog.set_all_checked(True)
    assert dialog.open_button.isEnabled()
    with qtbot.waitSignal(dialog.imagesAdded, timeout=WAIT_MS) as added:
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert len(added.args[0]) == 2 and len(project.images()) == 2
    qtbot.waitUntil(lambda: dialog.busy is None, timeout=WAIT_MS)
    assert "2 image(s) added" in dialog.message.text()
    dialog.close()
    assert all(not job.isRunning() for job in dialog.jobs.values())


def test_wrong_password_shows_message_and_retry_asks_again(
    qtbot, orthanc_server, patient_id, project, monkeypatch
):
    dialog = make_dialog(qtbot, orthanc_server, project, password="wrong")
    search(qtbot, dialog, patient_id)
    assert "refused the login" in dialog.message.text()
    assert dialog.retry_button.isVisibleTo(dialog)
    asked = []

    def prompt(parent, config, credentials):  # the real one asks only when nothing is known
        if credentials.get(config) is not None:
            return credentials.get(config)
        asked.append(config.username)
        credentials.remember(config, orthanc.PASSWORD, persist=False)
        return orthanc.PASSWORD

    monkeypatch.setattr(pacs_dialog, "ask_secret", prompt)
    upload(orthanc_server, patient_id, images=1)
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.busy is None, timeout=WAIT_MS)
    assert asked == [orthanc.USER]
    assert dialog.tree.topLevelItemCount() == 1


def test_server_down_is_a_message_with_retry(qtbot, own_orthanc, patient_id, project):
    dialog = make_dialog(qtbot, own_orthanc, project)
    own_orthanc.stop()
    search(qtbot, dialog, patient_id)
    assert "cannot be reached" in dialog.message.text()
    assert dialog.retry_button.isVisibleTo(dialog)
    own_orthanc.start()
    upload(own_orthanc, patient_id, images=1)
    qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.busy is None, timeout=WAIT_MS)
    assert dialog.tree.topLevelItemCount() == 1
    dialog.close()


def test_cancel_stops_a_retrieval(qtbot, orthanc_server, patient_id, project):
    upload(orthanc_server, patient_id, images=3)
    dialog = make_dialog(qtbot, orthanc_server, project)
    search(qtbot, dialog, patient_id)
    dialog.set_all_checked(True)
    dialog.retrieve()
    dialog.cancel()  # before the first image: nothing is retrieved
    qtbot.waitUntil(lambda: dialog.busy is None, timeout=WAIT_MS)
    assert dialog.last_result.retrieved.cancelled
    assert len(project.images()) < 3
    dialog.close()


def test_no_server_set_up_says_so(qtbot, project, monkeypatch):
    dialog = OpenFromPacsDialog(lambda: project, credentials=Credentials())
    qtbot.addWidget(dialog)
    assert "No PACS server" in dialog.server_label.text()
    monkeypatch.setattr(dialog, "edit_settings", lambda: False)
    dialog.search()
    assert "No PACS server is set up" in dialog.message.text()
