"""Fixtures shared by the GUI tests: a real tiny model, a demo project, inference services.

The model is trained for real (one epoch on a few phantoms at the tiny
preset) once per session, so GUI tests exercise the same checkpoint format,
loader and metadata a user's model has, at a cost of about two seconds.
Every inference service made here is shut down in teardown: Qt tests hang or
crash when a worker thread outlives its objects.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A C7-L5 checkpoint trained for one epoch; its folder holds nothing else."""
    from spinegui.ml.data import synthetic_dataset
    from spinegui.ml.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("shipped_models")
    out = folder / "tiny-c7l5.safetensors"
    data = synthetic_dataset("C7-L5", 6, seed=0, preset="tiny", size=(256, 128))
    config = TrainConfig(
        template="C7-L5",
        preset="tiny",
        epochs=1,
        device="cpu",
        amp=False,
        seed=0,
        out=str(out),
    )
    result = train(config, data.subset(range(4)), data.subset(range(4, 6)))
    assert result.checkpoint == out and out.is_file(), result.message
    return out


@pytest.fixture
def demo_project(tmp_path, tiny_model) -> Path:
    """Folder of a 4-image demo project (2 with truth) whose active model is ``tiny_model``."""
    from spinegui.core.demo import build_demo_project

    return build_demo_project(tmp_path / "demo", count=4, models_folder=tiny_model.parent)


@pytest.fixture
def make_inference_service(qapp):
    """Factory for InferenceService objects (keyword arguments passed on), all shut down after."""
    from spinegui.gui.inference import InferenceService

    made = []

    def make(**kwargs):
        service = InferenceService(**kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        service.shutdown()
        assert not service.is_running


@pytest.fixture
def inference_service(make_inference_service):
    """An InferenceService on the CPU with no model loaded yet."""
    return make_inference_service(device="cpu")


@pytest.fixture
def make_window(qtbot, tmp_path, make_inference_service):
    made = []

    def make(settings_file: str = "settings.ini"):
        from spinegui.gui.main_window import MainWindow
        from spinegui.gui.settings import Settings

        service = make_inference_service(device="cpu")
        window = MainWindow(
            Settings.at(tmp_path / settings_file), inference=service, inbox=tmp_path / "inbox"
        )
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
        assert not window.inference.is_running


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def no_dialogs(monkeypatch):
    """Record message boxes instead of blocking on them."""
    shown = []

    def fake_exec(box):
        shown.append((box.text(), box.informativeText()))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return shown
