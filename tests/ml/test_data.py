"""Datasets: caching at network size, splits, fingerprints, on-the-fly augmentation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from spinegui.ml.data import (
    DataError,
    LandmarkTorchDataset,
    aasce_dataset,
    project_dataset,
    split_data,
    split_indices,
    synthetic_dataset,
)
from spinegui.ml.preprocess import normalize_points

torch.set_num_threads(1)

SIZE = (128, 64)  # phantom (height, width): not the tiny preset's 64 x 32


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset("T1-L5", 6, seed=3, preset="tiny", size=SIZE)


def test_synthetic_samples_are_cached_at_network_size_with_original_pixels(data):
    assert len(data) == 6 and data.template == "T1-L5" and data.input_hw == (64, 32)
    for s in data:
        assert s.image.shape == (64, 32) and s.image.dtype == np.float32
        assert s.image.min() >= 0.0 and s.image.max() <= 1.0
        assert (s.width, s.height) == (64, 128)
        assert s.landmarks.shape == (17, 4, 2)
        # landmarks stay in the phantom's pixels, not the network's
        assert s.landmarks[..., 1].max() > 64
        np.testing.assert_allclose(s.normalized, normalize_points(s.landmarks, 64, 128))
    assert len(set(data.ids)) == 6


def test_synthetic_is_reproducible_and_seed_dependent(data):
    again = synthetic_dataset("T1-L5", 6, seed=3, preset="tiny", size=SIZE)
    other = synthetic_dataset("T1-L5", 2, seed=4, preset="tiny", size=SIZE)
    np.testing.assert_array_equal(again[0].image, data[0].image)
    np.testing.assert_array_equal(again[5].landmarks, data[5].landmarks)
    assert not np.allclose(other[0].landmarks, data[0].landmarks)


def test_split_is_the_papers_80_15_5_and_deterministic():
    s = split_indices(100, seed=1)
    assert (len(s.train), len(s.test), len(s.val)) == (80, 15, 5)
    assert sorted(s.train + s.test + s.val) == list(range(100))
    assert split_indices(100, seed=1) == s
    assert split_indices(100, seed=2) != s


def test_small_split_keeps_one_validation_and_one_test_image():
    s = split_indices(8, seed=0)
    assert (len(s.train), len(s.test), len(s.val)) == (6, 1, 1)
    assert split_indices(1, seed=0).train == [0]


def test_split_data_does_not_depend_on_sample_order(data):
    reordered = data.subset(reversed(range(len(data))))
    a = [part.ids for part in split_data(data, seed=5)]
    b = [sorted(part.ids) for part in split_data(reordered, seed=5)]
    assert [sorted(x) for x in a] == b


def test_fingerprint_tracks_landmark_corrections(data):
    copy = data.subset(range(len(data)))
    assert copy.fingerprint() == data.fingerprint()
    s = copy.samples[2]
    copy.samples[2] = dataclasses.replace(s, landmarks=s.landmarks + np.array([0.5, 0.0]))
    assert copy.fingerprint() != data.fingerprint()


def test_mean_shape_is_the_mean_normalised_landmarks(data):
    expected = np.mean([s.normalized for s in data], axis=0)
    np.testing.assert_allclose(data.mean_shape(), expected)


def test_torch_dataset_without_augmentation_returns_the_cache(data):
    ds = LandmarkTorchDataset(data)
    x, y, i = ds[1]
    assert i == 1 and x.shape == (1, 64, 32) and y.shape == (136,)
    np.testing.assert_array_equal(x[0].numpy(), data[1].image)
    np.testing.assert_allclose(y.numpy(), data[1].normalized.reshape(-1), rtol=1e-6)


def test_augmentation_is_a_function_of_seed_epoch_and_index(data):
    ds = LandmarkTorchDataset(data, augment=True, seed=7)
    ds.set_epoch(1)
    a = ds[0]
    b = ds[0]
    ds.set_epoch(2)
    c = ds[0]
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    # augmented targets stay in normalised image coordinates
    assert float(a[1].min()) >= -0.05 and float(a[1].max()) <= 1.05


def _write_phantom_pngs(folder, count, size=SIZE):
    from spinegui.core.formats.records import AnnotatedImage
    from spinegui.core.phantom import generate_phantom

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        ph = generate_phantom("T1-L5", 100 + i, size=size)
        path = folder / f"ph{i}.png"
        cv2.imwrite(str(path), np.round(ph.image * 255).astype(np.uint8))
        records.append(AnnotatedImage(path, size[1], size[0], "T1-L5", ph.landmarks))
    return records


def test_aasce_folder_is_read_and_resized_once(tmp_path):
    from spinegui.core.formats.aasce import write_aasce

    records = _write_phantom_pngs(tmp_path / "src", 3)
    write_aasce(records, tmp_path / "aasce")
    d = aasce_dataset(tmp_path / "aasce", "tiny")
    assert len(d) == 3 and d.template == "T1-L5"
    by_id = {s.id: s for s in d}
    for rec in records:
        s = by_id[rec.image.name]
        assert s.image.shape == (64, 32) and (s.width, s.height) == (64, 128)
        np.testing.assert_allclose(s.landmarks, np.rint(rec.landmarks), atol=1e-9)


def test_empty_aasce_folder_is_a_user_error(tmp_path):
    from spinegui.core.errors import SpineguiError

    with pytest.raises(SpineguiError):
        aasce_dataset(tmp_path, "tiny")


@pytest.mark.aasce
def test_real_aasce_subset_loads(aasce_dir):
    d = aasce_dataset(aasce_dir, "tiny", limit=2)
    assert len(d) == 2 and d.template == "T1-L5"
    assert d[0].height > 900 and d[0].landmarks.shape == (17, 4, 2)


def test_project_dataset_takes_reviewed_ground_truth_only(tmp_path):
    from spinegui.core.store import Project, file_sha256

    records = _write_phantom_pngs(tmp_path / "img", 3)
    with Project.create(tmp_path / "proj", "T1-L5") as project:
        ids = []
        for rec in records:
            ids.append(
                project.add_image(
                    rec.image, width=rec.width, height=rec.height, sha256=file_sha256(rec.image)
                )
            )
        for image_id, rec in zip(ids, records, strict=True):
            project.set_ground_truth(image_id, rec.landmarks)
        project.set_status(ids[0], "reviewed")
        project.set_status(ids[2], "reviewed")
        project.assign_split([ids[2]], "val")
    d = project_dataset(tmp_path / "proj", "tiny")
    assert len(d) == 2
    np.testing.assert_allclose(d[0].landmarks, records[0].landmarks)
    assert d[0].split is None and d[1].split == "val"
    assert any("left out" in n for n in d.notes)
    everything = project_dataset(tmp_path / "proj", "tiny", reviewed_only=False)
    assert len(everything) == 3


def test_project_without_reviewed_images_is_a_user_error(tmp_path):
    from spinegui.core.store import Project

    Project.create(tmp_path / "proj", "T1-L5").close()
    with pytest.raises(DataError, match="no reviewed"):
        project_dataset(tmp_path / "proj", "tiny")
