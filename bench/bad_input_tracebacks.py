"""Cases of group 4 of bad_inputs.py: the inputs the audit saw end in a traceback."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from bad_input_cases import Case, cli, dataset, handled, images_of, project, refused, spine

LATIN1 = os.fsdecode(b"caf\xe9")


def _labels(ds: Path) -> Path:
    return ds / "labels" / "training"


def traceback_cases() -> Iterator[Case]:
    from spinegui.core.formats import AnnotatedImage, read_aasce, read_coco, read_csv, write_coco
    from spinegui.core.imageio import load_image
    from spinegui.core.project_records import add_records
    from spinegui.core.store import Project

    def non_utf8_api(folder: Path):
        path = folder / f"{LATIN1}.png"
        cv2.imwrite(str(folder / "a.png"), np.zeros((256, 128), np.uint8))
        os.rename(folder / "a.png", path)
        image = load_image(path)
        with Project.create(folder / "p", "T1-L5") as p:
            return refused(
                lambda: p.add_image(
                    path, width=image.width, height=image.height, sha256=image.sha256
                )
            )

    def non_utf8_folder_window(folder: Path):
        from spinegui.gui.importing import add_image_files, image_files_in

        ds = dataset(folder)
        odd = folder / LATIN1
        shutil.copytree(ds / "data" / "training", odd)
        cv2.imwrite(str(folder / "z.png"), np.full((256, 128), 9, np.uint8))
        shutil.move(folder / "z.png", odd / "z.png")
        with Project.create(folder / "p", "T1-L5") as p:
            report = add_image_files(p, image_files_in(odd))
        return (len(report.failed) == 4, f"{len(report.failed)} of 4 files reported")

    def non_utf8_aasce(folder: Path):
        ds = dataset(folder)
        _ok, jpeg = cv2.imencode(".jpg", np.full((256, 128), 77, np.uint8))
        (ds / "data" / "training" / f"{LATIN1}.jpg").write_bytes(jpeg.tobytes())
        ok, note = cli(
            ["import-aasce", ds, folder / "p"], rc=(0,), check=lambda o, e: "not valid UTF-8" in o
        )
        with Project.open(folder / "p") as p:
            return ok and len(p.images()) == 3, note

    def mat(content):
        def run(folder: Path):
            ds = dataset(folder)
            target = sorted(_labels(ds).glob("*.mat"))[0]
            (_labels(ds) / "landmarks.csv").write_text("")
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                scipy.io.savemat(target, {"p2": content})
            return handled(
                lambda: read_aasce(ds),
                lambda d: len(d.records) == 3 and d.findings("missing_label"),
            )

        return run

    def filenames_latin1(folder: Path):
        ds = dataset(folder)
        names = _labels(ds) / "filenames.csv"
        names.write_bytes(names.read_bytes() + b"caf\xe9.jpg\r\n")
        return handled(lambda: read_aasce(ds), lambda d: len(d.records) == 3)

    def nan_label(folder: Path):
        ds = dataset(folder)
        target = sorted(_labels(ds).glob("*.mat"))[0]
        p2 = scipy.io.loadmat(target)["p2"].astype(float)
        p2[3, 0] = np.nan
        scipy.io.savemat(target, {"p2": p2})
        (_labels(ds) / "landmarks.csv").write_text("")
        return cli(
            ["import-aasce", ds, folder / "p"],
            rc=(0,),
            check=lambda o, e: target.name in o and "Added 3" in o,
        )

    def coco(change):
        def run(folder: Path):
            ds = dataset(folder)
            rec = AnnotatedImage(images_of(ds)[0], 128, 256, "T1-L5", spine())
            path = write_coco([rec], ds / "c.json")
            doc = json.loads(path.read_text())
            change(doc)
            path.write_text(json.dumps(doc))
            return refused(lambda: read_coco(path))

        return run

    def nested(folder: Path):
        (folder / "n.json").write_text("[" * 100_000 + "]" * 100_000)
        return refused(lambda: read_coco(folder / "n.json"))

    def big_csv_field(folder: Path):
        path = folder / "b.csv"
        path.write_text(
            "image,template,vertebra,corner,x,y\n" + "a" * 200_000 + ",T1-L5,T1,TL,1,2\n"
        )
        return refused(lambda: read_csv(path))

    def export_to(where):
        def run(folder: Path):
            _ds, proj = project(folder)
            target = {"missing folder": folder / "no" / "x.csv", "a folder": folder}[where]
            return cli(["export", proj, "--format", "csv", target])

        return run

    def measure_dir(folder: Path):
        _ds, proj = project(folder)
        return cli(["measure", proj, "--out", folder])

    def coords_1e300(folder: Path):
        _ds, proj = project(folder)
        with Project.open(proj) as p:
            pts = p.ground_truth(1)
            pts[0, 0, 0] = 1e300
            return refused(lambda: p.set_ground_truth(1, pts))

    def tiny_image(size):
        def run(folder: Path):
            path = folder / "tiny.png"
            cv2.imwrite(str(path), np.zeros(size, np.uint8))
            return refused(lambda: load_image(path))

        return run

    def palette(with_lut):
        def run(folder: Path):
            from tests.core.test_bad_inputs import _palette

            path, _indices = _palette(folder / "p.dcm", with_lut)
            if with_lut:
                return handled(lambda: load_image(path), lambda im: im.pixels.max() > 3)
            return refused(lambda: load_image(path))

        return run

    def csv_formula(folder: Path):
        from spinegui.core.formats import write_csv

        evil = folder / "=HYPERLINK(1).png"
        cv2.imwrite(str(evil), np.zeros((256, 128), np.uint8))
        out = write_csv([AnnotatedImage(evil, 128, 256, "T1-L5", spine())], folder / "l.csv")
        cells = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
        return all(c.startswith("'=") for c in cells), f"first cell {cells[0]!r}"

    def template_of(rec_template):
        def run(folder: Path):
            ds = dataset(folder)
            recs = [AnnotatedImage(p, 128, 256, rec_template, None) for p in images_of(ds)]
            with Project.create(folder / "p", "C7-L5") as p:
                return refused(lambda: add_records(p, recs))

        return run

    yield Case("4", "api", "non-UTF-8 file name into a project", non_utf8_api)

    def relocate_non_utf8(folder: Path):
        ds, proj = project(folder)
        odd = folder / f"{LATIN1}.png"
        shutil.copy(images_of(ds)[0], odd)
        with Project.open(proj) as p:
            return refused(lambda: p.relocate(1, odd))

    yield Case("4", "store", "relocate an image to a non-UTF-8 name", relocate_non_utf8)
    yield Case("4", "window", "Add folder with a non-UTF-8 folder name", non_utf8_folder_window)
    yield Case("4", "cli", "import-aasce with a non-UTF-8 image name", non_utf8_aasce)
    mats = {
        "empty .mat": b"",
        "truncated .mat": b"MATLAB 5.0 MAT-file",
        "cell of strings": np.array([["a", "b"]] * 68, dtype=object),
        "char array": np.array(["ab"] * 68),
        "67 rows": np.zeros((67, 2)),
        "1e300 values": np.full((68, 2), 1e300),
    }
    for name, content in mats.items():
        yield Case("4", "api", f"AASCE {name}", mat(content))
    yield Case("4", "api", "AASCE non-UTF-8 filenames.csv", filenames_latin1)

    def mat_crashing_scipy(folder: Path):
        import subprocess
        import sys

        from tests.core.test_matfile import CRASHES_SCIPY

        ds = dataset(folder)
        sorted(_labels(ds).glob("*.mat"))[0].write_bytes(CRASHES_SCIPY)
        (_labels(ds) / "landmarks.csv").write_text("")
        code = "import sys\nfrom spinegui.core.formats import read_aasce\n"
        code += "print(len(read_aasce(sys.argv[1]).findings('missing_label')))"
        done = subprocess.run([sys.executable, "-c", code, str(ds)], capture_output=True, text=True)
        if done.returncode != 0:
            return False, f"the import process died (exit {done.returncode})"
        return done.stdout.strip() == "1", f"{done.stdout.strip()} label reported missing"

    yield Case("4", "api", "AASCE .mat that crashes scipy's reader", mat_crashing_scipy)
    yield Case("4", "cli", "AASCE NaN label", nan_label)
    coco_changes = {
        "width 'abc'": lambda d: d["images"][0].update(width="abc"),
        "height 1e400": lambda d: d["images"][0].update(height=float("inf")),
        "width 10**30": lambda d: d["images"][0].update(width=10**30),
        "ids as lists": lambda d: (
            d["images"][0].update(id=[1]),
            d["annotations"][0].update(image_id=[1]),
        ),
        "category_id a dict": lambda d: d["annotations"][0].update(category_id={"a": 1}),
        "category name a list": lambda d: d["categories"][0].update(name=[1]),
        "keypoint 1e300": lambda d: d["annotations"][0]["keypoints"].__setitem__(0, 1e300),
        "keypoints a number": lambda d: d["annotations"][0].update(keypoints=5),
        "file_name a number": lambda d: d["images"][0].update(file_name=5),
        "cobb_angles 'abc'": lambda d: d["images"][0].update(cobb_angles="abc"),
    }
    for name, change in coco_changes.items():
        yield Case("4", "api", f"COCO {name}", coco(change))
    yield Case("4", "api", "COCO nested 100000 deep", nested)
    yield Case("4", "api", "CSV field over 131072 characters", big_csv_field)
    yield Case("4", "cli", "export into a missing folder", export_to("missing folder"))
    yield Case("4", "cli", "export onto a folder", export_to("a folder"))
    yield Case("4", "cli", "measure --out DIR", measure_dir)
    yield Case(
        "4",
        "cli",
        "phantom /dev/null/x",
        lambda f: cli(["phantom", "--count", "1", "--size", "64x32", "/dev/null/x"]),
    )
    for arg, value in (("--lr", "nan"), ("--lr", "-1"), ("--alpha", "inf"), ("--beta1", "1")):
        yield Case(
            "4",
            "cli",
            f"train {arg} {value}",
            lambda f, a=arg, v=value: cli(["train", "--synthetic", "2", a, v]),
        )
    yield Case(
        "4", "cli", "phantom --cobb nan", lambda f: cli(["phantom", "--cobb", "nan", f / "x"])
    )
    yield Case("4", "store", "coordinates of 1e300", coords_1e300)
    for size in ((1, 1), (8, 300), (300, 4)):
        yield Case("4", "api", f"{size[1]} x {size[0]} image", tiny_image(size))
    yield Case("4", "api", "PALETTE COLOR DICOM without a LUT", palette(False))
    yield Case("4", "api", "PALETTE COLOR DICOM with a LUT", palette(True))
    yield Case("4", "api", "CSV export of a name starting with =", csv_formula)
    yield Case("4", "api", "T1-L5 images without landmarks into C7-L5", template_of("T1-L5"))
