"""Passwords and tokens: in the OS keyring where there is one, else for this session only.

A secret is never written to the project, the settings file or a log. With a
usable keyring (Windows Credential Manager, macOS Keychain, Secret Service on
Linux desktops) it is stored there if the user asks; without one (a headless
machine, ``keyring``'s "fail" backend) it lives in this process's memory, so
people are asked once per session. Every keyring error degrades to "not
stored": a broken keyring must never block reading a study.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from spinegui.pacs.config import ServerConfig

SERVICE = "spinegui-pacs"

log = logging.getLogger(__name__)

_session: dict[str, str] = {}
_lock = threading.Lock()


def _default_backend():
    try:
        import keyring

        return keyring.get_keyring()
    except Exception:  # keyring missing or its configuration broken
        return None


class Credentials:
    """Where the secret of a ``ServerConfig`` is looked up and kept.

    ``backend`` is a keyring backend (``keyring.get_keyring()`` by default);
    tests pass an in-memory one.
    """

    def __init__(self, backend=None) -> None:
        self.backend = backend if backend is not None else _default_backend()

    @property
    def keyring_available(self) -> bool:
        """True when secrets can outlive this session (a real keyring backend is there)."""
        return self.backend is not None and getattr(self.backend, "priority", 0) > 0

    def get(self, config: ServerConfig) -> str | None:
        """This session's secret, else the keyring's, else None (ask the user)."""
        with _lock:
            secret = _session.get(config.key)
        if secret is not None or not self.keyring_available:
            return secret
        try:
            return self.backend.get_password(SERVICE, config.key)
        except Exception as exc:
            log.warning("The system keyring could not be read (%s).", type(exc).__name__)
            return None

    def remember(self, config: ServerConfig, secret: str, *, persist: bool) -> bool:
        """Keep ``secret`` for this session, and in the keyring when ``persist``.

        Returns True when it was stored in the keyring.
        """
        with _lock:
            _session[config.key] = secret
        if not (persist and self.keyring_available):
            return False
        try:
            self.backend.set_password(SERVICE, config.key, secret)
        except Exception as exc:
            log.warning("The system keyring refused the password (%s).", type(exc).__name__)
            return False
        return True

    def forget(self, config: ServerConfig) -> None:
        """Drop the secret from this session and the keyring (after a login was refused)."""
        with _lock:
            _session.pop(config.key, None)
        if self.keyring_available:
            # Not stored, or the keyring is unavailable: nothing to drop.
            with contextlib.suppress(Exception):
                self.backend.delete_password(SERVICE, config.key)


def forget_session() -> None:
    """Clear every secret held in memory (tests; a "log out" command)."""
    with _lock:
        _session.clear()
