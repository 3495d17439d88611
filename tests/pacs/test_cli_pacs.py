"""``spinegui pacs`` as a user drives it, against the test Orthanc."""

from __future__ import annotations

import io
import json

import pytest
from pydicom.uid import generate_uid

from spinegui.cli import main
from spinegui.core.store import Project
from tests.pacs import orthanc
from tests.pacs.dx import make_dx


@pytest.fixture
def configured(orthanc_server, monkeypatch, tmp_path):
    assert main(
        ["pacs", "setup", "--url", orthanc_server.dicomweb_url, "--auth", "basic",
         "--user", orthanc.USER]
    ) == 0  # fmt: skip
    monkeypatch.setenv("SPINEGUI_PACS_PASSWORD", orthanc.PASSWORD)
    return orthanc_server


def upload(server, patient_id):
    study, series = generate_uid(), generate_uid()
    dx = make_dx(patient_id=patient_id, study_uid=study, series_uid=series, patient_name="CLI^PAT")
    server.upload(dx.to_bytes())
    return dx


def test_setup_writes_no_secret(configured, tmp_path):
    saved = json.loads((tmp_path / "pacs.json").read_text())
    assert saved["url"] == configured.dicomweb_url and saved["username"] == orthanc.USER
    assert orthanc.PASSWORD not in json.dumps(saved)


def test_search_pull_push_from_the_command_line(configured, patient_id, tmp_path, capsys):
    dx = upload(configured, patient_id)
    assert main(["pacs", "search", "--patient-id", patient_id, "--series"]) == 0
    out = capsys.readouterr().out
    assert patient_id in out and "CLI, PAT" in out and "AP standing" in out
    assert "1 study found." in out

    folder = tmp_path / "proj"
    assert main(["pacs", "pull", str(folder), "--patient-id", patient_id]) == 0
    assert "1 image(s) added" in capsys.readouterr().out
    with Project.open(folder, user="dr.cli") as project:
        (rec,) = project.images()
        project.set_ground_truth(rec.id, dx.landmarks)
        project.set_status(rec.id, "reviewed")
    assert main(["pacs", "push", str(folder)]) == 0
    assert "1 measurement report sent" in capsys.readouterr().out
    assert main(["pacs", "push", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "new reports for 0 image(s), 1 unchanged since last sent" in out
    assert main(["pacs", "status", str(folder)]) == 0
    assert "sr #1  sent  tries 1" in capsys.readouterr().out


def test_password_from_stdin_and_wrong_password(configured, patient_id, monkeypatch, capsys):
    monkeypatch.delenv("SPINEGUI_PACS_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong-password\n"))
    code = main(["pacs", "search", "--patient-id", patient_id, "--password-stdin"])
    err = capsys.readouterr().err
    assert code == 2 and "refused the login" in err and "Traceback" not in err
    monkeypatch.setattr("sys.stdin", io.StringIO(orthanc.PASSWORD + "\n"))
    assert main(["pacs", "search", "--patient-id", patient_id, "--password-stdin"]) == 0


def test_no_password_anywhere_is_a_message(configured, monkeypatch, capsys):
    monkeypatch.delenv("SPINEGUI_PACS_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["pacs", "search", "--patient-id", "X"]) == 2
    err = capsys.readouterr().err
    assert "needs a password" in err and "--password-stdin" in err


def test_user_errors_are_messages(configured, tmp_path, capsys):
    assert main(["pacs", "pull", str(tmp_path / "p")]) == 2
    assert "Say which studies to pull" in capsys.readouterr().err
    assert main(["pacs", "search", "--date", "yesterday"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["pacs", "push", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_server_down_is_a_message(own_orthanc, monkeypatch, capsys):
    monkeypatch.setenv("SPINEGUI_PACS_PASSWORD", orthanc.PASSWORD)
    own_orthanc.stop()
    code = main(["pacs", "search", "--url", own_orthanc.dicomweb_url, "--user", orthanc.USER])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be reached" in err and "Traceback" not in err
