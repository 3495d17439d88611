"""AASCE layout import: synthetic folders with planted noise, and the real data when present."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from spinegui.core.errors import FormatError
from spinegui.core.formats import read_aasce
from spinegui.core.imageio import read_image_size
from spinegui.core.landmarks import validate

W, H = 300, 1200


def spine(n: int = 17, shift: float = 0.0) -> np.ndarray:
    """A straight, slightly tilted synthetic spine in pixels, (n, 4, 2)."""
    pts = np.empty((n, 4, 2))
    for v in range(n):
        top, left = 50 + 60 * v + shift, 100 + 3 * v
        pts[v] = [[left, top], [left + 100, top + 5], [left, top + 40], [left + 100, top + 45]]
    return pts


def make_dataset(root: Path, labels: dict[str, np.ndarray | None], split="training", **kw):
    """Write an AASCE-layout folder; kw overrides: angles, mat (False = no .mat), csv."""
    (root / "data" / split).mkdir(parents=True)
    label_dir = root / "labels" / split
    label_dir.mkdir(parents=True)
    names, lm_lines, angle_lines = [], [], []
    for name, pts in labels.items():
        cv2.imwrite(str(root / "data" / split / name), np.zeros((H, W), np.uint8))
        if pts is None:
            continue
        flat = pts.reshape(68, 2)
        if kw.get("mat", {}).get(name, True):
            scipy.io.savemat(label_dir / f"{name}.mat", {"p2": flat.astype(np.uint16)})
        csv_flat = kw.get("csv", {}).get(name, flat)
        lm_lines.append(",".join(f"{v:.5g}" for v in [*csv_flat[:, 0] / W, *csv_flat[:, 1] / H]))
        angle_lines.append(",".join(str(a) for a in kw.get("angles", {}).get(name, (10, 5, 2))))
        names.append(name)
    for fn, lines in (
        ("filenames.csv", names),
        ("landmarks.csv", lm_lines),
        ("angles.csv", angle_lines),
    ):
        (label_dir / fn).write_bytes("".join(f"{x}\r\n" for x in lines).encode())
    return root


def kinds(result) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in result.report:
        out.setdefault(f.kind, []).append(f.image)
    return out


def test_clean_dataset_reads_exact_pixels_sizes_and_angles(tmp_path):
    pts = spine()
    root = make_dataset(tmp_path, {"a.jpg": pts, "b.jpg": spine(shift=7)})
    result = read_aasce(root)
    assert [r.name for r in result.records] == ["a.jpg", "b.jpg"]
    rec = result.records[0]
    assert (rec.width, rec.height, rec.template) == (W, H, "T1-L5")
    np.testing.assert_array_equal(rec.landmarks, pts)
    assert rec.angles == (10.0, 5.0, 2.0)
    assert rec.image == root / "data" / "training" / "a.jpg"
    assert result.report == []
    assert "No label problems" in result.summary()


def test_planted_noise_is_reported_and_every_record_kept(tmp_path):
    displaced = spine()
    displaced[[15, 16]] = displaced[[16, 15]]  # L5 stored before L4: unambiguous
    crossed = spine()
    crossed[4, [0, 1]] = crossed[4, [1, 0]]  # T5 TL and TR swapped
    outside = spine()
    outside[16, 3, 1] = H + 30
    off_csv = spine()
    off_csv[2, 0, 0] += 5
    root = make_dataset(
        tmp_path,
        {
            "order.jpg": displaced,
            "crossed.jpg": crossed,
            "outside.jpg": outside,
            "angle.jpg": spine(),
            "csvonly.jpg": spine(shift=3),
            "mismatch.jpg": spine(),
            "nolabel.jpg": None,
        },
        angles={"angle.jpg": (156.4, 20, 3)},
        mat={"csvonly.jpg": False},
        csv={"mismatch.jpg": off_csv.reshape(68, 2)},
    )
    result = read_aasce(root)
    by_name = {r.name: r for r in result.records}
    assert len(by_name) == 7
    found = kinds(result)
    assert found["out_of_order"] == ["order.jpg"]
    assert result.repaired == {"order.jpg"}
    np.testing.assert_array_equal(by_name["order.jpg"].landmarks, spine())
    assert found["crossed_corners"] == ["crossed.jpg"]
    assert "T5" in result.findings("crossed_corners")[0].message
    np.testing.assert_array_equal(by_name["crossed.jpg"].landmarks, crossed)  # not repaired
    assert found["outside_image"] == ["outside.jpg"]
    assert found["bad_angle"] == ["angle.jpg"]
    assert by_name["angle.jpg"].angles[0] == pytest.approx(156.4)
    assert found["csv_mismatch"] == ["mismatch.jpg"]
    np.testing.assert_array_equal(by_name["mismatch.jpg"].landmarks, spine())  # .mat wins
    assert sorted(found["missing_label"]) == ["csvonly.jpg", "nolabel.jpg"]
    np.testing.assert_allclose(by_name["csvonly.jpg"].landmarks, spine(shift=3), atol=0.05)
    assert by_name["nolabel.jpg"].landmarks is None
    assert by_name["nolabel.jpg"].angles is None
    summary = result.summary()
    assert "out_of_order: 1 finding(s) in 1 file(s), 1 repaired" in summary
    assert "missing_label: 2" in summary


def test_order_is_left_alone_when_ambiguous(tmp_path):
    duplicate = spine()
    duplicate[16] = duplicate[15] + [3, -2]  # L5 drawn over L4: no right order exists
    split = spine()
    split[16, 2:, 1] = [20, 22]  # bottom corners at the image top: centre means nothing
    root = make_dataset(tmp_path, {"dup.jpg": duplicate, "split.jpg": split})
    result = read_aasce(root)
    assert sorted(kinds(result)["out_of_order"]) == ["dup.jpg", "split.jpg"]
    assert result.repaired == set()
    np.testing.assert_array_equal(result.records[0].landmarks, duplicate)
    np.testing.assert_array_equal(result.records[1].landmarks, split)


def test_reads_every_split_or_the_one_asked_for(tmp_path):
    make_dataset(tmp_path, {"a.jpg": spine()}, split="training")
    (tmp_path / "data" / "test").mkdir()
    (tmp_path / "labels" / "test").mkdir()
    cv2.imwrite(str(tmp_path / "data" / "test" / "t.jpg"), np.zeros((H, W), np.uint8))
    both = read_aasce(tmp_path)
    assert sorted(r.name for r in both.records) == ["a.jpg", "t.jpg"]
    assert kinds(both) == {"missing_label": ["t.jpg"]}
    only = read_aasce(tmp_path, split="training")
    assert [r.name for r in only.records] == ["a.jpg"]
    with pytest.raises(FormatError, match="no split 'validation'") as info:
        read_aasce(tmp_path, split="validation")
    assert "test, training" in info.value.hint


def test_not_a_dataset_folder_raises_with_hint(tmp_path):
    with pytest.raises(FormatError, match="not an AASCE dataset folder") as info:
        read_aasce(tmp_path)
    assert "boostnet_labeldata" in info.value.hint


def test_listed_image_that_is_missing_is_reported(tmp_path):
    root = make_dataset(tmp_path, {"a.jpg": spine(), "gone.jpg": spine()})
    (root / "data" / "training" / "gone.jpg").unlink()
    result = read_aasce(root)
    assert [r.name for r in result.records] == ["a.jpg"]
    assert kinds(result) == {"missing_image": ["gone.jpg"]}


def test_unreadable_image_is_reported_not_fatal(tmp_path):
    root = make_dataset(tmp_path, {"a.jpg": spine(), "broken.jpg": spine()})
    (root / "data" / "training" / "broken.jpg").write_bytes(b"")
    result = read_aasce(root)
    assert [r.name for r in result.records] == ["a.jpg"]
    assert kinds(result) == {"missing_image": ["broken.jpg"]}
    assert "empty" in result.report[0].message


@pytest.mark.aasce
def test_real_aasce_import_finds_the_known_noise(aasce_dir):
    result = read_aasce(aasce_dir)
    assert len(result.records) == 481
    assert len({r.name for r in result.records}) == 481
    found = kinds(result)
    # Measured: 24 files flag an out-of-order vertebra with validate()'s <= test; 23 lie
    # strictly above their neighbour (the README's 23) and one ties exactly (15 B).
    order = result.findings("out_of_order")
    assert len(order) == 24
    assert sum(f.repaired for f in order) == 18
    assert {f.image for f in order if not f.repaired} == {
        "sunhl-1th-06-Jan-2017-182 A AP.jpg",
        "sunhl-1th-25-Jul-2016-15 B AP.jpg",
        "sunhl-1th-25-Jul-2016-49 A AP.jpg",
        "sunhl-1th-25-Jul-2016-51 A AP.jpg",
        "sunhl-1th-25-Jul-2016-61 A AP.jpg",
        "sunhl-1th-26-Jul-2016-76 C AP.jpg",
    }
    assert len(found["crossed_corners"]) == 6
    assert found["outside_image"] == ["sunhl-1th-25-Jul-2016-49 A AP.jpg"]
    assert "2382" in result.findings("outside_image")[0].message
    assert found["bad_angle"] == ["sunhl-1th-30-Dec-2016-161 A AP.jpg"]
    assert "156.39" in result.findings("bad_angle")[0].message
    assert "missing_label" not in found and "csv_mismatch" not in found
    by_name = {r.name: r for r in result.records}
    for f in order:
        rec = by_name[f.image]
        still = [p for p in validate(rec.landmarks, "T1-L5") if p.kind == "order"]
        assert bool(still) != f.repaired
    rec = by_name["sunhl-1th-25-Jul-2016-49 A AP.jpg"]
    assert (rec.width, rec.height) == (964, 2325)
    assert all(355 <= r.width <= 1427 and 973 <= r.height <= 3755 for r in result.records)
    assert all(r.landmarks is not None and r.angles is not None for r in result.records)


@pytest.mark.aasce
def test_real_aasce_sizes_match_decoded_images(aasce_dir):
    images = sorted((aasce_dir / "data" / "training").glob("*.jpg"))[::60]
    for path in images:
        h, w = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape
        assert read_image_size(path) == (w, h)
