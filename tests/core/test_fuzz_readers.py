"""Malformed input is a property, not a list: any bytes handed to a reader give the
project's own error (a message and a hint) or a result, never another exception.

Hypothesis mutates small valid files (flipped, cut, inserted bytes; JSON values
swapped for arbitrary ones) and also tries arbitrary input, for every reader a
user can point at a file: image loading (PNG, JPEG, BMP, TIFF, DICOM), the AASCE
layout (.mat and the three CSVs, then the import into a project), COCO JSON, the
long CSV, the model card in a safetensors header, and opening a project
database. Bounded for CI: a fixed number of examples, derandomized, no deadline.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spinegui.core.errors import SpineguiError
from spinegui.core.formats import (
    AnnotatedImage,
    read_aasce,
    read_coco,
    read_csv,
    write_coco,
    write_csv,
)
from spinegui.core.imageio import load_image, read_image_size
from spinegui.core.model_card import read_model_card
from spinegui.core.project_records import add_records
from spinegui.core.store import Project
from tests.core.test_imageio import write_dicom

FUZZ = settings(
    # CI: the same 60 examples per reader every run. SPINEGUI_FUZZ=N explores N
    # fresh random examples instead (how the cases in test_bad_inputs were found).
    max_examples=int(os.environ.get("SPINEGUI_FUZZ", "60")),
    deadline=None,
    derandomize="SPINEGUI_FUZZ" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
H, W = 64, 32
PIXELS = (np.arange(H * W, dtype=np.uint32).reshape(H, W) * 37 % 65536).astype(np.uint16)
POINTS = np.tile([[2.0, 2.0], [20.0, 2.0], [2.0, 3.0], [20.0, 3.0]], (17, 1)).reshape(17, 4, 2)
POINTS[:, :, 1] += 3.5 * np.arange(17)[:, None]


def assert_clean(call):
    """The property: a result, or a SpineguiError that explains itself."""
    try:
        return call()
    except SpineguiError as exc:
        assert exc.message.strip(), f"{type(exc).__name__} without a message"
        return None


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few bytes replaced, then maybe cut short or grown."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    if cut is not None:
        data = data[:cut]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


def _scratch(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"spinegui-fuzz-{name}-"))
    return folder


# --------------------------------------------------------------------------- images


def _image_seeds() -> dict[str, bytes]:
    seeds = {}
    for suffix in (".png", ".jpg", ".bmp", ".tif"):
        image = PIXELS if suffix in (".png", ".tif") else (PIXELS >> 8).astype(np.uint8)
        ok, buf = cv2.imencode(suffix, image)
        assert ok
        seeds[suffix] = buf.tobytes()
    folder = _scratch("dicom")
    seeds[".dcm"] = write_dicom(folder / "a.dcm", PIXELS, PixelSpacing=[0.2, 0.2]).read_bytes()
    shutil.rmtree(folder)
    return seeds


IMAGE_SEEDS = _image_seeds()
IMAGE_FILES = st.one_of(
    st.sampled_from(sorted(IMAGE_SEEDS)).flatmap(
        lambda s: st.tuples(st.just(s), mutated(IMAGE_SEEDS[s]))
    ),
    st.tuples(st.sampled_from([".png", ".jpg", ".tif", ".dcm", ""]), st.binary(max_size=600)),
)


@pytest.fixture(scope="module")
def scratch():
    folder = _scratch("files")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@FUZZ
@given(IMAGE_FILES)
def test_image_loading_never_raises_anything_else(scratch, file):
    suffix, data = file
    path = scratch / f"x{suffix}"
    path.write_bytes(data)
    assert_clean(lambda: read_image_size(path))
    image = assert_clean(lambda: load_image(path, max_pixels=1_000_000))
    if image is not None:
        assert image.pixels.shape == (image.height, image.width)


# ---------------------------------------------------------------------------- AASCE


@pytest.fixture(scope="module")
def aasce_seed():
    root = _scratch("aasce") / "ds"
    images, labels = root / "data" / "training", root / "labels" / "training"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    names = []
    for i in range(2):
        name = f"s{i}.jpg"
        cv2.imwrite(str(images / name), (PIXELS >> 8).astype(np.uint8) + i)
        scipy.io.savemat(labels / f"{name}.mat", {"p2": POINTS.reshape(68, 2).astype(np.uint16)})
        names.append(name)
    flat = POINTS.reshape(68, 2)
    row = ",".join(f"{v:.6g}" for v in np.concatenate([flat[:, 0] / W, flat[:, 1] / H]))
    (labels / "filenames.csv").write_text("".join(f"{n}\r\n" for n in names))
    (labels / "landmarks.csv").write_text(f"{row}\r\n{row}\r\n")
    (labels / "angles.csv").write_text("10,5,3\r\n0,0,0\r\n")
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


AASCE_FILES = ["s0.jpg.mat", "filenames.csv", "landmarks.csv", "angles.csv"]


@FUZZ
@given(st.sampled_from(AASCE_FILES), st.data())
def test_aasce_import_never_raises_anything_else(aasce_seed, name, data):
    work = _scratch("aasce-case")
    try:
        root = work / "ds"
        shutil.copytree(aasce_seed, root)
        target = root / "labels" / "training" / name
        seed = target.read_bytes()
        target.write_bytes(data.draw(st.one_of(mutated(seed), st.binary(max_size=400))))
        found = assert_clean(lambda: read_aasce(root))
        if found is not None:
            with Project.create(work / "project", "T1-L5") as project:
                assert_clean(lambda: add_records(project, found.records))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- COCO

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc, prefix=()):
    """Every (path to a value) in a JSON document, for swapping one out."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@pytest.fixture(scope="module")
def coco_seed(scratch):
    folder = scratch / "coco"
    folder.mkdir()
    image = folder / "a.png"
    cv2.imwrite(str(image), PIXELS)
    path = write_coco(
        [AnnotatedImage(image, W, H, "T1-L5", POINTS, angles=(1, 2, 3))], folder / "s.json"
    )
    doc = json.loads(path.read_text())
    doc["categories"] = doc["categories"][1:]  # keep the file small: T1-L5 only
    return folder, doc


@FUZZ
@given(st.data())
def test_coco_reading_never_raises_anything_else(coco_seed, data):
    folder, seed = coco_seed
    doc = json.loads(json.dumps(seed))
    paths = sorted(_paths(doc), key=repr)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths))
        value = data.draw(JSON)
        if not where:
            doc = value
            break
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        parent[where[-1]] = value
        paths = sorted(_paths(doc), key=repr)
    path = folder / "fuzz.json"
    text = json.dumps(doc, allow_nan=True)
    if data.draw(st.booleans()):
        text = data.draw(mutated(text.encode())).decode("utf-8", "surrogateescape")
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert_clean(lambda: read_coco(path))


# ------------------------------------------------------------------------------ CSV


@pytest.fixture(scope="module")
def csv_seed(scratch):
    folder = scratch / "csv"
    folder.mkdir()
    image = folder / "a.png"
    cv2.imwrite(str(image), PIXELS)
    path = write_csv([AnnotatedImage(image, W, H, "T1-L5", POINTS)], folder / "s.csv")
    return folder, path.read_bytes()


CSV_HEADER = "image,template,vertebra,corner,x,y\n"


@FUZZ
@given(st.data())
def test_long_csv_reading_never_raises_anything_else(csv_seed, data):
    folder, seed = csv_seed
    text = data.draw(
        st.one_of(
            mutated(seed),
            st.text(max_size=300).map(
                lambda t: ("image,template,vertebra,corner,x,y\n" + t).encode()
            ),
            st.binary(max_size=300),
        )
    )
    path = folder / "fuzz.csv"
    path.write_bytes(text)
    assert_clean(lambda: read_csv(path))


# ----------------------------------------------------------------------- model card


def _safetensors(header: dict, payload: bytes = b"\0\0\0\0") -> bytes:
    raw = json.dumps(header, allow_nan=True).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


CARD = {"format": "spinegui-checkpoint", "format_version": 1, "template": "T1-L5"}
MODEL_SEED = {
    "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    "__metadata__": {"spinegui": json.dumps(CARD)},
}


@st.composite
def model_files(draw) -> bytes:
    kind = draw(st.sampled_from(["mutated", "header", "tensor", "card"]))
    if kind == "mutated":
        return draw(mutated(_safetensors(MODEL_SEED)))
    header = json.loads(json.dumps(MODEL_SEED))
    if kind == "header":
        header[draw(st.sampled_from(["w", "__metadata__", "x"]))] = draw(JSON)
    elif kind == "tensor":
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header["w"][field] = draw(JSON | st.lists(JSON, min_size=2, max_size=2))
    else:
        card = dict(CARD)
        card[draw(st.sampled_from([*sorted(CARD), "input_hw", "metrics"]))] = draw(JSON)
        header["__metadata__"]["spinegui"] = json.dumps(card, allow_nan=True)
    return _safetensors(header)


@FUZZ
@given(model_files())
def test_model_card_reading_never_raises_anything_else(scratch, data):
    path = scratch / "m.safetensors"
    path.write_bytes(data)
    assert_clean(lambda: read_model_card(path))


# -------------------------------------------------------------------- project store


@functools.cache
def project_seed() -> bytes:
    """A small project file: one image with landmarks, one edit, a status (not a
    fixture, so Hypothesis does not print its bytes with every failing case)."""
    scratch = _scratch("project-seed")
    image = scratch / "p.png"
    cv2.imwrite(str(image), PIXELS)
    with Project.create(scratch / "project", "T1-L5") as project:
        add_records(project, [AnnotatedImage(image, W, H, "T1-L5", POINTS)])
        project.move_corner(1, 0, 0, (3, 4))
        project.set_status(1, "reviewed")
    data = (scratch / "project" / "project.sqlite").read_bytes()
    shutil.rmtree(scratch, ignore_errors=True)
    return data


def _read_everything(folder: Path) -> None:
    with Project.open(folder) as project:
        for image in project.images():
            project.ground_truth(image.id)
            project.prediction(image.id)
        project.history()
        project.models()


@FUZZ
@given(st.data())
def test_opening_a_damaged_project_never_raises_anything_else(scratch, data):
    # Most pages of a small database are free space; aim most flips at the used ones.
    seed = project_seed()
    size = len(seed)
    blob = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, size - 1) | st.integers(0, min(size, 8192) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, size))]
    folder = scratch / "project"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "project.sqlite").write_bytes(bytes(blob))
    assert_clean(lambda: _read_everything(folder))


def test_the_seeds_themselves_read_cleanly(coco_seed, scratch):
    """The mutations start from files the readers accept, or they would test little."""
    folder, doc = coco_seed
    (folder / "ok.json").write_text(json.dumps(doc))
    assert len(read_coco(folder / "ok.json")) == 1
    for suffix, data in IMAGE_SEEDS.items():
        (scratch / f"ok{suffix}").write_bytes(data)
        assert load_image(scratch / f"ok{suffix}").width == W
    (scratch / "ok.safetensors").write_bytes(_safetensors(MODEL_SEED))
    assert read_model_card(scratch / "ok.safetensors")["template"] == "T1-L5"
    (scratch / "ok-project").mkdir()
    (scratch / "ok-project" / "project.sqlite").write_bytes(project_seed())
    _read_everything(scratch / "ok-project")
