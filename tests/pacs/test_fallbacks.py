"""Paths a real Orthanc does not take: no server-side rendering, no transcoding."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from spinegui.pacs.client import EXPLICIT_LITTLE, PacsClient
from spinegui.pacs.config import ServerConfig
from spinegui.pacs.errors import LoginRefused, PacsError
from spinegui.pacs.search import SeriesHit, series_thumbnail
from tests.pacs.dx import make_dx

SERIES = SeriesHit("1.2", "1.2.3", "DX", "AP", 1, 1)


class NoRendering:
    """A server that lists and sends instances but answers /rendered with an error."""

    def __init__(self, dataset, rendered_error):
        self.dataset = dataset
        self.rendered_error = rendered_error
        self.retrieved = 0

    def search_instances(self, study, series):
        return [{"00080018": {"vr": "UI", "Value": [str(self.dataset.SOPInstanceUID)]}}]

    def rendered(self, *args):
        raise self.rendered_error

    def retrieve_instance(self, *args):
        self.retrieved += 1
        return self.dataset


def test_thumbnail_is_made_locally_when_the_server_cannot_render():
    dx = make_dx(patient_id="T")
    server = NoRendering(dx.dataset, PacsError("Could not fetch a thumbnail: 400."))
    thumb = series_thumbnail(server, SERIES, size=48)
    assert server.retrieved == 1
    assert thumb.dtype == np.uint8 and max(thumb.shape) == 48 and thumb.std() > 5


def test_a_refused_login_is_not_hidden_by_the_fallback():
    server = NoRendering(make_dx(patient_id="T").dataset, LoginRefused("refused"))
    with pytest.raises(LoginRefused):
        series_thumbnail(server, SERIES)
    assert server.retrieved == 0


def http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(response=response)


@pytest.mark.parametrize(("status", "retried"), [(406, True), (401, False), (404, False)])
def test_stored_encoding_is_asked_only_after_a_plain_refusal(status, retried, monkeypatch):
    client = PacsClient(ServerConfig(url="http://127.0.0.1:9/dw", auth="none"))
    calls = []

    def retrieve(study, series, sop, **media):
        calls.append(media)
        if len(calls) == 1:
            raise http_error(status)
        return "dataset"

    monkeypatch.setattr(client.dicomweb, "retrieve_instance", retrieve)
    if retried:
        assert client.retrieve_instance("1", "2", "3") == "dataset"
        assert calls == [{"media_types": (("application/dicom", EXPLICIT_LITTLE),)}, {}]
    else:
        with pytest.raises(PacsError):
            client.retrieve_instance("1", "2", "3")
        assert len(calls) == 1
    client.close()
