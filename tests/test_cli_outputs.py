"""Commands never overwrite the user's files: exports, measure, phantom and predict."""

from __future__ import annotations

import csv
import errno
import os

import cv2
import numpy as np
import pytest

from spinegui.cli import main
from spinegui.core.formats import read_csv


def _phantom(out, *extra) -> None:
    argv = ["phantom", "--template", "T1-L5", "--count", "2", "--seed", "5", "--size", "256x128"]
    assert main([*argv, *extra, str(out)]) == 0


@pytest.fixture
def dataset_and_project(tmp_path):
    """An AASCE-layout dataset and a project imported from it (images stay in the dataset)."""
    dataset, project = tmp_path / "dataset", tmp_path / "project"
    _phantom(dataset, "--format", "aasce")
    assert main(["import-aasce", str(dataset), str(project)]) == 0
    return dataset, project


def _refused(capsys, *words):
    err = capsys.readouterr().err
    assert "spinegui: error:" in err and "Traceback" not in err
    for word in words:
        assert word in err
    return err


def test_aasce_export_keeps_a_different_image_of_the_same_name(
    dataset_and_project, tmp_path, capsys
):
    dataset, project = dataset_and_project
    out = tmp_path / "out"
    name = sorted((dataset / "data" / "training").iterdir())[0].name
    theirs = out / "data" / "training" / name
    theirs.parent.mkdir(parents=True)
    cv2.imwrite(str(theirs), np.full((8, 8), 7, np.uint8))
    before = theirs.read_bytes()
    assert main(["export", str(project), "--format", "aasce", str(out)]) == 2
    _refused(capsys, name, "--overwrite")
    assert theirs.read_bytes() == before
    assert not (out / "labels").exists()
    assert main(["export", str(project), "--format", "aasce", "--overwrite", str(out)]) == 0
    assert theirs.read_bytes() == (dataset / "data" / "training" / name).read_bytes()


def test_export_never_writes_into_the_source_dataset(dataset_and_project, capsys):
    dataset, project = dataset_and_project
    angles = dataset / "labels" / "training" / "angles.csv"
    before = angles.read_bytes()
    for fmt, out in (("aasce", dataset), ("csv", dataset / "data" / "training" / "x.csv")):
        assert main(["export", str(project), "--format", fmt, "--overwrite", str(out)]) == 2
        _refused(capsys, "being read")
    assert angles.read_bytes() == before


def test_csv_export_does_not_replace_an_xray(dataset_and_project, tmp_path, capsys):
    _dataset, project = dataset_and_project
    xray = tmp_path / "keep.png"
    cv2.imwrite(str(xray), np.zeros((8, 8), np.uint8))
    before = xray.read_bytes()
    assert main(["export", str(project), "--format", "csv", str(xray)]) == 2
    _refused(capsys, "already exist")
    assert xray.read_bytes() == before


@pytest.mark.parametrize("out", ["missing/x.csv", "."])
def test_export_into_a_missing_folder_or_onto_a_folder_is_a_message(
    dataset_and_project, tmp_path, capsys, out
):
    _dataset, project = dataset_and_project
    assert main(["export", str(project), "--format", "csv", str(tmp_path / out)]) == 2
    _refused(capsys, "folder")


def test_full_disk_during_export_is_a_message_and_leaves_nothing(
    dataset_and_project, tmp_path, capsys, monkeypatch
):
    _dataset, project = dataset_and_project
    out = tmp_path / "exports"
    out.mkdir()

    def full(*_a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    for fmt, target in (("csv", out / "a.csv"), ("coco", out / "a.json"), ("aasce", out / "ds")):
        assert main(["export", str(project), "--format", fmt, str(target)]) == 2
        _refused(capsys, "disk is full")
    assert os.listdir(out) == []


def test_measure_keeps_an_existing_csv_and_refuses_a_folder(dataset_and_project, tmp_path, capsys):
    _dataset, project = dataset_and_project
    mine = tmp_path / "cobb.csv"
    mine.write_text("my notes")
    assert main(["measure", str(project), "--out", str(mine)]) == 2
    _refused(capsys, "--overwrite")
    assert mine.read_text() == "my notes"
    assert main(["measure", str(project), "--out", str(tmp_path)]) == 2
    _refused(capsys, "folder")
    assert main(["measure", str(project), "--out", str(mine), "--overwrite"]) == 0
    assert len(list(csv.DictReader(mine.open()))) == 2


def test_phantom_into_an_impossible_folder_is_a_message(capsys):
    assert main(["phantom", "--count", "1", "--size", "64x32", "/dev/null/x"]) == 2
    _refused(capsys)


def test_phantom_keeps_existing_files(tmp_path, capsys):
    _phantom(tmp_path / "p", "--format", "csv")
    landmarks = tmp_path / "p" / "landmarks.csv"
    landmarks.write_text("edited by hand")
    assert main(["phantom", "--template", "T1-L5", "--count", "2", "--seed", "5", "--size",
                 "256x128", "--format", "csv", str(tmp_path / "p")]) == 2  # fmt: skip
    _refused(capsys, "landmarks.csv")
    assert landmarks.read_text() == "edited by hand"


def test_csv_export_escapes_formula_names_and_reads_them_back(tmp_path):
    from spinegui.core.formats import AnnotatedImage, write_csv
    from spinegui.core.templates import get_template

    evil = tmp_path / "=HYPERLINK(1).png"
    cv2.imwrite(str(evil), np.zeros((600, 300), np.uint8))
    t = get_template("T1-L5")
    pts = np.array([[[10, 30 * v], [20, 30 * v], [10, 30 * v + 20], [20, 30 * v + 20]]
                    for v in range(t.n_vertebrae)], float)  # fmt: skip
    out = tmp_path / "l.csv"
    write_csv([AnnotatedImage(evil, 300, 600, "T1-L5", pts)], out)
    cells = [row[0] for row in csv.reader(out.open())][1:]
    assert all(c.startswith("'=") for c in cells)
    assert read_csv(out)[0].image.name == evil.name


def test_predict_never_replaces_dataset_labels(tmp_path, capsys):
    dataset = tmp_path / "dataset"
    _phantom(dataset, "--format", "aasce")
    labels = dataset / "labels" / "training"
    before = {p.name: p.read_bytes() for p in labels.iterdir()}
    images = str(dataset / "data" / "training")
    argv = ["predict", images, "--format", "aasce", "--out", str(dataset), "--quiet"]
    assert main(argv) == 2
    _refused(capsys, "being read")
    assert main([*argv, "--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in labels.iterdir()} == before
    jsonl = tmp_path / "preds.jsonl"
    jsonl.write_text("keep")
    assert main(["predict", images, "--out", str(jsonl), "--quiet"]) == 2
    _refused(capsys, "--overwrite")
    assert jsonl.read_text() == "keep"
    assert main(["predict", images, "--out", str(jsonl), "--quiet", "--overwrite"]) == 0
    assert len(jsonl.read_text().splitlines()) == 2
