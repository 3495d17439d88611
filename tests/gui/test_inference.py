"""The inference worker: results, ordering, errors, cancel, shutdown, and no torch at start-up.

Most ordering tests use a gated stand-in predictor so "a prediction is in
progress" is a state the test controls, not a race it hopes to win; the
result and error tests use the real tiny model end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QTimer

from spinegui.core.imageio import load_image
from spinegui.core.store import Project
from spinegui.gui.inference import PredictionResult, store_result

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000


class GatedPredictor:
    """Stand-in for Predictor: blocks while the gate is closed, fails when told to."""

    version = "stub-1"
    template = "C7-L5"
    device_description = "stub device"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls = 0
        self.fail_next: BaseException | None = None

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def predict(self, image, tta=False):
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(WAIT_MS / 1000), "test never released the gate"
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        h, w = image.pixels.shape
        pts = np.tile(np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float), (18, 1, 1))
        return SimpleNamespace(landmarks=pts, spread=np.zeros((18, 4)))


class Recorder:
    """Collects every signal of a service, in arrival order."""

    def __init__(self, service) -> None:
        self.results: list[PredictionResult] = []
        self.failures: list[tuple[int, str]] = []
        self.loaded: list[tuple[str, str]] = []
        self.progress: list[tuple[int, int]] = []
        self.finished: list[bool] = []
        self.busy: list[bool] = []
        service.predictionReady.connect(self.results.append)
        service.failed.connect(lambda i, m: self.failures.append((i, m)))
        service.modelLoaded.connect(lambda v, d: self.loaded.append((v, d)))
        service.batchProgress.connect(lambda d, t: self.progress.append((d, t)))
        service.batchFinished.connect(self.finished.append)
        service.busyChanged.connect(self.busy.append)

    def ids(self) -> list[int]:
        return [r.image_id for r in self.results]


def write_png(path: Path, value: int = 1000) -> Path:
    pixels = np.full((64, 32), value, np.uint16)
    pixels[10:50, 12:20] = 60000
    assert cv2.imwrite(str(path), pixels)
    return path


@pytest.fixture
def stub(make_inference_service, qtbot, tmp_path):
    """(service with a GatedPredictor loaded, the predictor, recorder, image paths 1..6)."""
    predictor = GatedPredictor()
    service = make_inference_service(loader=lambda path, device, template: predictor)
    rec = Recorder(service)
    service.set_model(tmp_path / "stub.safetensors")
    qtbot.waitUntil(lambda: bool(rec.loaded), timeout=WAIT_MS)
    images = {i: write_png(tmp_path / f"img{i}.png", 1000 * i) for i in range(1, 7)}
    return service, predictor, rec, images


def wait_entered(qtbot, predictor: GatedPredictor) -> None:
    qtbot.waitUntil(predictor.entered.is_set, timeout=WAIT_MS)
    predictor.entered.clear()


# ------------------------------------------------------------------ real model


def test_real_model_result_matches_direct_prediction_and_is_stored(
    inference_service, qtbot, demo_project, tiny_model
):
    from spinegui.ml.predict import Predictor

    rec = Recorder(inference_service)
    with Project.open(demo_project) as project:
        active = project.active_model()
        image = project.images()[1]
        inference_service.set_model(
            active.path, version=active.version, expected_template=project.template.name
        )
        inference_service.request(image.id, image.path)
        qtbot.waitUntil(lambda: bool(rec.results), timeout=WAIT_MS)
        (result,) = rec.results
        assert rec.loaded[0][0] == active.version
        assert inference_service.model_version == active.version
        assert "CPU" in inference_service.device_description
        assert (result.image_id, result.model_version) == (image.id, active.version)
        assert result.landmarks.shape == (18, 4, 2) and result.spread.shape == (18, 4)
        direct = Predictor.load(tiny_model, device="cpu").predict(load_image(image.path), tta=True)
        np.testing.assert_allclose(result.landmarks, direct.landmarks, atol=1e-4)

        assert store_result(project, result) is True
        stored = project.prediction(image.id)
        np.testing.assert_allclose(stored.points, result.landmarks)
        assert stored.model_version == active.version


def test_a_late_result_for_another_image_is_stored_too(inference_service, qtbot, demo_project):
    rec = Recorder(inference_service)
    with Project.open(demo_project) as project:
        active = project.active_model()
        a, b = project.images()[:2]
        inference_service.set_model(active.path, version=active.version)
        inference_service.request(a.id, a.path)
        inference_service.request(b.id, b.path)  # the user moved on before A came back
        qtbot.waitUntil(lambda: len(rec.results) == 2, timeout=WAIT_MS)
        assert sorted(rec.ids()) == sorted([a.id, b.id])
        for result in rec.results:
            store_result(project, result)
        assert project.prediction(a.id) is not None
        assert project.prediction(b.id) is not None


def test_store_result_registers_an_unknown_model_once(tmp_path, tiny_model):
    image = write_png(tmp_path / "x.png")
    with Project.create(tmp_path / "p", "C7-L5") as project:
        image_id = project.add_image(
            image, width=32, height=64, sha256=load_image(image).sha256, bit_depth=16
        )
        pts = np.random.default_rng(0).uniform(0, 30, (18, 4, 2))
        result = PredictionResult(image_id, "tiny-c7l5", pts, None, 0.1, tiny_model, "C7-L5")
        assert store_result(project, result) is True
        assert store_result(project, result) is True
        (model,) = project.models()
        assert model.version == "tiny-c7l5" and model.path == tiny_model
        assert model.card["template"] == "C7-L5" and model.card["preset"] == "tiny"
        np.testing.assert_allclose(project.prediction(image_id, "tiny-c7l5").points, pts)


def test_a_result_from_the_previous_project_is_not_stored(tmp_path, tiny_model):
    pts = np.random.default_rng(0).uniform(0, 30, (18, 4, 2))
    other = write_png(tmp_path / "other.png", 5)
    with Project.create(tmp_path / "p", "C7-L5") as project:
        mine = write_png(tmp_path / "mine.png", 9)
        image_id = project.add_image(
            mine, width=32, height=64, sha256=load_image(mine).sha256, bit_depth=16
        )
        same_id = PredictionResult(
            image_id, "m", pts, None, 0.1, tiny_model, "C7-L5", image_path=other
        )
        unknown_id = PredictionResult(
            image_id + 5, "m", pts, None, 0.1, tiny_model, "C7-L5", image_path=other
        )
        assert store_result(project, same_id) is False
        assert store_result(project, unknown_id) is False
        assert project.models() == [] and project.prediction(image_id, "m") is None
        ours = PredictionResult(image_id, "m", pts, None, 0.1, tiny_model, "C7-L5", image_path=mine)
        assert store_result(project, ours) is True


def test_errors_reach_the_user_and_the_worker_keeps_serving(
    inference_service, qtbot, tmp_path, tiny_model
):
    rec = Recorder(inference_service)
    broken_model = tmp_path / "broken.safetensors"
    broken_model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    inference_service.set_model(broken_model)
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    image_id, message = rec.failures.pop()
    assert image_id == -1 and "broken.safetensors" in message

    inference_service.set_model(tiny_model)
    qtbot.waitUntil(lambda: bool(rec.loaded), timeout=WAIT_MS)
    bad_image = tmp_path / "scan.png"
    bad_image.write_bytes(b"this is not a picture")
    inference_service.request(7, bad_image)
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    image_id, message = rec.failures.pop()
    assert image_id == 7 and "scan.png" in message

    inference_service.set_model(broken_model)  # a failed reload keeps the working model
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    assert "stays in use" in rec.failures.pop()[1]

    inference_service.request(8, write_png(tmp_path / "good.png"))
    qtbot.waitUntil(lambda: bool(rec.results), timeout=WAIT_MS)
    assert rec.ids() == [8] and rec.results[0].model_version == "tiny-c7l5"
    assert inference_service.is_running


def test_a_model_for_another_spine_is_refused_at_load(inference_service, qtbot, tiny_model):
    rec = Recorder(inference_service)
    inference_service.set_model(tiny_model, expected_template="T1-L5")
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    assert "T1-L5" in rec.failures[0][1] and not rec.loaded


def test_without_a_model_requests_fail_with_advice(inference_service, qtbot, tmp_path):
    rec = Recorder(inference_service)
    inference_service.request(3, write_png(tmp_path / "a.png"))
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    assert rec.failures[0][0] == 3 and "Retrain" in rec.failures[0][1]
    inference_service.predict_all([(3, tmp_path / "a.png")])
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=WAIT_MS)
    assert rec.finished == [False] and rec.failures[-1][0] == -1
    assert not inference_service.batch_running


# ------------------------------------------------------------------ stand-in model


def test_out_of_memory_and_bugs_are_reported_and_the_next_image_still_works(stub, qtbot):
    service, predictor, rec, images = stub
    predictor.fail_next = MemoryError()
    service.request(1, images[1])
    qtbot.waitUntil(lambda: bool(rec.failures), timeout=WAIT_MS)
    assert rec.failures[0][0] == 1 and "memory" in rec.failures[0][1]
    predictor.fail_next = RuntimeError("CUDA error: device-side assert")  # a bug, not the user
    service.request(2, images[2])
    qtbot.waitUntil(lambda: len(rec.failures) == 2, timeout=WAIT_MS)
    assert "device-side assert" in rec.failures[1][1] and "report" in rec.failures[1][1]
    service.request(3, images[3])
    qtbot.waitUntil(lambda: bool(rec.results), timeout=WAIT_MS)
    assert rec.ids() == [3]


def test_the_newest_request_is_served_first_and_none_is_dropped(stub, qtbot):
    service, predictor, rec, images = stub
    predictor.hold()
    service.request(1, images[1])
    wait_entered(qtbot, predictor)
    service.request(2, images[2])
    service.request(3, images[3])
    service.request(2, images[2])  # asked again: moves to the front, predicted once
    predictor.release()
    qtbot.waitUntil(lambda: len(rec.results) == 3, timeout=WAIT_MS)
    assert rec.ids() == [1, 2, 3]
    assert all(not r.from_batch and r.model_version == "stub-1" for r in rec.results)


def test_event_loop_keeps_serving_timers_while_the_model_runs(stub, qtbot):
    service, predictor, rec, images = stub
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    predictor.hold()
    service.request(1, images[1])
    wait_entered(qtbot, predictor)
    timer.start()
    try:
        qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=WAIT_MS)
        assert rec.results == []  # the prediction is still running in the worker
        assert service.busy
    finally:
        timer.stop()
        predictor.release()
    qtbot.waitUntil(lambda: bool(rec.results), timeout=WAIT_MS)


def test_predict_all_reports_progress_and_survives_a_bad_file(stub, qtbot, tmp_path):
    service, _predictor, rec, images = stub
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    service.predict_all([(1, images[1]), (2, broken), (3, images[3])])
    assert service.batch_running
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=WAIT_MS)
    assert rec.finished == [True]
    assert rec.progress == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert rec.ids() == [1, 3] and all(r.from_batch for r in rec.results)
    assert rec.failures[0][0] == 2 and "broken.png" in rec.failures[0][1]
    qtbot.waitUntil(lambda: rec.busy[-2:] == [True, False], timeout=WAIT_MS)
    assert not service.busy
    assert not service.batch_running


def test_a_request_during_predict_all_is_served_before_the_rest(stub, qtbot):
    service, predictor, rec, images = stub
    predictor.hold()
    service.predict_all([(i, images[i]) for i in (1, 2, 3)])
    wait_entered(qtbot, predictor)
    service.request(6, images[6])
    predictor.release()
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=WAIT_MS)
    assert rec.ids() == [1, 6, 2, 3]
    assert [r.from_batch for r in rec.results] == [True, False, True, True]


def test_cancel_stops_the_batch_after_the_current_image(stub, qtbot):
    service, predictor, rec, images = stub
    predictor.hold()
    service.predict_all([(i, images[i]) for i in range(1, 7)])
    wait_entered(qtbot, predictor)
    service.cancel_batch()
    predictor.release()
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=WAIT_MS)
    assert rec.finished == [False]
    assert rec.ids() == [1] and predictor.calls == 1
    assert rec.progress[-1] == (1, 6)
    service.request(2, images[2])  # cancelling a batch leaves the worker ready
    qtbot.waitUntil(lambda: len(rec.results) == 2, timeout=WAIT_MS)


def test_a_new_batch_replaces_the_running_one(stub, qtbot):
    service, predictor, rec, images = stub
    predictor.hold()
    service.predict_all([(i, images[i]) for i in (1, 2, 3)])
    wait_entered(qtbot, predictor)
    service.predict_all([(4, images[4])])
    predictor.release()
    qtbot.waitUntil(lambda: len(rec.finished) == 2, timeout=WAIT_MS)
    assert rec.finished == [False, True]
    assert rec.ids() == [1, 4]
    assert not service.batch_running


def test_shutdown_mid_batch_joins_the_thread_and_silences_signals(stub, qtbot):
    service, predictor, rec, images = stub
    items = [(i % 6 + 1, images[i % 6 + 1]) for i in range(60)]
    predictor.hold()
    service.predict_all(items)
    wait_entered(qtbot, predictor)
    opener = threading.Timer(0.2, predictor.release)  # lets the running image finish
    opener.start()
    try:
        service.shutdown()
    finally:
        opener.join()
    assert not service.is_running
    assert predictor.calls < len(items)
    service.shutdown()  # idempotent
    service.request(1, images[1])  # ignored, starts nothing
    service.cancel_batch()
    for _ in range(5):
        QCoreApplication.processEvents()
    assert not service.is_running
    assert rec.results == [] and rec.finished == []


def test_shutdown_without_ever_starting_is_a_no_op(inference_service):
    assert not inference_service.is_running
    inference_service.shutdown()
    inference_service.shutdown()
    assert not inference_service.is_running


# ------------------------------------------------------------------ start-up cost

TORCH_FREE_STARTUP = """
import sys
from PySide6.QtCore import QCoreApplication
app = QCoreApplication([])
from spinegui.gui.inference import InferenceService
from spinegui.core.model_card import list_shipped_models, read_model_card
service = InferenceService()
card = read_model_card(sys.argv[1])
list_shipped_models()
service.shutdown()
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("spinegui.ml"))
assert not loaded, f"{len(loaded)} modules, first: {loaded[:3]}"
print(card["version"], card["template"])
"""


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh offscreen Python from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        timeout=120,
    )


def test_window_start_up_path_never_imports_torch(tiny_model):
    proc = _run_python(TORCH_FREE_STARTUP, str(tiny_model))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tiny-c7l5", "C7-L5"]


QUIT_WITHOUT_SHUTDOWN = """
import sys, threading
from types import SimpleNamespace
from PySide6.QtCore import QCoreApplication, QTimer
from spinegui.gui.inference import InferenceService
app = QCoreApplication([])
stub = SimpleNamespace(version="s", template="C7-L5", device_description="stub")
service = InferenceService(loader=lambda path, device, template: stub)
service.set_model("stub.safetensors")
service.modelLoaded.connect(lambda v, d: app.quit())
QTimer.singleShot(30_000, app.quit)
app.exec()
assert not service.is_running, "worker still running after the application quit"
print("stopped", threading.active_count())
"""


def test_quitting_the_application_stops_a_forgotten_worker():
    proc = _run_python(QUIT_WITHOUT_SHUTDOWN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["stopped", "1"]
