"""Spine templates: the vertebra lists everything else is derived from."""

from __future__ import annotations

import dataclasses

import pytest

from spinegui.core.errors import TemplateError
from spinegui.core.templates import (
    CORNERS,
    DEFAULT_TEMPLATE,
    LEFT_CORNERS,
    RIGHT_CORNERS,
    TEMPLATES,
    get_template,
    template_for_count,
)


@pytest.mark.parametrize(
    "name, first, last, count",
    [("C7-L5", "C7", "L5", 18), ("T1-L5", "T1", "L5", 17)],
)
def test_shipped_templates_match_the_paper_and_aasce(name, first, last, count):
    t = TEMPLATES[name]
    assert t.name == name
    assert (t.vertebrae[0], t.vertebrae[-1]) == (first, last)
    assert t.n_vertebrae == count
    assert t.n_landmarks == 4 * count
    assert t.n_outputs == 8 * count
    assert len(set(t.vertebrae)) == count


def test_sizes_the_network_needs():
    assert TEMPLATES["C7-L5"].n_outputs == 144  # paper: FC 2 * 4V
    assert TEMPLATES["T1-L5"].n_landmarks == 68  # AASCE p2 has 68 rows


def test_thoracic_and_lumbar_run_in_cranial_to_caudal_order():
    v = TEMPLATES["C7-L5"].vertebrae
    assert v[1:13] == tuple(f"T{i}" for i in range(1, 13))
    assert v[13:] == tuple(f"L{i}" for i in range(1, 6))
    assert TEMPLATES["T1-L5"].vertebrae == v[1:]


def test_corner_order_is_aasce_and_left_right_indices_agree():
    assert CORNERS == ("TL", "TR", "BL", "BR")
    assert [CORNERS[i] for i in LEFT_CORNERS] == ["TL", "BL"]
    assert [CORNERS[i] for i in RIGHT_CORNERS] == ["TR", "BR"]


def test_landmark_names_follow_flat_aasce_order():
    t = TEMPLATES["T1-L5"]
    names = t.landmark_names()
    assert len(names) == t.n_landmarks
    assert names[:5] == ["T1-TL", "T1-TR", "T1-BL", "T1-BR", "T2-TL"]
    assert names[-1] == "L5-BR"
    assert len(set(names)) == len(names)


def test_index_finds_vertebrae_and_explains_unknown_ones():
    t = TEMPLATES["C7-L5"]
    assert t.index("C7") == 0
    assert t.index("L5") == 17
    with pytest.raises(TemplateError) as info:
        t.index("S1")
    assert "S1" in info.value.message
    assert "L5" in info.value.hint


def test_get_template_by_name_or_instance():
    t = get_template("T1-L5")
    assert t is TEMPLATES["T1-L5"]
    assert get_template(t) is t
    assert DEFAULT_TEMPLATE in TEMPLATES


def test_unknown_template_name_lists_the_known_ones():
    with pytest.raises(TemplateError) as info:
        get_template("C1-S5")
    assert "C1-S5" in info.value.message
    assert all(name in info.value.hint for name in TEMPLATES)


@pytest.mark.parametrize("count, name", [(17, "T1-L5"), (18, "C7-L5")])
def test_template_for_count(count, name):
    assert template_for_count(count).name == name


def test_template_for_unknown_count_says_what_is_expected():
    with pytest.raises(TemplateError) as info:
        template_for_count(12)
    assert "12" in info.value.message
    assert "17" in info.value.hint and "18" in info.value.hint


def test_templates_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TEMPLATES["T1-L5"].name = "other"
