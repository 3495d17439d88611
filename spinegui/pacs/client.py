"""A DICOMweb client (``dicomweb-client``) whose every failure is a message for people.

Authentication lives on the ``requests`` session (basic auth object or an
``Authorization`` header on the session), never in a URL or in the per-request
headers that ``dicomweb-client`` writes to its debug log, so a secret cannot
end up in a log. TLS certificates are verified unless the configuration says
otherwise (or names the hospital's CA file).

Retries: ``dicomweb-client`` retries 429/408/503/504 answers with exponential
back-off; two attempts keep a window responsive when a server is overloaded.
Connection failures are not retried here: the caller shows them with a Retry
button, and the outbox retries queued reports on the next send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydicom import Dataset

from spinegui.pacs.config import ServerConfig
from spinegui.pacs.errors import LoginRefused, NotOnServer, PacsError, Unreachable

T = TypeVar("T")
QUERY_LITERAL = "*?-.,:_"
"""Characters kept literal in QIDO-RS query values (see ``PacsClient.qido``)."""
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
CONNECT_TIMEOUT_S = 5.0


class PacsClient:
    """QIDO-RS, WADO-RS and STOW-RS against one server, errors translated."""

    def __init__(self, config: ServerConfig, secret: str | None = None) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.config = config.checked()
        self.session = requests.Session()
        if self.config.auth == "basic":
            self.session.auth = requests.auth.HTTPBasicAuth(self.config.username, secret or "")
        elif self.config.auth == "bearer":
            self.session.headers["Authorization"] = f"Bearer {secret or ''}"
        self.session.verify = self.config.ca_bundle or self.config.verify_tls
        self.dicomweb = DICOMwebClient(
            self.config.url,
            session=self.session,
            timeout=(CONNECT_TIMEOUT_S, self.config.timeout_s),
        )
        self.dicomweb.set_http_retry_params(max_attempts=2, wait_exponential_multiplier=500)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------- QIDO-RS

    def search_studies(self, filters: dict[str, Any], fields: Sequence[str], limit: int):
        return self.qido("search for studies", "/studies", filters, fields, limit)

    def search_series(self, study_uid: str, fields: Sequence[str] = ()):
        path = f"/studies/{study_uid}/series"
        return self.qido("list the series of the study", path, {}, fields)

    def search_instances(self, study_uid: str, series_uid: str):
        path = f"/studies/{study_uid}/series/{series_uid}/instances"
        return self.qido("list the images of the series", path, {}, ())

    def qido(
        self,
        action: str,
        path: str,
        filters: dict[str, Any],
        fields: Sequence[str],
        limit: int | None = None,
    ) -> list[dict]:
        """One QIDO-RS query, its values written as literally as a URL allows.

        ``dicomweb-client`` percent-encodes every query value, wildcards
        included; Orthanc's DICOMweb plugin 1.7 does not decode query values and
        finds nothing for ``DOE%2A``. Wildcards, dates ranges and UIDs are legal
        in a URL query as they are, so they go out literally here.
        """
        params: list[tuple[str, str]] = [(k, str(v)) for k, v in filters.items()]
        params += [("includefield", f) for f in fields]
        if limit is not None:
            params.append(("limit", str(int(limit))))

        def get() -> list[dict]:
            response = self.get_literal(
                self.config.url + path + query_string(params), "application/dicom+json"
            )
            if response.status_code == 204 or not response.content:
                return []
            answer = response.json()
            if not isinstance(answer, list):
                raise ValueError("a QIDO-RS answer must be a JSON list")
            return answer

        return self.call(action, get)

    # ------------------------------------------------------------------- WADO-RS

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """One instance, uncompressed when the server can transcode, as stored otherwise."""

        def fetch(**media) -> Dataset:
            return self.call(
                "retrieve an image",
                self.dicomweb.retrieve_instance,
                study_uid,
                series_uid,
                sop_uid,
                **media,
            )

        try:
            return fetch(media_types=(("application/dicom", EXPLICIT_LITTLE),))
        except PacsError as exc:
            # Only a plain refusal (406/400: no transcoding here) is worth asking
            # again for the stored encoding; login, 404 and outages are not.
            if type(exc) is not PacsError or not isinstance(exc.__cause__, requests.HTTPError):
                raise
            return fetch()

    def rendered(self, study_uid: str, series_uid: str, sop_uid: str, size: int) -> bytes:
        """A JPEG of the instance fitting ``size`` x ``size`` pixels, rendered by the server.

        The viewport is written ``?viewport=W,H`` with a literal comma, as the
        standard's examples do: Orthanc's DICOMweb plugin 1.7 rejects the
        percent-encoded comma that ``requests`` would produce from ``params``.
        """
        url = (
            f"{self.config.url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
            f"/rendered?viewport={int(size)},{int(size)}"
        )

        return self.call("fetch a thumbnail", lambda: self.get_literal(url, "image/jpeg").content)

    # ------------------------------------------------------------------- STOW-RS

    def store(self, datasets: Sequence[Dataset], study_uid: str) -> None:
        """Send instances to their study; a PacsError names any the server refused."""
        answer = self.call(
            "send the report",
            self.dicomweb.store_instances,
            datasets=list(datasets),
            study_instance_uid=study_uid,
        )
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            reasons = ", ".join(
                f"{item.get('ReferencedSOPInstanceUID', '?')} (reason {item.get('FailureReason')})"
                for item in failed
            )
            raise PacsError(
                f"The PACS refused {len(failed)} of the sent objects: {reasons}.",
                "Ask your PACS administrator whether it accepts Structured Reports "
                "and secondary captures from this workstation.",
            )

    # ------------------------------------------------------------------ plumbing

    def get_literal(self, url: str, accept: str) -> requests.Response:
        """GET ``url`` as written (``requests`` would normalise its query; see ``qido``)."""
        prepared = self.session.prepare_request(
            requests.Request("GET", url, headers={"Accept": accept})
        )
        prepared.url = url
        response = self.session.send(prepared, timeout=(CONNECT_TIMEOUT_S, self.config.timeout_s))
        response.raise_for_status()
        return response

    def call(self, action: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run one request; every failure becomes a PacsError naming ``action``."""
        try:
            return fn(*args, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise PacsError(
                f"Could not {action}: the PACS's security certificate could not be verified.",
                "If your hospital uses its own certificate authority, choose its CA file in "
                "the PACS settings; do not turn verification off unless IT tells you to.",
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            slow = isinstance(exc, requests.exceptions.Timeout)
            raise Unreachable(
                f"Could not {action}: the PACS at {self.config.url} "
                + ("did not answer in time." if slow else "cannot be reached."),
                "Check the network connection and that the PACS is running, then try again.",
            ) from exc
        except requests.HTTPError as exc:
            raise self._http_error(action, exc) from exc
        except PacsError:
            raise
        except (ValueError, KeyError, TypeError, requests.RequestException) as exc:
            raise PacsError(
                f"Could not {action}: the PACS sent an answer that is not valid DICOMweb "
                f"({type(exc).__name__}).",
                "Check that the address points at the DICOMweb service of the PACS "
                "(often ending in /dicom-web or /wado).",
            ) from exc

    def _http_error(self, action: str, exc: requests.HTTPError) -> PacsError:
        status = exc.response.status_code if exc.response is not None else 0
        if status == 401:
            return LoginRefused(
                f"Could not {action}: the PACS refused the login for "
                f"{self.config.username or 'this token'}.",
                "Check the user name and password (or token) and try again.",
            )
        if status == 403:
            return PacsError(
                f"Could not {action}: this account is not allowed to do that on the PACS.",
                "Ask your PACS administrator for the right permissions.",
            )
        if status == 404:
            return NotOnServer(
                f"Could not {action}: the PACS no longer has it.",
                "It may have been deleted or moved since the search; search again.",
            )
        if status >= 500:
            return Unreachable(
                f"Could not {action}: the PACS reported an internal error ({status}).",
                "Try again in a moment; if it persists, tell your PACS administrator.",
            )
        return PacsError(
            f"Could not {action}: the PACS answered {status}.",
            "Check the PACS address; the server may not support this DICOMweb request.",
        )


def query_string(params: Sequence[tuple[str, str]]) -> str:
    """``?k=v&...`` with DICOM wildcards and separators left as they are."""
    if not params:
        return ""
    return "?" + "&".join(f"{quote(k)}={quote(v, safe=QUERY_LITERAL)}" for k, v in params)
