"""Remembered server settings and secrets: validation, the keyring, never a secret on disk."""

from __future__ import annotations

import json

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError

from spinegui.pacs.config import ServerConfig, load_config, save_config
from spinegui.pacs.credentials import SERVICE, Credentials, forget_session
from spinegui.pacs.errors import PacsError
from spinegui.pacs.search import StudyQuery, dicom_date_range

BASIC = ServerConfig(url="https://pacs.example.org/dicom-web/", auth="basic", username="alice")


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps passwords in a dict (what an OS keyring would hold)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.saved.get((service, username))

    def set_password(self, service, username, password):
        self.saved[(service, username)] = password

    def delete_password(self, service, username):
        self.saved.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service, username):
        raise KeyringError("locked")

    def set_password(self, service, username, password):
        raise KeyringError("locked")


class NoKeyring(MemoryKeyring):
    """keyring's "fail" backend on a headless machine has priority 0."""

    priority = 0


def test_settings_are_remembered_without_the_secret(tmp_path):
    path = tmp_path / "pacs.json"
    creds = Credentials(MemoryKeyring())
    creds.remember(BASIC, "hunter2", persist=True)
    save_config(BASIC.checked(), path)
    assert "hunter2" not in path.read_text()
    assert load_config(path) == BASIC.checked()
    assert json.loads(path.read_text())["verify_tls"] is True  # on unless turned off


def test_damaged_settings_file_gives_an_empty_configuration(tmp_path):
    path = tmp_path / "pacs.json"
    path.write_text("{not json")
    assert load_config(path) == ServerConfig()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (ServerConfig(), "No PACS server"),
        (ServerConfig(url="pacs.example.org"), "not a web address"),
        (ServerConfig(url="https://bob:pw@pacs.example.org/dicom-web"), "contains a user name"),
        (ServerConfig(url="https://pacs.example.org", auth="basic"), "needs a user name"),
        (ServerConfig(url="https://pacs.example.org", ca_bundle="/nope.pem"), "CA certificate"),
    ],
)
def test_bad_settings_say_what_is_wrong(config, words):
    with pytest.raises(PacsError, match=words) as info:
        config.checked()
    assert info.value.hint


def test_plain_http_warns_except_on_this_machine():
    assert "unencrypted" in ServerConfig(url="http://pacs.example.org/dw").plain_http_warning()
    assert ServerConfig(url="http://127.0.0.1:8042/dw").plain_http_warning() == ""
    assert ServerConfig(url="https://pacs.example.org/dw").plain_http_warning() == ""


def test_keyring_keeps_the_secret_across_sessions():
    ring = MemoryKeyring()
    assert Credentials(ring).remember(BASIC, "hunter2", persist=True)
    assert ring.saved == {(SERVICE, BASIC.key): "hunter2"}
    forget_session()  # a new session: only the keyring remembers
    assert Credentials(ring).get(BASIC) == "hunter2"
    Credentials(ring).forget(BASIC)
    assert Credentials(ring).get(BASIC) is None and ring.saved == {}


def test_without_keyring_the_secret_lasts_one_session():
    creds = Credentials(NoKeyring())
    assert not creds.keyring_available
    assert creds.remember(BASIC, "hunter2", persist=True) is False
    assert creds.get(BASIC) == "hunter2"
    forget_session()
    assert creds.get(BASIC) is None  # asked again next session


def test_not_persisting_leaves_the_keyring_alone():
    ring = MemoryKeyring()
    Credentials(ring).remember(BASIC, "hunter2", persist=False)
    assert ring.saved == {}


def test_a_broken_keyring_never_blocks():
    creds = Credentials(BrokenKeyring())
    assert creds.get(BASIC) is None
    assert creds.remember(BASIC, "hunter2", persist=True) is False
    assert creds.get(BASIC) == "hunter2"


def test_secrets_are_filed_per_server_and_user():
    ring = MemoryKeyring()
    other = ServerConfig(url=BASIC.url, auth="basic", username="bob")
    Credentials(ring).remember(BASIC, "a", persist=True)
    Credentials(ring).remember(other, "b", persist=True)
    forget_session()
    assert (Credentials(ring).get(BASIC), Credentials(ring).get(other)) == ("a", "b")


@pytest.mark.parametrize(
    ("typed", "qido"),
    [
        ("2024-01-05", "20240105"),
        ("20240105", "20240105"),
        ("2024-01-01 - 2024-01-31", "20240101-20240131"),
        ("2024-01-01 -", "20240101-"),
        ("- 2024-01-31", "-20240131"),
    ],
)
def test_dates_people_type_become_qido_ranges(typed, qido):
    assert dicom_date_range(typed) == qido


@pytest.mark.parametrize(
    "typed", ["yesterday", "-", "2024-13", "05/01/2024", "2024-02-30", "2024-01-01 - 2024-13-01"]
)
def test_a_bad_date_is_a_message(typed):
    with pytest.raises(PacsError, match="is not a date"):
        dicom_date_range(typed)


def test_query_filters():
    query = StudyQuery(patient_name="Doe, Jane", accession=" A1 ", modalities=("cr", "DX"))
    assert query.filters() == [
        {"PatientName": "Doe*Jane*", "AccessionNumber": "A1", "ModalitiesInStudy": "CR"},
        {"PatientName": "Doe*Jane*", "AccessionNumber": "A1", "ModalitiesInStudy": "DX"},
    ]
    assert StudyQuery(patient_id="P1", modalities=()).filters() == [{"PatientID": "P1"}]
