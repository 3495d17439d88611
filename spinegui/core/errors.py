"""One family of exceptions whose text is shown to users as is.

Every error a user can cause (a bad file, a wrong landmark count, a full disk)
is raised as a ``SpineguiError`` carrying a plain-language ``message`` and a
``hint`` saying what to do. The CLI prints both and exits non-zero; the GUI
shows both in a dialog. Anything else that escapes is a bug.
"""

from __future__ import annotations


class SpineguiError(Exception):
    """An error caused by user input or the environment, explained for people."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class TemplateError(SpineguiError):
    """Unknown spine template, or data that does not fit the template."""


class LandmarkError(SpineguiError):
    """Landmarks of the wrong shape or with impossible values."""


class ImageLoadError(SpineguiError):
    """An image file that cannot be read as an X-ray."""


class FormatError(SpineguiError):
    """An import/export file that does not follow its format."""


class StoreError(SpineguiError):
    """The project folder or its database cannot be used."""


class OutputError(SpineguiError):
    """An output file or folder that may not or cannot be written (exists, full disk)."""


class ProjectConflict(StoreError):
    """An edit based on a state someone else (another window or process) has changed since.

    Nothing was saved; the message names what changed, who changed it and when,
    and the caller reloads so the person sees the current state.
    """
