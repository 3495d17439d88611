"""The cases of ``bench/bad_inputs.py``, one function per group (see bad_input_cases.py)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from bad_input_cases import (
    Case,
    cli,
    dataset,
    handled,
    images_of,
    project,
    refused,
    spine,
)

LATIN1 = os.fsdecode(b"caf\xe9")


# ------------------------------------------------------------------- A: images etc.


def _image_seed(fmt: str) -> bytes:
    from spinegui.core.phantom import generate_batch

    pixels = next(iter(generate_batch("C7-L5", 1, 0, size=(128, 64)))).image
    if fmt == "dcm":
        import tempfile

        from tests.core.test_imageio import write_dicom

        with tempfile.TemporaryDirectory() as d:
            stored = (pixels * 4095).astype(np.uint16)
            return write_dicom(Path(d) / "a.dcm", stored, PixelSpacing=[0.2, 0.2]).read_bytes()
    depth = np.uint16 if fmt in ("png16", "tif16") else np.uint8
    stored = (pixels * np.iinfo(depth).max).astype(depth)
    ok, buf = cv2.imencode("." + fmt.rstrip("16").replace("tif", "tiff"), stored)
    assert ok
    return buf.tobytes()


FORMATS = {
    "png": ".png",
    "png16": ".png",
    "jpg": ".jpg",
    "bmp": ".bmp",
    "tif": ".tif",
    "tif16": ".tif",
    "dcm": ".dcm",
}


def _flip_header(data: bytes) -> bytes:
    out = bytearray(data)
    start = 132 if data[128:132] == b"DICM" else 4  # past DICOM's empty preamble
    for i in range(start, min(start + 60, len(out)), 5):
        out[i] ^= 0xFF
    return bytes(out)


def _damage(data: bytes, how: str) -> bytes:
    n = len(data)
    if how == "header bytes flipped":
        return _flip_header(data)
    if how == "middle overwritten":
        return data[: n // 3] + b"\xff" * (n // 3) + data[2 * n // 3 :]
    return {
        "empty": b"",
        "first 8 bytes": data[:8],
        "cut in header": data[: min(40, n // 4)],
        "cut at half": data[: n // 2],
        "last byte missing": data[:-1],
        "garbage after 16 bytes": data[:16] + os.urandom(2000),
        "random bytes": bytes(range(256)) * 8,
    }[how]


def _load_case(fmt: str, how: str):
    from spinegui.core.imageio import load_image

    def run(folder: Path):
        path = folder / f"x{FORMATS[fmt]}"
        path.write_bytes(_damage(_image_seed(fmt), how))
        if how == "middle overwritten" or (
            how == "last byte missing" and fmt in ("png", "png16", "bmp", "tif", "tif16", "dcm")
        ):
            # a lost trailer byte may leave every pixel intact; then loading is right
            return handled(lambda: load_image(path), lambda im: im.width == 64)
        return refused(lambda: load_image(path))

    return run


def _bomb(fmt: str):
    from spinegui.core.imageio import load_image

    def run(folder: Path):
        data = bytearray(_image_seed(fmt))
        path = folder / f"bomb{FORMATS[fmt]}"
        if fmt.startswith("png"):
            data[16:24] = struct.pack(">II", 60000, 60000)
        elif fmt == "bmp":
            data[18:26] = struct.pack("<ii", 60000, 60000)
        path.write_bytes(bytes(data))
        return refused(lambda: load_image(path))

    return run


def cases_already_clean() -> Iterator[Case]:
    from spinegui.core.imageio import load_image

    hows = [
        "header bytes flipped",
        "middle overwritten",
        "empty",
        "first 8 bytes",
        "cut in header",
        "cut at half",
        "last byte missing",
        "garbage after 16 bytes",
        "random bytes",
    ]
    for fmt in FORMATS:
        for how in hows:
            yield Case("A", "api", f"load_image {fmt}: {how}", _load_case(fmt, how))
    for fmt in ("png", "png16", "bmp"):
        yield Case("A", "api", f"load_image {fmt} announcing 60000 x 60000", _bomb(fmt))
    yield Case(
        "A", "api", "load_image missing file", lambda f: refused(lambda: load_image(f / "no.png"))
    )
    yield Case("A", "api", "load_image a folder", lambda f: refused(lambda: load_image(f)))
    yield Case(
        "A",
        "api",
        "load_image a text file .png",
        lambda f: ((f / "t.png").write_text("hello"), refused(lambda: load_image(f / "t.png")))[1],
    )
    yield from _model_cases()
    yield from _format_cases()
    yield from _store_cases()
    yield from _window_cases()
    yield from _cli_cases()


def _model_cases() -> Iterator[Case]:
    from spinegui.core.model_card import read_model_card

    def model(data: bytes):
        def run(folder: Path):
            path = folder / "m.safetensors"
            path.write_bytes(data)
            marker = folder / "pwned"
            return refused(lambda: read_model_card(path), intact=[marker])

        return run

    header = json.dumps(
        {
            "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "__metadata__": {
                "spinegui": json.dumps({"format": "spinegui-checkpoint", "format_version": 1})
            },
        }
    )
    good = struct.pack("<Q", len(header)) + header.encode() + b"\0" * 4
    cases = {
        "pickle (torch.save)": b"\x80\x04\x95" + b"cos\nsystem\n(S'touch pwned'\ntR.",
        "zip of pickles": b"PK\x03\x04" + b"\0" * 100,
        "empty": b"",
        "cut inside the header": good[:20],
        "cut inside the weights": good[:-2],
        "header length 2**63": struct.pack("<Q", 2**63) + b"{}",
        "header not JSON": struct.pack("<Q", 4) + b"\xff\xfe{}" + b"\0" * 4,
        "no spinegui metadata": struct.pack("<Q", 2) + b"{}",
        "newer model format": good.replace(b'"format_version\\": 1', b'"format_version\\": 9'),
        "offsets Infinity": struct.pack("<Q", 60)
        + b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1e999]}}'[:60],
    }
    for name, data in cases.items():
        yield Case("A", "api", f"model card: {name}", model(data))


def _format_cases() -> Iterator[Case]:
    from spinegui.core.formats import (
        AnnotatedImage,
        read_aasce,
        read_coco,
        read_csv,
        write_coco,
        write_csv,
    )

    def csv_case(edit):
        def run(folder: Path):
            ds = dataset(folder)
            rec = AnnotatedImage(images_of(ds)[0], 128, 256, "T1-L5", spine())
            path = write_csv([rec], ds / "data" / "l.csv")
            lines = path.read_text().splitlines()
            path.write_text("\n".join(edit(lines)) + "\n")
            return refused(lambda: read_csv(path))

        return run

    def cell(i, j, value):
        def edit(lines):
            row = lines[i].split(",")
            row[j] = value
            return [*lines[:i], ",".join(row), *lines[i + 1 :]]

        return edit

    csv_edits = {
        "wrong header": lambda ls: ["a,b,c", *ls[1:]],
        "a row of 5 fields": lambda ls: [*ls, "x.png,T1-L5,T1,TL,1"],
        "unknown template": cell(1, 1, "L9-S1"),
        "unknown vertebra": cell(1, 2, "C3"),
        "unknown corner": cell(1, 3, "MID"),
        "x not a number": cell(1, 4, "abc"),
        "y infinite": cell(1, 5, "inf"),
        "a landmark twice": lambda ls: [*ls, ls[1]],
        "landmarks missing": lambda ls: ls[:30],
        "image file missing": lambda ls: [ls[0]] + [x.replace(",", ".gone,", 1) for x in ls[1:]],
    }
    for name, edit in csv_edits.items():
        yield Case("A", "api", f"CSV {name}", csv_case(edit))

    def coco_case(change):
        def run(folder: Path):
            ds = dataset(folder)
            rec = AnnotatedImage(images_of(ds)[0], 128, 256, "T1-L5", spine())
            path = write_coco([rec], ds / "c.json")
            doc = json.loads(path.read_text())
            text = change(doc)
            path.write_text(text if isinstance(text, str) else json.dumps(doc))
            return refused(lambda: read_coco(path))

        return run

    coco_changes = {
        "not JSON": lambda d: "{not json",
        "a JSON list": lambda d: "[1, 2]",
        "no images": lambda d: d.pop("images"),
        "unknown category": lambda d: d["categories"][0].update(name="L9-S1"),
        "68 keypoints short": lambda d: d["annotations"][
            1 if len(d["annotations"]) > 1 else 0
        ].update(keypoints=[1.0] * 30),
        "a landmark unlabelled": lambda d: d["annotations"][0]["keypoints"].__setitem__(2, 0),
        "an orphan annotation": lambda d: d["annotations"][0].update(image_id=77),
        "two annotations for one image": lambda d: d["annotations"].append(d["annotations"][0]),
    }
    for name, change in coco_changes.items():
        yield Case("A", "api", f"COCO {name}", coco_case(change))

    def aasce_case(prepare, expect_findings: str | None = None):
        def run(folder: Path):
            ds = dataset(folder)
            prepare(ds)
            if expect_findings is None:
                return refused(lambda: read_aasce(ds))
            return handled(lambda: read_aasce(ds), lambda d: d.findings(expect_findings))

        return run

    def labels(ds: Path) -> Path:
        return ds / "labels" / "training"

    def write(name: str, text: str):
        return lambda ds: (labels(ds) / name).write_text(text)

    def no_mat(ds: Path) -> None:
        sorted(labels(ds).glob("*.mat"))[0].unlink()
        (labels(ds) / "landmarks.csv").write_text("")

    aasce = {
        "no data folder": (lambda ds: shutil.rmtree(ds / "data"), None),
        "no labels folder": (lambda ds: shutil.rmtree(ds / "labels"), None),
        "a short landmarks.csv row": (write("landmarks.csv", "1,2\n"), "csv_mismatch"),
        "a Cobb angle of 200": (write("angles.csv", "200,1,1\n1,1,1\n1,1,1\n"), "bad_angle"),
        "a listed image missing": (lambda ds: images_of(ds)[0].unlink(), "missing_image"),
        "a .mat missing": (no_mat, "missing_label"),
    }
    for name, (prepare, finding) in aasce.items():
        yield Case("A", "api", f"AASCE {name}", aasce_case(prepare, finding))


def _store_cases() -> Iterator[Case]:
    from spinegui.core.store import Project

    def open_case(prepare):
        def run(folder: Path):
            _ds, proj = project(folder)
            db = proj / "project.sqlite"
            prepare(db)
            return refused(lambda: Project.open(proj).images(), intact=[db])

        return run

    def truncate(db: Path):
        db.write_bytes(db.read_bytes()[: len(db.read_bytes()) // 2])

    def flip_pages(db: Path):
        data = bytearray(db.read_bytes())
        for i in range(4096, len(data), 97):
            data[i] ^= 0x5A
        db.write_bytes(bytes(data))

    def newer(db: Path):
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()

    def foreign(db: Path):
        db.unlink()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE x (a)")
        con.commit()
        con.close()

    for name, prepare in {
        "truncated to half": truncate,
        "pages damaged": flip_pages,
        "newer schema": newer,
        "someone else's SQLite file": foreign,
        "empty file": lambda db: db.write_bytes(b""),
        "garbage": lambda db: db.write_bytes(b"x" * 9000),
    }.items():
        yield Case("A", "store", f"open project: {name}", open_case(prepare))
    yield Case(
        "A", "store", "open a folder that is no project", lambda f: refused(lambda: Project.open(f))
    )
    yield Case(
        "A", "store", "open a missing folder", lambda f: refused(lambda: Project.open(f / "nope"))
    )

    def edit(call):
        def run(folder: Path):
            _ds, proj = project(folder)
            with Project.open(proj) as p:
                before = p.ground_truth(1).copy()
                result = refused(lambda: call(p))
                same = np.array_equal(p.ground_truth(1), before)
            return (result[0] and same), result[1] if same else "landmarks changed"

        return run

    edits = {
        "corner to NaN": lambda p: p.move_corner(1, 0, 0, (np.nan, 1)),
        "corner to 1e300": lambda p: p.move_corner(1, 0, 0, (1e300, 1)),
        "vertebra index 99": lambda p: p.move_corner(1, 99, 0, (1, 1)),
        "corner index 7": lambda p: p.move_corner(1, 0, 7, (1, 1)),
        "unknown image": lambda p: p.move_corner(999, 0, 0, (1, 1)),
        "landmarks of the wrong count": lambda p: p.set_ground_truth(1, np.zeros((3, 4, 2))),
        "landmarks as strings": lambda p: p.set_ground_truth(1, [["a"]] * 68),
        "status 'done'": lambda p: p.set_status(1, "done"),
        "image added twice": lambda p: p.add_image(
            p.images()[0].path, width=1, height=1, sha256=p.images()[0].sha256
        ),
        "split moved val -> train": lambda p: (
            p.assign_split([1], "val"),
            p.assign_split([1], "train"),
        ),
    }
    for name, call in edits.items():
        yield Case("A", "store", f"edit: {name}", edit(call))


def _window_cases() -> Iterator[Case]:
    """What the review window does with an image whose file went bad (its Qt-free model)."""

    def show(damage):
        def run(folder: Path):
            from spinegui.core.review import ReviewSession
            from spinegui.core.store import Project

            ds, proj = project(folder)
            damage(images_of(ds)[0])
            session = ReviewSession()
            session.open(Project.open(proj))
            try:
                session.show(1)
                ok = session.load_error is not None and bool(session.load_error.message)
                note = session.load_error.message if session.load_error else "shown as if fine"
            finally:
                session.close()
            return ok, note[:140]

        return run

    yield Case("A", "window", "show an X-ray whose file was deleted", show(lambda p: p.unlink()))
    yield Case("A", "window", "show an X-ray whose file is now text",
               show(lambda p: p.write_text("not an image")))  # fmt: skip


def _cli_cases() -> Iterator[Case]:
    argvs = {
        "measure a missing project": ["measure", "/nonexistent/p"],
        "export a missing project": ["export", "/nonexistent/p", "--format", "csv", "o.csv"],
        "import a missing dataset": ["import-aasce", "/nonexistent/d", "/tmp/never"],
        "phantom --size big": ["phantom", "--size", "big", "/tmp/never"],
        "phantom --count 0": ["phantom", "--count", "0", "/tmp/never"],
        "phantom --template L9": ["phantom", "--template", "L9", "/tmp/never"],
        "export --format pdf": ["export", "/tmp", "--format", "pdf", "o"],
        "predict a missing model": ["predict", "--model", "/nonexistent.safetensors", "x.png"],
        "evaluate a missing model": ["evaluate", "--model", "/nonexistent.safetensors", "/tmp"],
        "train without data": ["train"],
    }
    for name, argv in argvs.items():
        yield Case("A", "cli", name, lambda f, a=argv: cli(a))
    yield Case(
        "A",
        "cli",
        "predict only missing files",
        lambda f: cli(["predict", f / "nope.png", "--quiet"], rc=(1, 2)),
    )


# ------------------------------------------------------------------- 1: two writers


def cases_two_writers() -> Iterator[Case]:
    from bad_input_writers import two_writer_cases

    yield from two_writer_cases()


# ---------------------------------------------------------------------- 2: outputs


def cases_outputs() -> Iterator[Case]:
    from bad_input_outputs import output_cases

    yield from output_cases()


# --------------------------------------------------------------------- 3: identity


def cases_identity() -> Iterator[Case]:
    from bad_input_outputs import identity_cases

    yield from identity_cases()


# ------------------------------------------------------------------- 4: tracebacks


def cases_tracebacks() -> Iterator[Case]:
    from bad_input_tracebacks import traceback_cases

    yield from traceback_cases()


# ---------------------------------------------------------------------- 5: memory


def cases_memory() -> Iterator[Case]:
    from bad_input_writers import memory_cases

    yield from memory_cases()


# ------------------------------------------------------------------ 6: durability


def cases_durability() -> Iterator[Case]:
    from bad_input_writers import durability_cases

    yield from durability_cases()
