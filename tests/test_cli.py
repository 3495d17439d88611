"""The command line as a user drives it: real files in, real files out."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from spinegui import __version__
from spinegui.cli import COMMANDS, build_parser, main
from spinegui.core.cobb import cobb_angles
from spinegui.core.formats import read_aasce, read_coco, read_csv
from spinegui.core.store import Project


def test_version_via_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "spinegui", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"spinegui {__version__}"


@pytest.mark.parametrize("command", [c.replace("_", "-") for c in COMMANDS])
def test_every_command_has_help(command, capsys):
    subparsers = build_parser()._subparsers._group_actions[0].choices
    if command not in subparsers:
        pytest.skip(f"{command} is not built yet")
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: spinegui" in capsys.readouterr().out


@pytest.fixture
def phantom_dataset(tmp_path):
    out = tmp_path / "aasce_like"
    assert (
        main(
            [
                "phantom",
                "--template",
                "T1-L5",
                "--count",
                "3",
                "--seed",
                "5",
                "--size",
                "256x128",
                "--format",
                "aasce",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_phantom_coco_and_csv_hold_every_image(tmp_path):
    assert main(["phantom", "--count", "2", "--size", "128x64", str(tmp_path / "c")]) == 0
    records = read_coco(tmp_path / "c" / "annotations.json")
    assert [r.landmarks.shape for r in records] == [(18, 4, 2)] * 2
    assert all(r.image.exists() for r in records)
    assert (
        main(
            ["phantom", "--count", "2", "--size", "128x64", "--format", "csv", str(tmp_path / "v")]
        )
        == 0
    )
    assert len(read_csv(tmp_path / "v" / "landmarks.csv")) == 2


def test_phantom_is_deterministic_by_seed(tmp_path):
    for name in ("a", "b"):
        main(["phantom", "--count", "1", "--seed", "3", "--size", "128x64", str(tmp_path / name)])
    a = read_coco(tmp_path / "a" / "annotations.json")[0].landmarks
    b = read_coco(tmp_path / "b" / "annotations.json")[0].landmarks
    np.testing.assert_array_equal(a, b)


def test_phantom_refuses_aasce_layout_for_c7(tmp_path, capsys):
    assert main(["phantom", "--format", "aasce", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "T1-L5" in err and "Traceback" not in err


def test_import_measure_export_round_trip(phantom_dataset, tmp_path, capsys):
    project_dir = tmp_path / "project"
    assert main(["import-aasce", str(phantom_dataset), str(project_dir)]) == 0
    assert "Added 3 images" in capsys.readouterr().out
    with Project.open(project_dir) as project:
        images = project.images()
        truth = {img.path.name: project.ground_truth(img.id) for img in images}
    assert len(images) == 3

    # Importing again adds nothing and says why.
    assert main(["import-aasce", str(phantom_dataset), str(project_dir)]) == 0
    assert capsys.readouterr().out.count("already in the project") == 3

    cobb_csv = tmp_path / "cobb.csv"
    assert main(["measure", str(project_dir), "--out", str(cobb_csv)]) == 0
    rows = list(csv.DictReader(cobb_csv.open()))
    assert len(rows) == 3
    for row in rows:
        name = row["image"].rsplit("/", 1)[-1]
        expected = cobb_angles(truth[name], image_height=256).angles
        assert [float(row[k]) for k in ("cobb_pt", "cobb_mt", "cobb_tl")] == pytest.approx(
            expected, abs=0.006
        )

    assert main(["export", str(project_dir), "--format", "coco", str(tmp_path / "e.json")]) == 0
    for rec in read_coco(tmp_path / "e.json"):
        np.testing.assert_allclose(rec.landmarks, truth[rec.name])
    assert main(["export", str(project_dir), "--format", "aasce", str(tmp_path / "ea")]) == 0
    back = read_aasce(tmp_path / "ea")
    assert len(back.records) == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["measure", "/nonexistent/project"],
        ["export", "/nonexistent/project", "--format", "csv", "out.csv"],
        ["import-aasce", "/nonexistent/data", "/tmp/never-made"],
        ["phantom", "--size", "big", "/tmp/never-made"],
    ],
)
def test_user_errors_are_messages_not_tracebacks(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("spinegui: error:")
    assert "Traceback" not in err
