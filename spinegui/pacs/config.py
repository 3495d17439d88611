"""The remembered PACS server: URL, kind of login, user name. Never a password.

Kept as a small JSON file in the user's configuration folder (not in a
project, which may be copied to another computer or shared), so the command
line and the window remember the same server. Secrets live apart, in
``credentials``. ``SPINEGUI_PACS_CONFIG`` points elsewhere (tests, portable
installs).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from spinegui.core.outputs import atomic_write
from spinegui.pacs.errors import PacsError

AUTH_KINDS = ("none", "basic", "bearer")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one DICOMweb service.

    ``url`` is the service root (e.g. ``https://pacs.example.org/dicom-web``);
    ``verify_tls`` stays on unless someone turns it off knowingly;
    ``ca_bundle`` names a hospital CA certificate file when the PACS uses one.
    """

    url: str = ""
    auth: str = "none"
    username: str = ""
    verify_tls: bool = True
    ca_bundle: str = ""
    timeout_s: float = 30.0

    def checked(self) -> ServerConfig:
        """This configuration with a normalised URL, or a PacsError saying what is wrong."""
        url = self.url.strip().rstrip("/")
        if not url:
            raise PacsError(
                "No PACS server is set up.",
                "Enter the DICOMweb address of your PACS (ask your PACS administrator), "
                "e.g. https://pacs.example.org/dicom-web.",
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PacsError(
                f"{url!r} is not a web address of a DICOMweb service.",
                "It starts with https:// (or http://) and names the server, "
                "e.g. https://pacs.example.org/dicom-web.",
            )
        if parts.username or parts.password:
            raise PacsError(
                "The PACS address contains a user name or password.",
                "Remove them from the address and choose 'basic' login instead, so the "
                "password is kept in the system keyring and never written in clear.",
            )
        if self.auth not in AUTH_KINDS:
            raise PacsError(f"Unknown login kind {self.auth!r}.", f"Use one of {AUTH_KINDS}.")
        if self.auth == "basic" and not self.username.strip():
            raise PacsError("Basic login needs a user name.", "Enter the PACS user name.")
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise PacsError(
                f"The CA certificate file {self.ca_bundle} does not exist.",
                "Choose the hospital's CA certificate file (PEM), or leave it empty.",
            )
        return replace(self, url=url, username=self.username.strip())

    def plain_http_warning(self) -> str:
        """Non-empty when credentials or patient data would cross the network unencrypted."""
        parts = urlsplit(self.url.strip())
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            return (
                "This address uses http://, so patient data and your password travel "
                "unencrypted. Use https:// unless your PACS administrator says otherwise."
            )
        return ""

    @property
    def key(self) -> str:
        """What a stored secret is filed under: the login, never the secret."""
        return f"{self.auth}:{self.username}@{self.url.strip().rstrip('/')}"


def config_path() -> Path:
    override = os.environ.get("SPINEGUI_PACS_CONFIG")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("spinegui", appauthor=False)) / "pacs.json"


def load_config(path: Path | None = None) -> ServerConfig:
    """The remembered server, or an empty configuration when none (or a damaged one) is saved."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ServerConfig()
    if not isinstance(data, dict):
        return ServerConfig()
    known = {k: data[k] for k in asdict(ServerConfig()) if k in data}
    try:
        return ServerConfig(**known)
    except TypeError:
        return ServerConfig()


def save_config(config: ServerConfig, path: Path | None = None) -> Path:
    """Write the configuration atomically (a crash never leaves half a file)."""
    path = path or config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PacsError(
            f"Could not save the PACS settings in {path.parent}: {exc.strerror or exc}.",
            "Check that your configuration folder is writable.",
        ) from exc
    return atomic_write(path, json.dumps(asdict(config), indent=2))
