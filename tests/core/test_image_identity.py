"""Image identity everywhere: replaced or missing X-rays are skipped and named, not used
with another image's landmarks; importers keep to their dataset folder and sizes."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from spinegui.cli import main
from spinegui.core.errors import FormatError, StoreError, TemplateError
from spinegui.core.formats import AnnotatedImage, read_coco, read_csv, write_coco, write_csv
from spinegui.core.imageio import file_sha256
from spinegui.core.project_records import add_records, checked_records
from spinegui.core.store import Project
from spinegui.core.templates import get_template

W, H = 100, 600


def spine(template="T1-L5") -> np.ndarray:
    n = get_template(template).n_vertebrae
    return np.array(
        [
            [[20, 30 * v + 5], [80, 30 * v + 5], [20, 30 * v + 25], [80, 30 * v + 25]]
            for v in range(n)
        ],
        float,
    )


def xray(path, value=0, size=(H, W)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(size, value, np.uint8))
    return path


@pytest.fixture
def project(tmp_path):
    images = [xray(tmp_path / "img" / f"{n}.png", v) for n, v in (("a", 10), ("b", 20), ("c", 30))]
    p = Project.create(tmp_path / "proj", "T1-L5")
    add_records(p, [AnnotatedImage(i, W, H, "T1-L5", spine()) for i in images])
    yield p
    p.close()


def _replace_keeping_size(path, value):
    cv2.imwrite(str(path), np.full((H, W), value, np.uint8))


def test_checked_records_skip_replaced_and_missing_files(project):
    a, b, c = (img.path for img in project.images())
    _replace_keeping_size(a, 99)
    b.unlink()
    records, problems = checked_records(project)
    assert [r.image for r in records] == [c]
    assert {(p.kind, p.path) for p in problems} == {("changed", a), ("missing", b)}


def test_fast_check_hashes_only_files_whose_size_or_time_changed(project):
    hashed = []

    def counting(path):
        hashed.append(path.name)
        return file_sha256(path)

    assert project.check_files(hasher=counting) == []
    assert hashed == []  # sizes and times recorded when added: nothing to read
    a = project.images()[0].path
    os.utime(a, ns=(0, 10**18))  # touched, same bytes
    assert project.check_files(hasher=counting) == []
    assert hashed == ["a.png"]
    assert project.check_files(hasher=counting) == []  # the new time was remembered
    assert hashed == ["a.png"]
    assert len(project.check_files(hasher=counting, full=True)) == 0
    assert sorted(hashed[1:]) == ["a.png", "b.png", "c.png"]


def test_export_skips_a_replaced_xray_and_says_so(project, tmp_path, capsys):
    a = project.images()[0].path
    _replace_keeping_size(a, 99)
    folder = project.folder
    project.close()
    out = tmp_path / "out.json"
    assert main(["export", str(folder), "--format", "coco", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "a.png no longer has the content that was annotated" in printed
    names = [r.image.name for r in read_coco(out, allow_outside=True)]
    assert names == ["b.png", "c.png"]


def test_a_prediction_for_a_replaced_file_is_refused(project):
    project.add_model("m1", "m1.safetensors")
    img = project.images()[0]
    with pytest.raises(StoreError, match="changed on disk"):
        project.set_prediction(img.id, "m1", spine(), image_sha256="0" * 64)
    assert project.prediction(img.id, "m1") is None
    project.set_prediction(img.id, "m1", spine(), image_sha256=img.sha256)
    assert project.prediction(img.id, "m1") is not None


def test_training_data_leaves_out_a_replaced_xray(project):
    pytest.importorskip("torch")
    from spinegui.ml.data import project_dataset

    for img in project.images():
        project.set_status(img.id, "reviewed")
    _replace_keeping_size(project.images()[0].path, 99)
    data = project_dataset(project.folder, "tiny")
    assert len(data) == 2
    assert any("a.png: changed on disk" in n for n in data.notes)


def test_a_dataset_of_another_template_is_refused_whole(project, tmp_path):
    other = xray(tmp_path / "c7" / "x.png", 5)
    before = len(project.images())
    with pytest.raises(TemplateError) as exc:
        add_records(project, [AnnotatedImage(other, W, H, "C7-L5", spine("C7-L5"))])
    assert "C7-L5" in exc.value.message and "T1-L5" in exc.value.message
    assert len(project.images()) == before


def test_import_aasce_into_a_c7_project_is_refused(tmp_path, capsys):
    dataset = tmp_path / "ds"
    argv = ["phantom", "--template", "T1-L5", "--count", "1", "--size", "256x128"]
    assert main([*argv, "--format", "aasce", str(dataset)]) == 0
    Project.create(tmp_path / "c7", "C7-L5").close()
    assert main(["import-aasce", str(dataset), str(tmp_path / "c7")]) == 2
    assert "wrong vertebra" in capsys.readouterr().err
    with Project.open(tmp_path / "c7") as p:
        assert p.images() == []


def _coco(tmp_path, file_name, width=W, height=H):
    folder = tmp_path / "dataset"
    xray(folder / "in.png")
    rec = AnnotatedImage(folder / "in.png", W, H, "T1-L5", spine())
    path = write_coco([rec], folder / "c.json", overwrite=True)
    doc = json.loads(path.read_text())
    doc["images"][0].update(file_name=file_name, width=width, height=height)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.png", "sub/../../outside.png"])
def test_coco_names_outside_the_dataset_are_refused(tmp_path, name):
    xray(tmp_path / "outside.png")
    with pytest.raises(FormatError, match="outside the dataset folder"):
        read_coco(_coco(tmp_path, name))


def test_coco_outside_names_when_allowed_must_still_be_images(tmp_path):
    xray(tmp_path / "outside.png")
    (rec,) = read_coco(_coco(tmp_path, "../outside.png"), allow_outside=True)
    assert rec.image == tmp_path / "outside.png"
    with pytest.raises(FormatError, match="not an image"):
        read_coco(_coco(tmp_path, "/etc/passwd"), allow_outside=True)


def test_coco_size_must_match_the_file(tmp_path):
    with pytest.raises(FormatError, match="is 100 x 600"):
        read_coco(_coco(tmp_path, "in.png", width=512, height=1024))


def test_csv_names_outside_its_folder_are_refused(tmp_path):
    outside = xray(tmp_path / "outside.png")
    (tmp_path / "ds").mkdir()
    path = write_csv([AnnotatedImage(outside, W, H, "T1-L5", spine())], tmp_path / "ds" / "l.csv")
    with pytest.raises(FormatError, match="outside the dataset folder"):
        read_csv(path)
    assert read_csv(path, allow_outside=True)[0].image == outside
