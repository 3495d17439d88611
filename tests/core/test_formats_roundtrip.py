"""Every format writes and reads back the same records; malformed files name the fault."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from spinegui.core.errors import FormatError, SpineguiError
from spinegui.core.formats import (
    AnnotatedImage,
    read_aasce,
    read_coco,
    read_csv,
    write_aasce,
    write_coco,
    write_csv,
)
from spinegui.core.templates import get_template

W, H = 320, 1300


def spine(n: int, seed: int) -> np.ndarray:
    """A synthetic spine with sub-pixel corners, (n, 4, 2)."""
    rng = np.random.default_rng(seed)
    pts = np.empty((n, 4, 2))
    for v in range(n):
        top, left = 40 + 65 * v, 90 + 4 * np.sin(v)
        pts[v] = [[left, top], [left + 110, top + 6], [left + 2, top + 45], [left + 111, top + 50]]
    return pts + rng.uniform(-0.49, 0.49, pts.shape)


def image(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cv2.imwrite(str(path), np.zeros((H, W), np.uint8))
    return path


@pytest.fixture
def records(tmp_path) -> list[AnnotatedImage]:
    images = tmp_path / "images"
    return [
        AnnotatedImage(
            image(images, "a.png"), W, H, "T1-L5", spine(17, 1), angles=(31.5, 12.25, 4.0)
        ),
        AnnotatedImage(
            image(images, "b c.png"), W, H, "C7-L5", spine(18, 2), spacing_mm=(0.2, 0.2)
        ),
        AnnotatedImage(image(images, "d.png"), W, H, "T1-L5", None, angles=(1.0, 2.0, 3.0)),
    ]


def assert_same(got: AnnotatedImage, want: AnnotatedImage, atol=1e-9, extras=True):
    assert got.image.resolve() == want.image.resolve()
    assert (got.width, got.height, got.template) == (want.width, want.height, want.template)
    if want.landmarks is None:
        assert got.landmarks is None
    else:
        assert got.landmarks.shape == want.landmarks.shape
        np.testing.assert_allclose(got.landmarks, want.landmarks, rtol=0, atol=atol)
    if extras:
        assert got.angles == want.angles
        assert got.spacing_mm == want.spacing_mm


def test_coco_round_trip(records, tmp_path):
    (tmp_path / "out").mkdir()
    path = write_coco(records, tmp_path / "out" / "ann.json")
    back = read_coco(path, image_root=tmp_path)
    assert len(back) == 3
    for got, want in zip(back, records, strict=True):
        assert_same(got, want)


def test_coco_file_follows_the_keypoint_conventions(records, tmp_path):
    doc = json.loads(write_coco(records, tmp_path / "ann.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == [
        "images/a.png",
        "images/b c.png",
        "images/d.png",
    ]
    cats = {c["name"]: c for c in doc["categories"]}
    t = get_template("C7-L5")
    assert cats["C7-L5"]["keypoints"] == t.landmark_names()
    assert cats["C7-L5"]["keypoints"][:2] == ["C7-TL", "C7-TR"]
    assert cats["C7-L5"]["skeleton"][:5] == [[1, 2], [2, 4], [4, 3], [3, 1], [5, 6]]
    assert len(cats["T1-L5"]["skeleton"]) == 4 * 17
    assert len(doc["annotations"]) == 2  # the unannotated image has no annotation
    ann = doc["annotations"][0]
    assert ann["category_id"] == cats["T1-L5"]["id"]
    assert ann["num_keypoints"] == 68
    kp = np.array(ann["keypoints"]).reshape(-1, 3)
    assert set(kp[:, 2]) == {2}
    pts = records[0].landmarks.reshape(-1, 2)
    lo, hi = pts.min(0), pts.max(0)
    np.testing.assert_allclose(ann["bbox"], [lo[0], lo[1], *(hi - lo)])
    assert doc["images"][0]["cobb_angles"] == [31.5, 12.25, 4.0]
    assert doc["images"][1]["pixel_spacing_mm"] == [0.2, 0.2]


def test_csv_round_trip_keeps_landmarks(records, tmp_path):
    path = write_csv(records, tmp_path / "lm.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "image,template,vertebra,corner,x,y"
    assert lines[1].startswith("images/a.png,T1-L5,T1,TL,")
    assert len(lines) == 1 + 68 + 72
    back = read_csv(path)
    assert len(back) == 2  # landmarks only: the unannotated image is not written
    for got, want in zip(back, records[:2], strict=True):
        assert_same(got, want, extras=False)


def test_csv_rows_in_any_order_read_the_same(records, tmp_path):
    path = write_csv(records[:1], tmp_path / "lm.csv")
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *reversed(rows)]) + "\n")
    (got,) = read_csv(path)
    assert_same(got, records[0], extras=False)


def test_aasce_round_trip_rounds_to_whole_pixels(records, tmp_path):
    aasce_records = [r for r in records if r.template == "T1-L5"]
    root = write_aasce(aasce_records, tmp_path / "ds")
    assert (root / "data" / "training" / "a.png").is_file()
    assert (root / "labels" / "training" / "a.png.mat").is_file()
    assert (root / "labels" / "training" / "filenames.csv").read_bytes() == b"a.png\r\n"
    result = read_aasce(root)
    got = {r.name: r for r in result.records}
    a = got["a.png"]
    assert a.image == root / "data" / "training" / "a.png"
    np.testing.assert_array_equal(a.landmarks, np.rint(records[0].landmarks))
    np.testing.assert_allclose(a.landmarks, records[0].landmarks, atol=0.5)
    assert a.angles == records[0].angles
    assert (a.width, a.height, a.template) == (W, H, "T1-L5")
    assert got["d.png"].landmarks is None
    assert [(f.image, f.kind) for f in result.report] == [("d.png", "missing_label")]


def test_aasce_round_trip_of_the_real_layout_is_stable(tmp_path):
    # A record read from AASCE files, written and read again, comes back identical.
    pts = np.rint(spine(17, 5))
    rec = AnnotatedImage(image(tmp_path / "src", "x.jpg"), W, H, "T1-L5", pts, (20.0, 10.0, 5.0))
    first = read_aasce(write_aasce([rec], tmp_path / "one")).records[0]
    second = read_aasce(write_aasce([first], tmp_path / "two", split="test")).records[0]
    np.testing.assert_array_equal(second.landmarks, pts)
    assert second.angles == rec.angles


def test_aasce_refuses_other_templates_and_negative_points(records, tmp_path):
    with pytest.raises(FormatError, match="C7-L5") as info:
        write_aasce(records, tmp_path / "ds")
    assert "COCO or CSV" in info.value.hint
    neg = records[0].landmarks.copy()
    neg[0, 0, 0] = -4
    bad = AnnotatedImage(records[0].image, W, H, "T1-L5", neg)
    with pytest.raises(FormatError, match="0 to 65535"):
        write_aasce([bad], tmp_path / "ds2")


# ---- malformed CSV -------------------------------------------------------------------


def csv_lines(records, tmp_path) -> tuple[Path, list[str]]:
    path = write_csv(records[:1], tmp_path / "lm.csv")
    return path, path.read_text().splitlines()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows.__setitem__(5, rows[5].replace(",T2,", ",T99,")), "line 6: 'T99'"),
        (
            lambda rows: rows.__setitem__(3, rows[3].replace(",BL,", ",XX,")),
            "line 4: unknown corner",
        ),
        (
            lambda rows: rows.__setitem__(2, rows[2].rsplit(",", 1)[0] + ",abc"),
            "line 3: y is 'abc'",
        ),
        (
            lambda rows: rows.__setitem__(2, rows[2].replace(",T1-L5,", ",T1-L4,")),
            "line 3: unknown template",
        ),
        (lambda rows: rows.__setitem__(0, "img,tpl,v,c,x,y"), "line 1: the header"),
        (lambda rows: rows.__setitem__(7, rows[7] + ",9"), "line 8: expected 6 fields"),
        (lambda rows: rows.__setitem__(9, rows[8]), "line 10: images/a.png T2 BR is given twice"),
        (lambda rows: rows.pop(20), "lacks 1 of its 68 landmarks: T5-BR"),
    ],
)
def test_malformed_csv_names_the_line(records, tmp_path, edit, message):
    path, rows = csv_lines(records, tmp_path)
    edit(rows)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(FormatError) as info:
        read_csv(path)
    assert message in info.value.message
    assert info.value.hint


def test_csv_with_missing_image_says_where_it_looked(records, tmp_path):
    path, _ = csv_lines(records, tmp_path)
    records[0].image.unlink()
    with pytest.raises(
        FormatError, match=r"line 2: image images/a\.png cannot be used: .*does not exist"
    ):
        read_csv(path)


# ---- malformed COCO ------------------------------------------------------------------


def coco_doc(records, tmp_path) -> tuple[Path, dict]:
    path = write_coco(records, tmp_path / "ann.json")
    return path, json.loads(path.read_text())


def rewrite(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_coco_wrong_keypoint_count(records, tmp_path):
    path, doc = coco_doc(records, tmp_path)
    doc["annotations"][1]["keypoints"] = doc["annotations"][1]["keypoints"][:-3]
    with pytest.raises(FormatError, match=r"annotations\[1\] has 213 keypoint values.*216"):
        read_coco(rewrite(path, doc))


def test_coco_unknown_template(records, tmp_path):
    path, doc = coco_doc(records, tmp_path)
    doc["categories"][0]["name"] = "person"
    with pytest.raises(FormatError, match=r"categories\[0\] is 'person'"):
        read_coco(rewrite(path, doc))


def test_coco_keypoints_in_another_order(records, tmp_path):
    path, doc = coco_doc(records, tmp_path)
    kps = doc["categories"][1]["keypoints"]
    kps[0], kps[1] = kps[1], kps[0]
    with pytest.raises(FormatError, match=r"categories\[1\] \(T1-L5\) lists keypoints"):
        read_coco(rewrite(path, doc))


def test_coco_unlabelled_keypoint(records, tmp_path):
    path, doc = coco_doc(records, tmp_path)
    doc["annotations"][0]["keypoints"][3 * 5 + 2] = 0
    with pytest.raises(FormatError, match="landmark T2-TR unlabelled"):
        read_coco(rewrite(path, doc))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "has no 'images' list"),
        ('{"images": [{"id": 1}], "annotations": [], "categories": []}', "no 'file_name'"),
    ],
)
def test_coco_broken_files(tmp_path, doc, message):
    path = tmp_path / "ann.json"
    path.write_text(doc)
    with pytest.raises(FormatError, match=message):
        read_coco(path)


def test_coco_writer_rejects_landmarks_that_do_not_fit_the_template(records, tmp_path):
    wrong = AnnotatedImage(records[0].image, W, H, "C7-L5", records[0].landmarks)
    with pytest.raises(SpineguiError, match="Expected 72 landmarks"):
        write_coco([wrong], tmp_path / "ann.json")
