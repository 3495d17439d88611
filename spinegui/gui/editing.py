"""The canvas wired to a review session: drags become edits, session changes redraw it.

The window and the tests wire a canvas the same way, through
``connect_canvas``, so what the tests drag is what a clinician drags. The
canvas moves a corner live while the mouse is down; on release the session
writes it (one undo step, one durable transaction), re-reads the image once
and measures it once, and the canvas redraws from that.
"""

from __future__ import annotations

from collections.abc import Callable

from spinegui.core.errors import SpineguiError
from spinegui.core.review import Change, ReviewSession
from spinegui.core.review.session import CALIBRATION, ENDS, IMAGE, LANDMARKS, PREDICTION, PROJECT

REDRAW = frozenset({LANDMARKS, PREDICTION, ENDS, CALIBRATION})


def draw_landmarks(canvas, session: ReviewSession) -> None:
    """Truth, prediction and Cobb lines of the shown image, as the session has them."""
    state = session.state
    if state is None or session.image is None:
        canvas.clear()
        return
    pred = state.prediction
    canvas.set_ground_truth(state.truth)
    canvas.set_prediction(
        None if pred is None else pred.points, None if pred is None else pred.spread
    )
    m = session.measurement()
    canvas.set_curves(m.truth, m.prediction, state.curve_ends)


def show_image(canvas, session: ReviewSession) -> None:
    """Put the session's image on the canvas, fitted, with its landmarks."""
    if session.image is None:
        canvas.clear()
        return
    image = session.image
    canvas.set_template(session.state.record.template)
    spacing = session.state.spacing
    canvas.set_image(
        image.pixels, image.levels, None if spacing is None else (spacing.row_mm, spacing.col_mm)
    )
    draw_landmarks(canvas, session)
    canvas.fit()


def connect_canvas(
    canvas, session: ReviewSession, on_error: Callable[[SpineguiError], None] | None = None
) -> None:
    """Wire ``canvas`` to ``session``: its releases become edits, the session's changes redraw it.

    ``on_error`` gets an edit the store refused (the canvas already shows
    what the store holds again); without it the error propagates.
    """

    def edit(call: Callable[[], object]) -> None:
        try:
            call()
        except SpineguiError as exc:
            if on_error is None:
                raise
            on_error(exc)

    canvas.cornerMoved.connect(
        lambda v, c, _before, after: edit(
            lambda: session.move_corner(v, c, after, start_from=canvas.prediction())
        )
    )
    canvas.vertebraMoved.connect(
        lambda v, _before, after: edit(
            lambda: session.move_vertebra(v, after, start_from=canvas.prediction())
        )
    )

    def changed(change: Change) -> None:
        if IMAGE in change or PROJECT in change:
            show_image(canvas, session)
        elif change.kinds & REDRAW and change.image_id == session.current_id:
            if CALIBRATION in change and session.state is not None:
                spacing = session.state.spacing
                canvas.set_spacing(None if spacing is None else (spacing.row_mm, spacing.col_mm))
            draw_landmarks(canvas, session)

    session.subscribe(changed)
