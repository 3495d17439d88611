"""What can go wrong with a PACS, as messages for people plus a kind for the code.

The kind decides what the program does next: a refused login forgets the
stored password and asks again, an unreachable server keeps reports queued
for a retry, a vanished study tells the user to search again.
"""

from __future__ import annotations

from spinegui.core.errors import SpineguiError


class PacsError(SpineguiError):
    """A PACS that cannot be reached, refuses us, or answers something unusable."""


class LoginRefused(PacsError):
    """The server answered 401: wrong user name, password or token."""


class Unreachable(PacsError):
    """No answer: network down, server stopped, timeout. Worth a retry later."""


class NotOnServer(PacsError):
    """The server answered 404: the study, series or instance is gone."""
