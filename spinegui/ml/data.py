"""Training and evaluation data: samples cached at network size, splits, a torch Dataset.

Why images are cached already resized: decoding an X-ray (median 854 x 2360
px in AASCE, up to 3755 px tall) and resizing it costs far more than a
training step on a GPU, and the network only ever sees the preset size. So
every source (synthetic phantoms, an AASCE folder, a project) is read and
resized exactly once, into memory, when the dataset is built. At the paper
preset (1024 x 512 float32) that is 2 MiB per image, about 1 GiB for the 481
AASCE images.

Why augmentation runs at network size: the augmenter's warps are resolution
independent, and warping the small cached image is one to two orders of
magnitude cheaper than warping the original. The price is that rotations and
scalings resample an already downsampled image (slightly softer edges); for a
regression network that sees 1024 x 512 anyway this is immaterial.

Landmarks are kept twice: in original-image pixels (for metrics people read,
Cobb angles and mm) and normalised to [0, 1] of the image width/height (the
network's target). Normalised coordinates are the same for the original and
the resized image, which is what lets the cache drop the original pixels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spinegui.core.errors import SpineguiError, TemplateError
from spinegui.core.templates import get_template

__all__ = [
    "SPLIT_FRACTIONS",
    "DataError",
    "LandmarkData",
    "LandmarkTorchDataset",
    "Sample",
    "Split",
    "aasce_dataset",
    "project_dataset",
    "split_data",
    "split_indices",
    "synthetic_dataset",
]

SPLIT_FRACTIONS = (0.80, 0.15, 0.05)
"""train / test / validation, as in the paper (80 / 15 / 5 images of 100)."""


class DataError(SpineguiError):
    """A data source that cannot be used for training or evaluation."""


@dataclass
class Sample:
    """One annotated image, cached at network size.

    ``image`` is float32 in [0, 1] at the preset's (height, width);
    ``landmarks`` are (V, 4, 2) pixels of the ORIGINAL image, whose size is
    ``width`` x ``height``. ``spacing_mm`` is mm per pixel, (row, col) or one
    number, when known.
    """

    image: np.ndarray
    landmarks: np.ndarray
    width: int
    height: int
    id: str
    spacing_mm: float | tuple[float, float] | None = None
    split: str | None = None
    """A project's locked assignment ("train"/"val"), else None."""

    @property
    def normalized(self) -> np.ndarray:
        """(V, 4, 2) landmarks as the network's targets (see ``preprocess``)."""
        from spinegui.ml.preprocess import normalize_points

        return np.asarray(normalize_points(self.landmarks, self.width, self.height), np.float64)


@dataclass
class LandmarkData:
    """An ordered list of samples sharing one template and one network size."""

    template: str
    preset: str
    input_hw: tuple[int, int]
    samples: list[Sample] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    def __iter__(self):
        return iter(self.samples)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def subset(self, indices: Iterable[int]) -> LandmarkData:
        return LandmarkData(
            self.template,
            self.preset,
            self.input_hw,
            [self.samples[i] for i in indices],
            self.source,
            list(self.notes),
        )

    def select_ids(self, ids: Iterable[str]) -> LandmarkData:
        """The samples whose id is in ``ids``, in this dataset's order."""
        wanted = set(ids)
        return self.subset(i for i, s in enumerate(self.samples) if s.id in wanted)

    def fingerprint(self) -> str:
        """SHA-256 over ids and landmarks: names the exact data a model saw.

        Images are not hashed (they are large and a project already keys
        them by content hash in their ids); the ids plus landmarks change
        whenever a label is corrected, which is what a reviewer needs to know.
        """
        h = hashlib.sha256()
        h.update(json.dumps([self.template, len(self.samples)]).encode())
        for s in sorted(self.samples, key=lambda s: s.id):
            h.update(s.id.encode("utf-8", "surrogatepass"))
            h.update(np.ascontiguousarray(s.landmarks, dtype="<f8").tobytes())
        return h.hexdigest()

    def mean_shape(self) -> np.ndarray:
        """(V, 4, 2) mean normalised landmarks: the "mean shape" baseline."""
        if not self.samples:
            raise DataError("Cannot compute a mean shape of an empty dataset.")
        return np.mean([s.normalized for s in self.samples], axis=0)

    def images(self) -> np.ndarray:
        """(N, h, w) float32 stack of the cached network-size images."""
        return np.stack([s.image for s in self.samples]).astype(np.float32, copy=False)

    def targets(self) -> np.ndarray:
        """(N, 8V) float32 normalised targets in flat AASCE order."""
        return np.stack([s.normalized.reshape(-1) for s in self.samples]).astype(np.float32)


# ----------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    train: list[int]
    test: list[int]
    val: list[int]


def split_indices(n: int, seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS) -> Split:
    """Shuffle ``range(n)`` by ``seed`` and cut it train/test/val.

    Validation and test each get at least one image once there are enough
    images for training to keep one too, because an empty validation set
    silently disables early stopping and best-checkpoint selection.
    """
    f_train, f_test, f_val = fractions
    if n <= 0:
        return Split([], [], [])
    order = np.random.default_rng(seed).permutation(n).tolist()
    total = f_train + f_test + f_val
    n_val = round(n * f_val / total)
    n_test = round(n * f_test / total)
    if n >= 3 and f_val > 0:
        n_val = max(1, n_val)
    if n >= 3 and f_test > 0:
        n_test = max(1, n_test)
    n_val = min(n_val, n - 1)
    n_test = min(n_test, n - 1 - n_val)
    n_train = n - n_val - n_test
    return Split(
        train=sorted(order[:n_train]),
        test=sorted(order[n_train : n_train + n_test]),
        val=sorted(order[n_train + n_test :]),
    )


def split_data(
    data: LandmarkData, seed: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS
) -> tuple[LandmarkData, LandmarkData, LandmarkData]:
    """(train, test, val) subsets; the same seed and ids always give the same split.

    Images are ordered by id before shuffling, so the split does not depend
    on the order a folder happened to list its files in.
    """
    by_id = sorted(range(len(data)), key=lambda i: data.samples[i].id)
    s = split_indices(len(data), seed, fractions)
    return tuple(data.subset(sorted(by_id[i] for i in part)) for part in (s.train, s.test, s.val))


# ---------------------------------------------------------------------- sources


def _preset(preset):
    from spinegui.ml.presets import get_preset

    return preset if hasattr(preset, "height") else get_preset(preset)


def _to_input(image: np.ndarray, preset) -> np.ndarray:
    from spinegui.ml.preprocess import to_network_input

    out = np.asarray(to_network_input(np.asarray(image, dtype=np.float32), preset))
    return np.ascontiguousarray(out, dtype=np.float32)


def _new(template: str, preset, source: str) -> LandmarkData:
    p = _preset(preset)
    return LandmarkData(get_template(template).name, p.name, (p.height, p.width), [], source)


def synthetic_dataset(
    template: str,
    count: int,
    seed: int = 0,
    preset="tiny",
    *,
    size: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **phantom_kw,
) -> LandmarkData:
    """``count`` synthetic radiographs, the same as ``generate_batch(template, count, seed)``.

    ``size`` is the phantom's (height, width) in "original" pixels; the
    generator's default when None. Smaller phantoms build faster and still
    exercise the original-pixel bookkeeping when they differ from the preset.
    """
    from spinegui.core.phantom import batch_seeds, generate_phantom

    data = _new(template, preset, f"synthetic:{count}:seed={seed}")
    p = _preset(preset)
    kw = dict(phantom_kw)
    if size is not None:
        kw["size"] = tuple(size)
    for i, image_seed in enumerate(batch_seeds(seed, count)):
        ph = generate_phantom(data.template, image_seed, **kw)
        h, w = ph.image.shape[:2]
        data.samples.append(
            Sample(
                image=_to_input(ph.image, p),
                landmarks=np.asarray(ph.landmarks, dtype=np.float64),
                width=int(w),
                height=int(h),
                id=f"phantom-{data.template}-{seed}-{i}",
            )
        )
        if progress:
            progress(i + 1, count)
    return data


def aasce_dataset(
    dataset_dir: str | Path,
    preset="tiny",
    *,
    split: str | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LandmarkData:
    """Annotated images of an AASCE folder, decoded and resized once.

    Records without landmarks are skipped (and counted in ``notes``); the
    importer's own report of label noise is kept in ``notes`` too so a
    training run can show what it trained on.
    """
    from spinegui.core.formats.aasce import read_aasce
    from spinegui.core.imageio import load_image

    imported = read_aasce(dataset_dir, split=split)
    records = [r for r in imported.records if r.landmarks is not None]
    if not records:
        raise DataError(
            f"No annotated images found in {dataset_dir}.",
            "Point at the boostnet_labeldata folder (with data/ and labels/).",
        )
    skipped = len(imported.records) - len(records)
    if limit is not None:
        records = records[:limit]
    templates = {r.template if isinstance(r.template, str) else r.template.name for r in records}
    if len(templates) != 1:
        raise TemplateError(
            f"The AASCE folder mixes spine templates ({', '.join(sorted(templates))}).",
            "Train one template at a time.",
        )
    data = _new(templates.pop(), preset, f"aasce:{Path(dataset_dir)}")
    p = _preset(preset)
    if skipped:
        data.notes.append(f"{skipped} record(s) without landmarks skipped")
    try:
        summary = imported.summary()
        if summary:
            data.notes.append(str(summary))
    except Exception:  # a report is a nicety; never block training on it
        pass
    for i, r in enumerate(records):
        loaded = load_image(r.image)
        data.samples.append(
            Sample(
                image=_to_input(loaded.normalized(), p),
                landmarks=np.asarray(r.landmarks, dtype=np.float64),
                width=int(r.width or loaded.width),
                height=int(r.height or loaded.height),
                id=Path(r.image).name,
                spacing_mm=r.spacing_mm if r.spacing_mm is not None else loaded.spacing_mm,
            )
        )
        if progress:
            progress(i + 1, len(records))
    return data


def project_dataset(
    folder: str | Path,
    preset="tiny",
    *,
    reviewed_only: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> LandmarkData:
    """Ground truth of a project folder (reviewed images only, by default).

    Only people-checked landmarks are trained on: an unreviewed prediction fed
    back as ground truth would teach the network its own mistakes.
    """
    from spinegui.core.imageio import load_image
    from spinegui.core.store import Project

    p = _preset(preset)
    with Project.open(folder) as project:
        template = project.template.name
        records = project.images()
        chosen = []
        for rec in records:
            if not rec.has_ground_truth or rec.template != template:
                continue
            if reviewed_only and rec.status != "reviewed":
                continue
            chosen.append((rec, project.ground_truth(rec.id)))
        total = len(records)
    data = _new(template, p, f"project:{Path(folder)}")
    skipped = total - len(chosen)
    if skipped:
        data.notes.append(
            f"{skipped} image(s) without {'reviewed ' if reviewed_only else ''}ground truth "
            "left out"
        )
    if not chosen:
        raise DataError(
            f"The project in {folder} has no {'reviewed ' if reviewed_only else ''}"
            "annotated images to train on.",
            "Review some images (correct the landmarks and mark them reviewed) first.",
        )
    unreadable = []
    for i, (rec, points) in enumerate(chosen):
        try:
            loaded = load_image(rec.path)
        except SpineguiError as exc:  # a moved or deleted file must not end the run
            unreadable.append(f"{rec.path.name}: {exc.message}")
            continue
        if loaded.sha256 != rec.sha256:  # its landmarks belong to the image it replaced
            unreadable.append(f"{rec.path.name}: changed on disk since it was annotated")
            continue
        data.samples.append(
            Sample(
                image=_to_input(loaded.normalized(), p),
                landmarks=np.asarray(points, dtype=np.float64),
                width=int(rec.width),
                height=int(rec.height),
                id=rec.sha256,
                spacing_mm=rec.spacing_mm,
                split=rec.split,
            )
        )
        if progress:
            progress(i + 1, len(chosen))
    if unreadable:
        data.notes.append(
            f"{len(unreadable)} image file(s) missing, unreadable or changed were left out"
        )
        data.notes.extend(f"  {u}" for u in unreadable[:10])
    if not data.samples:
        raise DataError(
            f"None of the annotated images of the project in {folder} could be read.",
            "Check that the image files are where the project expects them.",
        )
    return data


# ------------------------------------------------------------------ torch side


def _item_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, index]).generate_state(1)[0])


class LandmarkTorchDataset:
    """Torch-style dataset: (image (1,h,w) float32, target (8V,) float32, index).

    Augmentation is applied on the fly to the cached network-size image (see
    the module docstring). Each item draws its augmentation from a seed made
    of (seed, epoch, index), never from a shared RNG, so results do not
    depend on ``num_workers``, on the rank in distributed training, or on
    whether the run was resumed; call ``set_epoch`` at the start of each epoch.
    """

    def __init__(self, data: LandmarkData, *, augment: bool = False, seed: int = 0, **aug_kw):
        self.data = data
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.aug_kw = aug_kw

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        import torch

        s = self.data.samples[index]
        image = s.image
        norm = s.normalized
        if self.augment:
            from spinegui.ml.augment import Augmenter
            from spinegui.ml.preprocess import denormalize_points, normalize_points

            h, w = image.shape
            aug = Augmenter(_item_seed(self.seed, self.epoch, index), **self.aug_kw)
            image, pts = aug(image, denormalize_points(norm, w, h))
            norm = np.asarray(normalize_points(np.asarray(pts, np.float64), w, h))
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
        y = torch.from_numpy(np.asarray(norm, dtype=np.float32).reshape(-1))
        return x, y, index
