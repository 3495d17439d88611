"""Send reports to PACS (the window's dialog) against the test Orthanc: status, failure, retry."""

from __future__ import annotations

from PySide6.QtCore import Qt

from spinegui.core.review.report_fields import person_name
from spinegui.core.store import Project
from spinegui.gui.pacs_send import SendReportsDialog
from spinegui.pacs.client import PacsClient
from spinegui.pacs.credentials import Credentials
from tests.pacs import orthanc
from tests.pacs.conftest import config_for
from tests.pacs.test_orthanc_reports import reports_on_server, reviewed_project

WAIT_MS = 20_000


def test_send_shows_status_keeps_failures_queued_and_retries(
    qtbot, own_orthanc, patient_id, tmp_path
):
    config = config_for(own_orthanc)
    with PacsClient(config, orthanc.PASSWORD) as client:
        project, study_uid = reviewed_project(own_orthanc, client, tmp_path / "p", patient_id)
    creds = Credentials()
    creds.remember(config, orthanc.PASSWORD, persist=False)
    dialog = SendReportsDialog(project, config=config, credentials=creds)
    qtbot.addWidget(dialog)
    assert "1 of them marked reviewed; 0 report(s) waiting" in dialog.summary.text()

    own_orthanc.stop()
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=WAIT_MS)
    assert "cannot be reached" in dialog.message.text()
    assert dialog.send_button.text() == "Retry"
    row = dialog.table.topLevelItem(0)
    assert (row.text(3), row.text(4)) == ("waiting to be sent", "1")
    # Named by whose X-ray it is (the image's file name is its SOP instance UID).
    source = project.dicom_source(project.images()[0].id)
    assert row.text(0).startswith(person_name(source.patient_name) + " · ")

    own_orthanc.start()
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=WAIT_MS)
    assert "1 measurement report sent" in dialog.message.text()
    assert dialog.table.topLevelItem(0).text(3) == "sent"
    assert len(reports_on_server(own_orthanc, study_uid)) == 1
    dialog.close()
    project.close()


def test_nothing_from_a_pacs_sends_nothing(qtbot, tmp_path):
    with Project.create(tmp_path / "p", "C7-L5") as project:
        dialog = SendReportsDialog(project, credentials=Credentials())
        qtbot.addWidget(dialog)
        assert "0 image(s) of this project came from the PACS" in dialog.summary.text()
        dialog.send()  # no server set up: a message, no thread
        assert "No PACS server is set up" in dialog.message.text() and dialog.job is None
