"""Fixtures for PACS tests: a real Orthanc per session, configs, clients, fake keyrings."""

from __future__ import annotations

import uuid

import pytest

from spinegui.pacs import credentials
from spinegui.pacs.client import PacsClient
from spinegui.pacs.config import ServerConfig
from tests.pacs import orthanc


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory):
    """One Orthanc for the session; tests use their own made-up patients to stay apart."""
    reason = orthanc.missing_reason()
    if reason:
        pytest.skip(reason)
    server = orthanc.OrthancServer(tmp_path_factory.mktemp("orthanc"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_orthanc(tmp_path):
    """An Orthanc of this test's own, for tests that stop and restart the server."""
    reason = orthanc.missing_reason()
    if reason:
        pytest.skip(reason)
    server = orthanc.OrthancServer(tmp_path / "orthanc")
    server.start()
    yield server
    server.stop()


def config_for(server) -> ServerConfig:
    return ServerConfig(url=server.dicomweb_url, auth="basic", username=orthanc.USER)


@pytest.fixture
def pacs(orthanc_server):
    with PacsClient(config_for(orthanc_server), orthanc.PASSWORD) as client:
        yield client


@pytest.fixture
def patient_id() -> str:
    """A made-up patient ID unique to the test."""
    return f"SPG-{uuid.uuid4().hex[:10].upper()}"


@pytest.fixture(autouse=True)
def no_remembered_secrets(tmp_path, monkeypatch):
    """Tests never read or write the user's real PACS settings or keyring."""
    monkeypatch.setenv("SPINEGUI_PACS_CONFIG", str(tmp_path / "pacs.json"))
    monkeypatch.setattr(credentials, "_default_backend", lambda: None)
    credentials.forget_session()
    yield
    credentials.forget_session()
