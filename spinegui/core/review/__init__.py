"""The review window's model without Qt: session, undo steps, worklist, measurements."""

from spinegui.core.review.session import Change, ReviewSession

__all__ = ["Change", "ReviewSession"]
