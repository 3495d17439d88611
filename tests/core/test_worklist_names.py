"""What the image list calls each X-ray: the part of its name that tells it apart."""

from __future__ import annotations

from spinegui.core.review.worklist import WorklistEntry, list_names

AASCE = [
    "sunhl-1th-05-Jan-2017-167 B AP.jpg",
    "sunhl-1th-09-Jan-2017-196 E AP.jpg",
    "sunhl-1th-21-Nov-2016-132 C AP.jpg",
]


def entries(names, patients=()):
    patients = list(patients) + [""] * (len(names) - len(patients))
    return [
        WorklistEntry(i + 1, n, "not_started", False, patient=p)
        for i, (n, p) in enumerate(zip(names, patients, strict=True))
    ]


def test_the_beginning_and_ending_every_name_shares_are_left_out_at_separators():
    shown = list_names(entries(AASCE))
    assert shown == {
        1: "…05-Jan-2017-167 B…",
        2: "…09-Jan-2017-196 E…",
        3: "…21-Nov-2016-132 C…",
    }


def test_names_sharing_little_or_alone_are_shown_whole():
    assert list_names(entries(["demo_01.png", "demo_02.png"])) == {
        1: "demo_01.png",
        2: "demo_02.png",
    }
    assert list_names(entries(AASCE[:1])) == {1: AASCE[0]}


def test_pacs_images_are_named_by_patient_and_left_out_of_the_shared_beginning():
    uids = ["1.2.826.0.1.3680043.8.498.1111.dcm", "1.2.826.0.1.3680043.8.498.2222.dcm"]
    shown = list_names(entries([*uids, *AASCE], patients=["DOE, JANE · 2024-01-31", ""]))
    assert shown[1] == "DOE, JANE · 2024-01-31"
    assert shown[2] == uids[1]  # no patient known: its file name, nothing shared with the rest
    assert shown[3] == AASCE[0]
