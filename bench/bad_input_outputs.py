"""Cases of groups 2 (outputs never overwrite) and 3 (image identity) of bad_inputs.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from bad_input_cases import (
    Case,
    cli,
    dataset,
    enospc,
    fill,
    full_disk,
    handled,
    images_of,
    patched,
    project,
    refused,
    spine,
)


def _xray(path: Path, value: int = 0, size=(256, 128)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(size, value, np.uint8))
    return path


def _no_stray_files(folder: Path) -> bool:
    return not any(p.name.startswith(".") and ".part" in p.name for p in folder.rglob("*"))


def output_cases() -> Iterator[Case]:
    def aasce_same_name(folder: Path):
        ds, proj = project(folder)
        theirs = _xray(folder / "out" / "data" / "training" / images_of(ds)[0].name, 7)
        return cli(["export", proj, "--format", "aasce", folder / "out"], intact=[theirs])

    def into_source(fmt, overwrite):
        def run(folder: Path):
            ds, proj = project(folder)
            out = ds if fmt == "aasce" else ds / "labels" / "training" / "x.csv"
            keep = list((ds / "labels" / "training").iterdir())
            return cli(["export", proj, "--format", fmt, *overwrite, out], intact=keep)

        return run

    def onto_xray(fmt):
        def run(folder: Path):
            _ds, proj = project(folder)
            xray = _xray(folder / "mine.png", 3)
            return cli(["export", proj, "--format", fmt, xray], intact=[xray])

        return run

    def predict_labels(fmt):
        def run(folder: Path):
            ds = dataset(folder)
            keep = list((ds / "labels" / "training").iterdir())
            out = ds if fmt == "aasce" else ds / "data" / "training" / "p.csv"
            argv = ["predict", ds / "data" / "training", "--format", fmt, "--out", out, "--quiet"]
            return cli([*argv, "--overwrite"], intact=keep)

        return run

    def predict_existing(folder: Path):
        ds = dataset(folder)
        mine = folder / "preds.jsonl"
        mine.write_text("my earlier run")
        return cli(["predict", ds / "data" / "training", "--out", mine, "--quiet"], intact=[mine])

    def measure_existing(folder: Path):
        _ds, proj = project(folder)
        mine = folder / "cobb.csv"
        mine.write_text("my notes")
        return cli(["measure", proj, "--out", mine], intact=[mine])

    def phantom_existing(folder: Path):
        out = folder / "ph"
        argv = ["phantom", "--count", "1", "--size", "64x32", "--format", "csv", out]
        cli(argv, rc=(0,))
        mine = out / "landmarks.csv"
        mine.write_text("edited")
        return cli(argv, intact=[mine])

    def disk_full_tmpfs(fmt):
        def run(folder: Path):
            _ds, proj = project(folder)
            with full_disk(folder) as mount:
                if mount is None:
                    return False, "could not mount a tmpfs (needs root)"
                (mount / "old.csv").write_text("old")
                fill(mount)
                target = mount / ("ds" if fmt == "aasce" else "old.csv")
                ok, note = cli(
                    ["export", proj, "--format", fmt, "--overwrite", target],
                    intact=[mount / "old.csv"],
                )
                clean = ok and _no_stray_files(mount) and not (mount / "ds").exists()
                return clean, note

        return run

    def disk_full_patched(fmt):
        def run(folder: Path):
            _ds, proj = project(folder)
            out = folder / "out"
            out.mkdir()
            with patched(os, "fsync", enospc):
                ok, note = cli(["export", proj, "--format", fmt, out / f"x.{fmt}"])
            return ok and list(out.iterdir()) == [], note

        return run

    def measure_full(folder: Path):
        _ds, proj = project(folder)
        with full_disk(folder) as mount:
            if mount is None:
                return False, "could not mount a tmpfs (needs root)"
            fill(mount)
            ok, note = cli(["measure", proj, "--out", mount / "c.csv"])
            return ok and not (mount / "c.csv").exists() and _no_stray_files(mount), note

    def png_report_full(folder: Path):
        from PySide6.QtWidgets import QApplication, QLabel

        from spinegui.gui.report import export_png

        app = QApplication.instance() or QApplication([])
        label = QLabel("x")
        label.resize(400, 400)
        with full_disk(folder, 64) as mount:
            if mount is None:
                return False, "could not mount a tmpfs (needs root)"
            old = mount / "view.png"
            old.write_bytes(b"old picture")
            fill(mount)
            result = refused(lambda: export_png(label, old), intact=[old])
            del app
            return result[0] and _no_stray_files(mount), result[1]

    yield Case("2", "cli", "export aasce over another image of the same name", aasce_same_name)
    for fmt in ("aasce", "csv"):
        for extra in ([], ["--overwrite"]):
            name = f"export {fmt} into the source dataset {' '.join(extra)}".strip()
            yield Case("2", "cli", name, into_source(fmt, extra))
    for fmt in ("csv", "coco"):
        yield Case("2", "cli", f"export {fmt} onto an existing X-ray", onto_xray(fmt))
    for fmt in ("aasce", "csv"):
        yield Case(
            "2", "cli", f"predict {fmt} into the dataset read (--overwrite)", predict_labels(fmt)
        )
    yield Case("2", "cli", "predict jsonl onto an existing file", predict_existing)
    yield Case("2", "cli", "measure onto an existing CSV", measure_existing)
    yield Case("2", "cli", "phantom into a folder it wrote before", phantom_existing)
    for fmt in ("csv", "coco", "aasce"):
        yield Case("2", "cli", f"export {fmt} onto a full disk (tmpfs)", disk_full_tmpfs(fmt))
        if fmt != "aasce":
            yield Case("2", "cli", f"export {fmt}, ENOSPC at fsync", disk_full_patched(fmt))
    yield Case("2", "cli", "measure onto a full disk (tmpfs)", measure_full)
    yield Case("2", "window", "save the view as PNG onto a full disk", png_report_full)

    def pdf_report_full(folder: Path):
        from PySide6.QtGui import QPixmap
        from PySide6.QtWidgets import QApplication

        from spinegui.gui.report import ReportInfo, export_pdf

        QApplication.instance() or QApplication([])
        info = ReportInfo("x.png", (100, 200), [], "ground truth", None, None, "reviewed", "p")
        picture = QPixmap(400, 800)
        picture.fill()
        with full_disk(folder, 64) as mount:
            if mount is None:
                return False, "could not mount a tmpfs (needs root)"
            old = mount / "report.pdf"
            old.write_bytes(b"%PDF old report %%EOF")
            fill(mount)
            result = refused(lambda: export_pdf(old, picture, info), intact=[old])
            return result[0] and _no_stray_files(mount), result[1]

    yield Case("2", "window", "save the PDF report onto a full disk", pdf_report_full)


def identity_cases() -> Iterator[Case]:
    from spinegui.core.formats import AnnotatedImage, read_coco, read_csv, write_coco, write_csv
    from spinegui.core.project_records import add_records
    from spinegui.core.store import Project

    def export_skips(fmt, what):
        def run(folder: Path):
            ds, proj = project(folder)
            victim = images_of(ds)[0]
            if what == "missing":
                victim.unlink()
            else:
                _ok, jpeg = cv2.imencode(".jpg", np.full((256, 128), 200, np.uint8))
                victim.write_bytes(jpeg.tobytes())
            out = folder / ("out" if fmt == "aasce" else f"out.{fmt}")
            ok, note = cli(
                ["export", proj, "--format", fmt, out], rc=(1,), check=lambda o, e: victim.name in o
            )
            text = "".join(
                p.read_text(errors="replace")
                for p in ([out] if out.is_file() else out.rglob("*.csv"))
            )
            return ok and victim.name not in text, note

        return run

    def training_skips(folder: Path):
        ds, proj = project(folder)
        with Project.open(proj) as p:
            for img in p.images():
                p.set_status(img.id, "reviewed")
        victim = images_of(ds)[0]
        _ok, jpeg = cv2.imencode(".jpg", np.full((256, 128), 200, np.uint8))
        victim.write_bytes(jpeg.tobytes())
        from spinegui.ml.data import project_dataset

        return handled(
            lambda: project_dataset(proj, "tiny"),
            lambda d: len(d) == 2 and any(victim.name in n for n in d.notes),
        )

    def prediction_refused(folder: Path):
        _ds, proj = project(folder)
        with Project.open(proj) as p:
            p.add_model("m", "m.safetensors")
            return refused(lambda: p.set_prediction(1, "m", spine(), image_sha256="0" * 64))

    def coco(name, size=(128, 256), allow=False):
        def run(folder: Path):
            ds = dataset(folder)
            rec = AnnotatedImage(images_of(ds)[0], 128, 256, "T1-L5", spine())
            path = write_coco([rec], ds / "c.json")
            doc = json.loads(path.read_text())
            entry = doc["images"][0]
            entry.update(file_name=name or entry["file_name"], width=size[0], height=size[1])
            path.write_text(json.dumps(doc))
            return refused(lambda: read_coco(path, allow_outside=allow))

        return run

    def csv_outside(name):
        def run(folder: Path):
            ds = dataset(folder)
            outside = _xray(folder / "outside.png")
            path = write_csv([AnnotatedImage(outside, 128, 256, "T1-L5", spine())], ds / "l.csv")
            text = path.read_text().replace("../outside.png", name)
            path.write_text(text)
            return refused(lambda: read_csv(path))

        return run

    def template_mismatch(folder: Path):
        ds = dataset(folder)
        from spinegui.core.formats import read_aasce

        with Project.create(folder / "c7", "C7-L5") as p:
            return refused(lambda: add_records(p, read_aasce(ds).records))

    def import_into_c7(folder: Path):
        ds = dataset(folder)
        Project.create(folder / "c7", "C7-L5").close()
        ok, note = cli(["import-aasce", ds, folder / "c7"])
        with Project.open(folder / "c7") as p:
            return ok and p.images() == [], note

    for fmt in ("coco", "csv", "aasce"):
        for what in ("replaced", "missing"):
            yield Case(
                "3", "cli", f"export {fmt} with an X-ray {what} on disk", export_skips(fmt, what)
            )
    yield Case("3", "api", "training data with a replaced X-ray", training_skips)
    yield Case("3", "store", "storing a prediction made on a replaced file", prediction_refused)
    yield Case("3", "api", "COCO file_name /etc/passwd", coco("/etc/passwd"))
    yield Case("3", "api", "COCO /etc/passwd, outside allowed", coco("/etc/passwd", allow=True))
    yield Case("3", "api", "COCO file_name ../../x.png", coco("../../x.png"))
    yield Case("3", "api", "COCO width/height not the file's", coco(None, (512, 1024)))
    yield Case("3", "api", "CSV image ../outside.png kept outside", csv_outside("../outside.png"))
    yield Case("3", "api", "CSV image /etc/hostname", csv_outside("/etc/hostname"))
    yield Case("3", "api", "T1-L5 records into a C7-L5 project", template_mismatch)
    yield Case("3", "cli", "import-aasce into a C7-L5 project", import_into_c7)
