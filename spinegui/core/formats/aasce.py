"""The AASCE 2019 / BoostNet dataset layout, read and written as distributed.

    <root>/data/<split>/<image>.jpg
    <root>/labels/<split>/<image>.jpg.mat   variable p2: (68, 2) uint16 (x, y) pixels
    <root>/labels/<split>/filenames.csv     one image name a row (CRLF)
    <root>/labels/<split>/landmarks.csv     68 x / width, then 68 y / height
    <root>/labels/<split>/angles.csv        three Cobb angles in degrees

The data is known to be noisy (see shared/aasce/README.md), so the reader keeps
every image and reports what is wrong instead of failing or dropping records.
Vertebra order is repaired where unambiguous; crossed corners are reported but
never repaired, because on this data no rule fixes them without breaking
correctly annotated ones (measured on the 481 training images: sorting each
vertebra's corners by height rewrites 416 good,
strongly tilted vertebrae to touch the 6 crossed ones, and only 2 of those 6
have exactly one corner swap that turns them into a valid box).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinegui.core.errors import FormatError, ImageLoadError
from spinegui.core.formats.matfile import read_mat_matrix
from spinegui.core.formats.records import AnnotatedImage
from spinegui.core.imageio import read_image_size
from spinegui.core.landmarks import MAX_COORDINATE, as_landmarks, repair_order, validate
from spinegui.core.outputs import check_targets, staged_folder
from spinegui.core.templates import get_template

TEMPLATE = "T1-L5"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PLAUSIBLE_ANGLE = 120.0
CSV_TOLERANCE_PX = 1.0

KINDS = (
    "out_of_order",
    "crossed_corners",
    "outside_image",
    "bad_angle",
    "missing_label",
    "csv_mismatch",
    "missing_image",
)


@dataclass(frozen=True)
class NoiseFinding:
    """One problem found in the dataset, phrased for the person importing it."""

    image: str
    kind: str
    message: str
    repaired: bool = False


@dataclass
class AasceImport:
    """What ``read_aasce`` found: every record, and every problem with them."""

    records: list[AnnotatedImage]
    report: list[NoiseFinding] = field(default_factory=list)

    def findings(self, kind: str) -> list[NoiseFinding]:
        return [f for f in self.report if f.kind == kind]

    @property
    def repaired(self) -> set[str]:
        """Names of images whose landmarks differ from the files because of a repair."""
        return {f.image for f in self.report if f.repaired}

    def summary(self) -> str:
        """A few lines a CLI can print after an import."""
        lines = [f"Imported {len(self.records)} images (template {TEMPLATE})."]
        by_kind = Counter(f.kind for f in self.report)
        if not by_kind:
            lines.append("No label problems found.")
        for kind in KINDS:
            if not by_kind[kind]:
                continue
            found = self.findings(kind)
            files = len({f.image for f in found})
            fixed = sum(f.repaired for f in found)
            text = f"  {kind}: {len(found)} finding(s) in {files} file(s)"
            if kind == "out_of_order":
                text += f", {fixed} repaired, {len(found) - fixed} left for review"
            lines.append(text)
        if self.report:
            lines.append("Records with problems were kept; review them before training.")
        return "\n".join(lines)


def read_aasce(dataset_dir: str | Path, split: str | None = None) -> AasceImport:
    """Read one split, or every split found, of an AASCE-layout folder."""
    root = Path(dataset_dir)
    splits = _find_splits(root, split)
    result = AasceImport(records=[])
    for name in splits:
        _read_split(root, name, result)
    return result


def _find_splits(root: Path, split: str | None) -> list[str]:
    data = root / "data"
    if not data.is_dir() or not (root / "labels").is_dir():
        raise FormatError(
            f"{root} is not an AASCE dataset folder: it needs data/ and labels/ inside.",
            "Point to the boostnet_labeldata folder as distributed.",
        )
    found = sorted(p.name for p in data.iterdir() if p.is_dir())
    if split is not None:
        if split not in found:
            raise FormatError(
                f"The AASCE folder {root} has no split {split!r}.",
                f"Splits found: {', '.join(found) or 'none'}.",
            )
        return [split]
    if not found:
        raise FormatError(
            f"The AASCE folder {root} has no split folders under data/.",
            "Expected data/training/*.jpg as distributed.",
        )
    return found


def _read_split(root: Path, split: str, out: AasceImport) -> None:
    image_dir = root / "data" / split
    label_dir = root / "labels" / split
    names = _read_names(label_dir / "filenames.csv")
    landmark_rows = _read_rows(label_dir / "landmarks.csv", 136)
    angle_rows = _read_rows(label_dir / "angles.csv", 3)
    row_of = {n: i for i, n in enumerate(names)}
    for csv_name, rows in (("landmarks.csv", landmark_rows), ("angles.csv", angle_rows)):
        if rows is not None and len(rows) != len(names):
            out.report.append(
                NoiseFinding(
                    f"{split}/{csv_name}",
                    "csv_mismatch",
                    f"{csv_name} has {len(rows)} rows but filenames.csv lists {len(names)} "
                    "images; rows are matched by position and the extra ones ignored.",
                )
            )
    on_disk = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    disk_set = set(on_disk)
    for name in names:
        if name not in disk_set:
            out.report.append(
                NoiseFinding(
                    name,
                    "missing_image",
                    f"{name} is listed in filenames.csv but not in data/{split}; skipped.",
                )
            )
    ordered = [n for n in names if n in disk_set] + [n for n in on_disk if n not in row_of]
    for name in ordered:
        row = row_of.get(name)
        record = _read_record(
            image_dir / name,
            label_dir / f"{name}.mat",
            _row(landmark_rows, row),
            _row(angle_rows, row),
            out.report,
        )
        if record is not None:
            out.records.append(record)


def _row(rows: list[list[float] | None] | None, i: int | None) -> list[float] | None:
    if rows is None or i is None or i >= len(rows):
        return None
    return rows[i]


def _read_text(path: Path) -> str:
    """A label file's text. Bytes that are not UTF-8 are kept as the operating
    system keeps them in file names (surrogate escapes), so a Latin-1 name in
    filenames.csv still matches the Latin-1 file name on disk."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(
            f"Cannot read {path}: {exc.strerror or exc}.", "Check the dataset folder."
        ) from None
    return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        return []
    text = _read_text(path)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_rows(path: Path, width: int) -> list[list[float] | None] | None:
    """Rows of a numeric CSV; a row that is not ``width`` numbers reads as None."""
    if not path.is_file():
        return None
    rows: list[list[float] | None] = []
    for line in _read_text(path).splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            values = [float(f) if f.strip() else float("nan") for f in fields]
        except ValueError:
            values = []
        rows.append(values if len(values) == width else None)
    return rows


def _read_record(
    image: Path,
    mat: Path,
    csv_row: list[float] | None,
    angle_row: list[float] | None,
    report: list[NoiseFinding],
) -> AnnotatedImage | None:
    name = image.name
    try:
        width, height = read_image_size(image)
    except ImageLoadError as e:
        report.append(NoiseFinding(name, "missing_image", f"{name}: {e.message} Skipped."))
        return None
    from_mat = _read_mat(mat)
    from_csv = None
    if csv_row is not None and np.all(np.isfinite(csv_row)):
        row = np.asarray(csv_row)
        from_csv = np.stack([row[:68] * width, row[68:] * height], axis=1)
        if not np.all(np.abs(from_csv) <= MAX_COORDINATE):
            from_csv = None
    if from_mat is None:
        source = "landmarks.csv" if from_csv is not None else "nothing"
        report.append(
            NoiseFinding(
                name,
                "missing_label",
                f"{name}: no readable {mat.name} (p2: 68 x 2 finite pixel coordinates); "
                f"landmarks taken from {source}.",
            )
        )
    elif from_csv is not None:
        diff = float(np.abs(from_mat - from_csv).max())
        if diff > CSV_TOLERANCE_PX:
            report.append(
                NoiseFinding(
                    name,
                    "csv_mismatch",
                    f"{name}: {mat.name} and landmarks.csv differ by up to {diff:.1f} px; "
                    "the .mat values were used.",
                )
            )
    flat = from_mat if from_mat is not None else from_csv
    landmarks = None
    if flat is not None:
        landmarks = _checked_landmarks(name, flat.reshape(17, 4, 2), (width, height), report)
    return AnnotatedImage(
        image=image,
        width=width,
        height=height,
        template=TEMPLATE,
        landmarks=landmarks,
        angles=_checked_angles(name, angle_row, report),
    )


def _read_mat(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    points = read_mat_matrix(path, "p2")  # not scipy's loadmat: damaged files crash it
    if points is None or points.shape != (68, 2) or not np.all(np.isfinite(points)):
        return None
    if np.abs(points).max() > MAX_COORDINATE:
        return None
    return points


def _checked_landmarks(
    name: str, points: np.ndarray, size: tuple[int, int], report: list[NoiseFinding]
) -> np.ndarray:
    template = get_template(TEMPLATE)
    problems = validate(points, template)
    order_bad = [p for p in problems if p.kind == "order"]
    changed = False
    if order_bad:
        where = ", ".join(template.vertebrae[p.vertebra] for p in order_bad)
        repaired, changed = repair_order(points)
        if changed:
            points = repaired
            message = (
                f"{name}: vertebrae out of cranial-to-caudal order (at {where}); sorted by height."
            )
        else:
            message = (
                f"{name}: vertebrae out of cranial-to-caudal order (at {where}); the right "
                "order is ambiguous, left as stored for a person to fix."
            )
        report.append(NoiseFinding(name, "out_of_order", message, repaired=changed))
    renamed = " (named after reordering)" if changed else ""
    # Exact image bounds: AASCE points are whole pixels, so any excess is a label error.
    final = validate(points, template, image_size=size, margin=0.0)
    for p in final:
        if p.kind == "outside":
            report.append(NoiseFinding(name, "outside_image", f"{name}: {p.message}"))
    for v in sorted({p.vertebra for p in final if p.kind in ("crossed_lr", "crossed_tb")}):
        report.append(
            NoiseFinding(
                name,
                "crossed_corners",
                f"{name}: {template.vertebrae[v]}{renamed} has crossed corners (not a "
                "TL-TR-BL-BR box); left as stored.",
            )
        )
    return points


def _checked_angles(
    name: str, row: list[float] | None, report: list[NoiseFinding]
) -> tuple[float, float, float] | None:
    if row is None or not np.all(np.isfinite(row)):
        return None
    angles = (float(row[0]), float(row[1]), float(row[2]))
    bad = [a for a in angles if a < 0 or a > MAX_PLAUSIBLE_ANGLE]
    if bad:
        report.append(
            NoiseFinding(
                name,
                "bad_angle",
                f"{name}: Cobb angle {bad[0]:g} degrees in angles.csv is outside "
                f"0-{MAX_PLAUSIBLE_ANGLE:g}; most likely an annotation error.",
            )
        )
    return angles


def write_aasce(
    records: list[AnnotatedImage],
    out_dir: str | Path,
    split: str = "training",
    *,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
) -> Path:
    """Write records in the AASCE layout so AASCE tools (and read_aasce) accept them.

    Lossy by design: p2 is uint16 as in the original files, so landmarks are
    rounded to whole pixels (landmarks.csv is written from the same rounded
    values so the two files agree). Pixel spacing has no place in the layout
    and is dropped. Images are copied, keeping their names. Records without
    landmarks are copied as images only, which read_aasce reports as
    missing labels. Unknown angles are written as empty fields.

    Everything is written into a staging folder first and moved into
    ``out_dir`` only when complete; a file already there is replaced only
    with ``overwrite``, and nothing goes into a ``protected`` folder (see
    ``spinegui.core.outputs.staged_folder``).
    """
    root = Path(out_dir)
    _check_writable(records)
    inputs = [rec.image for rec in records]
    planned = [root / "data" / split / rec.name for rec in records]
    planned += [
        root / "labels" / split / f"{rec.name}.mat" for rec in records if rec.landmarks is not None
    ]
    planned += [
        root / "labels" / split / n for n in ("filenames.csv", "landmarks.csv", "angles.csv")
    ]
    protected = list(protected)
    if root.exists():
        check_targets(planned, overwrite=overwrite, inputs=inputs, protected=protected)
    with staged_folder(root, overwrite=overwrite, inputs=inputs, protected=protected) as stage:
        _write_layout(records, root, stage, split)
    return root


def _write_layout(records: list[AnnotatedImage], root: Path, stage: Path, split: str) -> None:
    image_dir = stage / "data" / split
    label_dir = stage / "labels" / split
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    import scipy.io  # only when writing: reading uses our own reader, start-up stays light

    names, landmark_lines, angle_lines = [], [], []
    for rec in records:
        final = root / "data" / split / rec.name
        if not (final.exists() and final.samefile(rec.image)):
            shutil.copyfile(rec.image, image_dir / rec.name)
        if rec.landmarks is None:
            continue
        p2 = np.rint(np.asarray(rec.landmarks, dtype=np.float64).reshape(68, 2))
        scipy.io.savemat(label_dir / f"{rec.name}.mat", {"p2": p2.astype(np.uint16)})
        fractions = np.concatenate([p2[:, 0] / rec.width, p2[:, 1] / rec.height])
        names.append(rec.name)
        landmark_lines.append(",".join(f"{v:.10g}" for v in fractions))
        angles = rec.angles
        angle_lines.append(",".join(f"{a:.10g}" for a in angles) if angles else ",,")
    for csv_name, lines in (
        ("filenames.csv", names),
        ("landmarks.csv", landmark_lines),
        ("angles.csv", angle_lines),
    ):
        (label_dir / csv_name).write_bytes("".join(f"{x}\r\n" for x in lines).encode())


def _check_writable(records: list[AnnotatedImage]) -> None:
    seen: set[str] = set()
    for rec in records:
        if rec.name in seen:
            raise FormatError(
                f"Two records share the image name {rec.name!r}; the AASCE layout keys "
                "labels by file name.",
                "Rename one of the images before exporting.",
            )
        seen.add(rec.name)
        if get_template(rec.template).name != TEMPLATE:
            raise FormatError(
                f"{rec.name} uses template {rec.template}, but the AASCE layout holds "
                f"{TEMPLATE} (68 landmarks) only.",
                "Export it as COCO or CSV instead, which keep any template.",
            )
        if not rec.image.is_file():
            raise FormatError(
                f"Cannot export {rec.name}: the image {rec.image} does not exist.",
                "Restore the image or remove the record before exporting.",
            )
        if rec.landmarks is not None:
            p = np.rint(as_landmarks(rec.landmarks, TEMPLATE))
            if p.min() < 0 or p.max() > np.iinfo(np.uint16).max:
                raise FormatError(
                    f"Cannot export {rec.name}: AASCE stores landmarks as whole pixels "
                    "from 0 to 65535 and this record has points outside that range.",
                    "Move those corners inside the image, or export as COCO or CSV.",
                )
