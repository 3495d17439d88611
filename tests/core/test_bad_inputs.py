"""The audit's traceback cases, one test each: every one is now a message, or is handled.

Each input here once ended in a traceback (or silently wrong output); see issue 10,
group 4. Broader coverage of the same readers is the property test in test_fuzz_readers.
"""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np
import pytest
import scipy.io

from spinegui.cli import main
from spinegui.core.errors import FormatError, ImageLoadError
from spinegui.core.formats import AnnotatedImage, read_aasce, read_coco, read_csv, write_coco
from spinegui.core.imageio import load_image
from spinegui.core.project_records import add_records
from spinegui.core.store import Project
from tests.core.test_imageio import write_dicom

LATIN1 = os.fsdecode(b"caf\xe9")  # a file name that is not UTF-8, as Linux allows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A 3-image AASCE-layout dataset of synthetic radiographs (T1-L5)."""
    out = tmp_path_factory.mktemp("ds") / "ds"
    argv = ["phantom", "--template", "T1-L5", "--count", "3", "--size", "256x128"]
    assert main([*argv, "--format", "aasce", str(out)]) == 0
    return out


@pytest.fixture
def copy(dataset, tmp_path):
    shutil.copytree(dataset, tmp_path / "ds")
    return tmp_path / "ds"


def _labels(ds):
    return ds / "labels" / "training"


def test_non_utf8_image_name_is_skipped_by_name_and_the_import_goes_on(copy, tmp_path, capsys):
    _, jpeg = cv2.imencode(".jpg", np.full((256, 128), 77, np.uint8))
    (copy / "data" / "training" / f"{LATIN1}.jpg").write_bytes(jpeg.tobytes())
    with Project.create(tmp_path / "p", "T1-L5") as project:
        result = add_records(project, read_aasce(copy).records)
        assert len(result.added) == 3
    assert any("not valid UTF-8" in line for line in result.skipped)
    assert main(["import-aasce", str(copy), str(tmp_path / "p2")]) == 0
    out = capsys.readouterr().out
    assert "caf\\udce9.jpg" in out or "caf\\xe9" in out


def test_non_utf8_folder_added_by_the_window_reports_each_file(copy, tmp_path):
    from spinegui.gui.importing import add_image_files, image_files_in

    folder = tmp_path / LATIN1
    shutil.copytree(copy / "data" / "training", folder)
    with Project.create(tmp_path / "p", "T1-L5") as project:
        report = add_image_files(project, image_files_in(folder))
    assert report.added == [] and len(report.failed) == 3
    assert all("not valid UTF-8" in line for line in report.failed)


@pytest.mark.parametrize(
    "p2",
    [
        b"",
        np.array([["a", "b"]] * 68, dtype=object),
        np.array(["ab"] * 68),
        np.ones((68, 2)) * 1e300,
    ],
    ids=["empty-file", "cell-of-strings", "char-array", "1e300"],
)
def test_unusable_mat_files_are_reported_not_raised(copy, p2):
    mat = sorted(_labels(copy).glob("*.mat"))[0]
    (_labels(copy) / "landmarks.csv").write_text("")
    if isinstance(p2, bytes):
        mat.write_bytes(p2)
    else:
        scipy.io.savemat(mat, {"p2": p2})
    data = read_aasce(copy)
    assert len(data.records) == 3
    (finding,) = data.findings("missing_label")
    assert finding.image == mat.name.removesuffix(".mat")


def test_nan_label_is_named_and_the_import_goes_on(copy, tmp_path, capsys):
    mat = sorted(_labels(copy).glob("*.mat"))[0]
    p2 = scipy.io.loadmat(mat)["p2"].astype(float)
    p2[3, 0] = np.nan
    scipy.io.savemat(mat, {"p2": p2})
    (_labels(copy) / "landmarks.csv").write_text("")
    assert main(["import-aasce", str(copy), str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert mat.name in out and "Added 3 images" in out


def test_non_utf8_filenames_csv_still_matches_the_files(copy):
    names = _labels(copy) / "filenames.csv"
    names.write_bytes(names.read_bytes() + b"caf\xe9.jpg\r\n")
    data = read_aasce(copy)
    assert len(data.records) == 3
    assert any(LATIN1 in f.message for f in data.findings("missing_image"))


def _coco_file(tmp_path, change):
    folder = tmp_path / "coco"
    folder.mkdir()
    image = folder / "x.png"
    cv2.imwrite(str(image), np.zeros((64, 32), np.uint8))
    pts = np.tile([[1.0, 1.0], [9.0, 1.0], [1.0, 5.0], [9.0, 5.0]], (17, 1))
    path = write_coco([AnnotatedImage(image, 32, 64, "T1-L5", pts)], folder / "c.json")
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


COCO_CASES = {
    "width-abc": lambda d: d["images"][0].update(width="abc"),
    "height-1e400": lambda d: d["images"][0].update(height=float("inf")),
    "width-10**30": lambda d: d["images"][0].update(width=10**30),
    "list-ids": lambda d: (d["images"][0].update(id=[1]), d["annotations"][0].update(image_id=[1])),
    "category-id-dict": lambda d: d["annotations"][0].update(category_id={"a": 1}),
    "keypoint-1e300": lambda d: d["annotations"][0]["keypoints"].__setitem__(0, 1e300),
    "keypoints-not-a-list": lambda d: d["categories"][0].update(keypoints=5),
    "template-list": lambda d: (d["annotations"].clear(), d["images"][0].update(template=[1])),
    "angles-strings": lambda d: d["images"][0].update(cobb_angles="abc"),
}


@pytest.mark.parametrize("case", COCO_CASES)
def test_coco_fields_of_the_wrong_type_or_size_are_format_errors(tmp_path, case):
    with pytest.raises(FormatError) as exc:
        read_coco(_coco_file(tmp_path, COCO_CASES[case]))
    assert exc.value.message and exc.value.hint


def test_deeply_nested_json_is_a_format_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="too deeply"):
        read_coco(path)


def test_csv_field_over_the_csv_limit_is_a_format_error(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("image,template,vertebra,corner,x,y\n" + "a" * 200_000 + ",T1-L5,T1,TL,1,2\n")
    with pytest.raises(FormatError, match="line 2"):
        read_csv(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--synthetic", "2", "--lr", "nan"],
        ["train", "--synthetic", "2", "--alpha", "-1"],
        ["phantom", "--cobb", "inf", "/tmp/never-made"],
    ],
)
def test_impossible_numbers_on_the_command_line_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "is not a number in" in capsys.readouterr().err


def test_one_pixel_image_is_refused(tmp_path):
    path = tmp_path / "dot.png"
    cv2.imwrite(str(path), np.zeros((1, 1), np.uint8))
    with pytest.raises(ImageLoadError, match="too small to be an X-ray"):
        load_image(path)


def _palette(path, with_lut: bool):
    indices = np.arange(64 * 32, dtype=np.uint8).reshape(64, 32) % 4
    tags = {"PhotometricInterpretation": "PALETTE COLOR", "BitsStored": 8}
    if with_lut:
        red = np.array([0, 255, 0, 0], np.uint8)
        green = np.array([0, 0, 255, 0], np.uint8)
        blue = np.array([0, 0, 0, 255], np.uint8)
        for colour, table in (("Red", red), ("Green", green), ("Blue", blue)):
            tags[f"{colour}PaletteColorLookupTableDescriptor"] = [4, 0, 8]
            tags[f"{colour}PaletteColorLookupTableData"] = table.tobytes()
    return write_dicom(path, indices, **tags), indices


def test_palette_colour_dicom_without_a_table_is_refused(tmp_path):
    path, _ = _palette(tmp_path / "p.dcm", with_lut=False)
    with pytest.raises(ImageLoadError, match="PALETTE COLOR"):
        load_image(path)


def test_palette_colour_dicom_with_a_table_shows_the_colours(tmp_path):
    path, indices = _palette(tmp_path / "p.dcm", with_lut=True)
    image = load_image(path)
    luma = np.array([0.0, 0.299 * 255, 0.587 * 255, 0.114 * 255], np.float32)
    np.testing.assert_allclose(image.pixels, luma[indices], atol=1e-3)
