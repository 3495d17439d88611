"""The Retrain panel end to end: a real ``spinegui train`` child at the tiny preset.

The project holds phantom X-rays whose active model is the session's tiny
C7-L5 checkpoint (tests/gui/conftest.py), so "improve the current model" is
the path exercised, as for a user. Every panel is shut down in teardown,
which cancels and waits for any trainer still running.
"""

from __future__ import annotations

import sys
import time

import pytest

from spinegui.core.store import Project
from spinegui.gui.model_history import ModelHistoryDialog, describe_model
from spinegui.gui.retrain_panel import RetrainPanel, format_eta
from tests.core.test_splits import add_phantoms, make_project

RUN_TIMEOUT_MS = 180_000  # a limit for a hung child, not a speed expectation
BASE = "shipped-tiny"


@pytest.fixture
def project(tmp_path, tiny_model):
    folder = make_project(tmp_path, 6)
    p = Project.open(folder)
    p.add_model(BASE, tiny_model, card={"preset": "tiny", "template": "C7-L5"})
    p.set_active_model(BASE)
    yield p
    p.close()


@pytest.fixture
def panel(qtbot):
    made = []

    def make(project=None):
        w = RetrainPanel()
        qtbot.addWidget(w)
        w.set_project(project)
        w.settings_box.epochs_spin.setValue(1)
        w.settings_box.device_combo.setCurrentIndex(w.settings_box.device_combo.findData("cpu"))
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()
        assert not w.is_running()


def _wait_done(qtbot, w):
    qtbot.waitUntil(lambda: not w.is_running(), timeout=RUN_TIMEOUT_MS)


def _model_files(project):
    return sorted(p.name for p in project.models_dir.iterdir())


def test_too_little_data_says_how_much_more_is_needed(qtbot, panel, tmp_path):
    folder = make_project(tmp_path, 2, n_unreviewed=3)
    with Project.open(folder) as p:
        w = panel(p)
        assert not w.retrain_button.isEnabled()
        assert w.shortage_label.isVisibleTo(w)
        assert "review 3 more images" in w.shortage_label.text()
        assert "3 image(s) have landmarks but are not marked reviewed" in w.data_label.text()
        assert w.start_retrain() is False
        assert not w.is_running()
        add_phantoms(p, folder.parent / "images", 3)
        w.refresh()
        assert w.retrain_button.isEnabled() and not w.shortage_label.isVisibleTo(w)


def test_panel_without_a_project_explains_itself(panel):
    w = panel(None)
    assert "Open a project" in w.data_label.text()
    assert not w.retrain_button.isEnabled() and not w.history_button.isEnabled()
    assert w.start_retrain() is False


def _message_on_screen(w) -> bool:
    """The panel's message lies inside the visible part of its scroll area."""
    viewport = w.scroll_area.viewport()
    top = w.message_label.mapTo(viewport, w.message_label.rect().topLeft()).y()
    return w.message_label.isVisible() and 0 <= top < viewport.height()


def test_retrain_then_adopt_changes_the_active_model(qtbot, panel, project):
    w = panel(project)
    w.resize(380, 480)  # a dock at 1366 x 768: the panel scrolls
    w.show()
    assert "6</b> reviewed images" in w.data_label.text()
    assert w.settings().start == "active" and not w.settings_box.preset_combo.isEnabled()
    assert w.settings_box.preset_combo.currentData() == "tiny"  # the parent's size
    assert w.start_retrain() is True
    assert w.is_running() and not w.retrain_button.isEnabled()
    assert w.start_retrain() is False  # a second run is refused while one runs
    assert "already running" in w.message_label.text()
    _wait_done(qtbot, w)

    assert w.result_box.isVisibleTo(w), (
        w.message_label.text() + w.progress_box.log_view.toPlainText()
    )
    assert project.active_model().version == BASE  # nothing changes before Adopt
    assert [m.version for m in project.models()] == [BASE]
    val_ids = {r.id for r in project.images() if r.split == "val"}
    assert len(val_ids) == 1
    result = w.result_box
    assert f"Current:</b> {BASE}" in result.models_label.text()
    assert "New:</b> retrain-01" in result.models_label.text()
    rows = result.texts()
    assert rows[0][0].startswith("Main Cobb angle error")  # the clinician's figure leads
    assert rows[0][1] != "-" and rows[0][2] != "-"
    # angle error, within 5 and 10 deg, bias, tilt, mean and median corner error,
    # SMAPE, r, then every vertebra's corner and tilt error (no pixel spacing: no mm rows)
    assert len(rows) == 9 + 2 * 18  # one validation image: no slope of angles to fit
    assert "1 validation image" in result.mix_label.text()
    assert len(w.progress_box.curves["total"]["train"].getData()[0]) == 1
    assert not w.retrain_button.isEnabled()  # choose first

    with qtbot.waitSignal(w.modelAdopted, timeout=5000) as blocker:
        assert w.adopt() is True
    version, path = blocker.args
    assert version == "retrain-01" and path.endswith("retrain-01.safetensors")
    active = project.active_model()
    assert active.version == "retrain-01" and active.parent == BASE
    card = active.card
    assert card["parent"] == BASE and card["data_fingerprint"]
    assert card["settings"]["alpha"] == 0.01 and card["settings"]["epochs"] == 1
    assert card["comparison"]["current"]["version"] == BASE
    assert w.retrain_button.isEnabled()
    # The choice is made at the bottom; what happened is said at the top, scrolled to.
    qtbot.waitUntil(lambda: _message_on_screen(w), timeout=5000)

    # A second retrain after more reviews: validation keeps its image and only grows.
    add_phantoms(project, project.folder.parent / "images", 4)
    w.refresh()
    assert "kept from earlier retrains" in w.split_label.text()
    assert w.start_retrain() is True
    _wait_done(qtbot, w)
    assert w.result_box.isVisibleTo(w), w.progress_box.log_view.toPlainText()
    assert "Current:</b> retrain-01" in w.result_box.models_label.text()
    assert val_ids <= {r.id for r in project.images() if r.split == "val"}
    w.scroll_area.verticalScrollBar().setValue(w.scroll_area.verticalScrollBar().maximum())
    assert not _message_on_screen(w)
    w.discard()
    assert project.active_model().version == "retrain-01"
    assert "retrain-02.safetensors" not in _model_files(project)
    assert "Kept the current model" in w.message_label.text()
    qtbot.waitUntil(lambda: _message_on_screen(w), timeout=5000)


def test_adopt_refuses_a_candidate_file_replaced_after_the_run(qtbot, panel, project):
    """Another program wrote over the finished run's file: it is not adopted under its name."""
    w = panel(project)
    assert w.start_retrain() is True
    _wait_done(qtbot, w)
    assert w.result_box.isVisibleTo(w), w.progress_box.log_view.toPlainText()
    out = project.models_dir / "retrain-01.safetensors"
    out.write_bytes(project.active_model().path.read_bytes())  # another model, same name
    assert w.adopt() is False
    assert "no longer the model this run trained" in w.message_label.text()
    assert project.active_model().version == BASE
    assert [m.version for m in project.models()] == [BASE]


def test_cancel_leaves_the_active_model_alone(qtbot, panel, project):
    w = panel(project)
    w.settings_box.epochs_spin.setValue(500)
    assert w.start_retrain()
    qtbot.waitUntil(
        lambda: w._run is not None and len(w._run.points["step"]["total"][0]) > 0,
        timeout=RUN_TIMEOUT_MS,
    )
    w.cancel()
    _wait_done(qtbot, w)
    assert "cancelled" in w.message_label.text() and "unchanged" in w.message_label.text()
    assert not w.result_box.isVisibleTo(w)
    assert project.active_model().version == BASE
    assert [m.version for m in project.models()] == [BASE]
    assert _model_files(project) == []  # the candidate's files are gone
    assert w.retrain_button.isEnabled()


def test_a_trainer_that_rejects_its_options_leaves_a_clear_message(
    qtbot, panel, project, monkeypatch
):
    w = panel(project)
    real = w._build_command

    def bogus(settings, out):
        program, args = real(settings, out)
        return program, [*args, "--no-such-option"]

    monkeypatch.setattr(w, "_build_command", bogus)
    assert w.start_retrain()
    _wait_done(qtbot, w)
    text = w.message_label.text()
    assert "could not start" in text and "no-such-option" in text
    assert "unchanged" in text
    assert project.active_model().version == BASE
    assert "--no-such-option" in w.progress_box.log_view.toPlainText()


def test_a_crashing_trainer_leaves_the_active_model_alone(qtbot, panel, project, monkeypatch):
    w = panel(project)
    script = (
        "import os, signal, sys\n"
        'print(\'{"event": "start", "epochs": 1, "start_epoch": 1, '
        '"steps_per_epoch": 1, "train_images": 5, "val_images": 1, "device": "cpu", '
        '"arch": "integral", "template": "C7-L5", "preset": "tiny"}\', flush=True)\n'
        "open(sys.argv[1], 'wb').write(b'half a model')\n"
        "print('Fatal Python error: Segmentation fault', file=sys.stderr, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    monkeypatch.setattr(
        w, "_build_command", lambda settings, out: (sys.executable, ["-c", script, str(out)])
    )
    assert w.start_retrain()
    _wait_done(qtbot, w)
    text = w.message_label.text()
    assert "stopped unexpectedly" in text and "unchanged" in text
    assert "Segmentation fault" in text
    assert project.active_model().version == BASE
    assert _model_files(project) == []  # the half-written candidate was removed


def test_model_history_rolls_back_and_the_panel_passes_it_on(qtbot, panel, project, tiny_model):
    project.add_model("retrain-01", tiny_model, card={"parent": BASE}, parent=BASE)
    project.set_active_model("retrain-01")
    w = panel(project)
    dialog = ModelHistoryDialog(project, w)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 0).text() == "retrain-01"  # newest first
    assert dialog.table.item(0, 1).text() == "in use"
    assert not dialog.use_button.isEnabled()  # the active one is selected
    dialog.select_version(BASE)
    assert dialog.use_button.isEnabled()
    assert "Started from: nothing" in dialog.details.toPlainText()
    dialog.modelActivated.connect(w._on_history_activated)
    with qtbot.waitSignal(w.modelAdopted, timeout=5000) as blocker:
        assert dialog.activate_selected() is True
    assert blocker.args[0] == BASE
    assert project.active_model().version == BASE
    assert dialog.table.item(1, 1).text() == "in use"


def test_model_history_refuses_a_model_whose_file_is_gone(qtbot, project, tmp_path):
    project.add_model("lost", tmp_path / "gone.safetensors", card={})
    dialog = ModelHistoryDialog(project)
    qtbot.addWidget(dialog)
    dialog.select_version("lost")
    assert "(MISSING)" in describe_model(dialog.selected())
    assert dialog.activate_selected() is False
    assert "missing" in dialog.message.text()
    assert project.active_model().version == BASE


def test_eta_reads_like_a_person_would_say_it():
    assert format_eta(None) == "estimating time left…"
    assert format_eta(0.2) == "about 1 s left"
    assert format_eta(130) == "about 2 min 10 s left"
    assert format_eta(7300) == "about 2 h 01 min left"


def test_progress_appears_only_once_a_run_starts(qtbot, panel, project, monkeypatch):
    w = panel(project)
    assert not w.progress_box.isVisibleTo(w)
    monkeypatch.setattr(w, "_build_command", lambda settings, out: (sys.executable, ["-c", "pass"]))
    assert w.start_retrain()
    assert w.progress_box.isVisibleTo(w)
    _wait_done(qtbot, w)
    assert "without a new model" in w.message_label.text() or "unchanged" in w.message_label.text()
    assert project.active_model().version == BASE


def test_learning_rate_follows_the_start_choice_until_the_user_sets_one(panel, project):
    from spinegui.ml.retrain import FINE_TUNE_LR, PAPER_LR

    w = panel(project)
    assert w.settings().start == "active"
    assert w.settings_box.lr_spin.value() == pytest.approx(FINE_TUNE_LR)
    w.settings_box.start_combo.setCurrentIndex(w.settings_box.start_combo.findData("scratch"))
    assert w.settings_box.lr_spin.value() == pytest.approx(PAPER_LR)
    w.settings_box.lr_spin.setValue(0.0003)  # a choice of the user's survives switching back
    w.settings_box.start_combo.setCurrentIndex(w.settings_box.start_combo.findData("active"))
    assert w.settings_box.lr_spin.value() == pytest.approx(0.0003)
    assert "custom" in w.settings_box.summary_label.text()


def test_restoring_the_defaults_keeps_the_current_models_fixed_size(panel, project):
    w = panel(project)
    assert (
        w.settings_box.preset_combo.currentData() == "tiny"
        and not w.settings_box.preset_combo.isEnabled()
    )
    w.settings_box.defaults_button.click()
    assert w.settings_box.preset_combo.currentData() == "tiny"  # what the run will use, not "fast"
    assert "tiny size" in w.settings_box.summary_label.text()


def test_the_last_settings_come_back_with_the_project(qtbot, panel, project):
    w = panel(project)
    w.settings_box.alpha_spin.setValue(0.05)
    w.settings_box.batch_spin.setValue(2)
    assert w.start_retrain() is True
    _wait_done(qtbot, w)
    w.discard()

    again = panel(None)
    again.set_project(project)
    assert again.settings_box.alpha_spin.value() == pytest.approx(0.05)
    assert again.settings_box.batch_spin.value() == 2
    assert again.settings_box.epochs_spin.value() == 1
    assert "custom" in again.settings_box.summary_label.text()


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset to set a time zone")
def test_model_history_gives_times_on_the_readers_clock(qtbot, project, monkeypatch):
    """It showed the stored UTC time ('2026-12-01 05:25:33+00:00') as if it were local."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no summer time
    time.tzset()
    try:
        project.add_model(
            "made", project.active_model().path, card={"created": "2025-03-01T08:00:00+00:00"}
        )
        dialog = ModelHistoryDialog(project)
        qtbot.addWidget(dialog)
        dialog.select_version("made")
        row = [
            r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == "made"
        ]
        assert dialog.table.item(row[0], 2).text() == "2025-03-01 13:30"
        assert "Created: 2025-03-01 13:30" in describe_model(dialog.selected())
    finally:
        monkeypatch.undo()
        time.tzset()
