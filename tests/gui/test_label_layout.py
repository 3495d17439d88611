"""Labels never sit on lines, on each other, or outside the picture."""

from __future__ import annotations

import numpy as np

from spinegui.gui.label_layout import (
    LabelPlacer,
    rects_overlap,
    segment_hits_rect,
    segments_hitting,
    vertical_candidates,
)

RECT = (10.0, 10.0, 30.0, 20.0)


def test_vectorised_and_plain_segment_tests_agree():
    rng = np.random.default_rng(0)
    segments = rng.uniform(0, 40, size=(500, 4))
    segments[:20, 2] = segments[:20, 0]  # vertical ones
    segments[20:40, 3] = segments[20:40, 1]  # horizontal ones
    fast = segments_hitting(segments, RECT)
    slow = np.array([segment_hits_rect(tuple(s), RECT) for s in segments])
    np.testing.assert_array_equal(fast, slow)
    assert fast.any() and not fast.all()


def test_a_label_moves_off_a_line_and_off_another_label():
    line = (0.0, 15.0, 100.0, 15.0)  # straight through the preferred place
    placer = LabelPlacer([line], bounds=(0.0, 0.0, 100.0, 100.0))
    first = placer.place(vertical_candidates(10.0, 15.0, 20.0, 8.0))
    second = placer.place(vertical_candidates(10.0, 15.0, 20.0, 8.0))
    assert first is not None and second is not None
    for r in (first, second):
        assert not segment_hits_rect(line, r)
    assert not rects_overlap(first, second)


def test_no_free_place_means_no_label():
    placer = LabelPlacer(bounds=(0.0, 0.0, 50.0, 50.0))
    assert placer.place(vertical_candidates(45.0, 25.0, 20.0, 8.0)) is None  # runs off the right


def test_a_curve_label_says_in_one_bracket_whose_angle_and_whose_ends():
    """It read '6.0° (reader) (model)': two brackets, and 'reader' looked like whose angle."""
    from spinegui.core.curves import Curve
    from spinegui.gui.cobb_overlay import label_text

    chosen = Curve("MT", "Main thoracic", 6.04, 4, 10, 6, chosen_by_reader=True)
    assert label_text({"prediction": chosen}) == "Main thoracic\n6.0° (model, reader's ends)"
    assert label_text({"truth": chosen}) == "Main thoracic\n6.0° (reader's ends)"
    rules = Curve("MT", "Main thoracic", 6.04, 4, 10, 6)
    assert label_text({"prediction": rules}) == "Main thoracic\n6.0° (model)"
