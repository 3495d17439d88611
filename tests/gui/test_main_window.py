"""The review window as a clinician uses it: open, look, correct, sign off, export.

Each test gets its own settings file and Inbox under tmp_path, so no test reads
or changes the user's real preferences, and every window's inference thread is
stopped when the window closes (checked in the fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
from PySide6.QtGui import QImage

from spinegui.core.store import Project
from spinegui.gui.settings import Settings

N_VERTEBRAE = 18  # the demo's C7-L5 template


def key(qtbot, window, sequence: str) -> None:
    """Press a shortcut the way a user does: a key event to the focused widget."""
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence)[0]
    target = window.focusWidget() or window
    qtbot.keyClick(target, combo.key(), combo.keyboardModifiers())


def wait_drawn(qtbot, window, image_id: int) -> None:
    qtbot.waitUntil(
        lambda: (
            window.current_id == image_id
            and window.canvas.overlay.box_count("prediction") == N_VERTEBRAE
        ),
        timeout=60_000,
    )


# ---------------------------------------------------------------------- opening


def test_opening_a_project_lists_its_images_with_their_status(window, demo_project):
    with Project.open(demo_project) as p:
        ids = [r.id for r in p.images()]
        p.set_status(ids[2], "reviewed")
    assert window.open_project(demo_project)
    statuses = {e.image_id: e.status for e in window.worklist.entries()}
    assert statuses == {
        ids[0]: "not_started",
        ids[1]: "not_started",
        ids[2]: "reviewed",
        ids[3]: "not_started",
    }
    assert window.worklist.visible_ids() == ids
    assert window.stack.currentWidget() is not window.welcome


def test_a_project_without_a_model_says_so(window, tmp_path, demo_project, monkeypatch):
    from spinegui.core import paths
    from spinegui.core.demo import build_demo_project

    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path / "none")  # nothing ships

    folder = build_demo_project(tmp_path / "bare", count=2, models_folder=tmp_path / "none")
    window.open_project(folder)
    assert window.canvas.overlay.box_count("truth") == N_VERTEBRAE
    assert window.model_label.text() == "No model yet"
    assert "No model yet" in window.notice.text()
    window.prediction.predict_all()
    assert not window.progress.isVisible()
    assert "No model" in window.statusBar().currentMessage()


def test_without_a_project_the_welcome_page_says_what_to_do(window):
    assert window.stack.currentWidget() is window.welcome
    assert "Try the demo" in window.welcome.buttons["demo"].text()
    assert not window.actions_["reviewed_next"].isEnabled()
    # Nothing to undo before anything was done (the toolbar showed both as clickable).
    assert not window.actions_["undo"].isEnabled()
    assert not window.actions_["redo"].isEnabled()


def test_selecting_an_image_draws_truth_green_and_prediction_red(qtbot, window, demo_project):
    window.open_project(demo_project)
    first, second = window.worklist.visible_ids()[:2]
    wait_drawn(qtbot, window, first)  # the first image opens by itself and is predicted
    assert window.canvas.overlay.box_count("truth") == N_VERTEBRAE

    window.worklist.view.selectRow(1)  # a click in the list
    assert window.current_id == second
    assert window.canvas.overlay.box_count("truth") == 0  # the demo's even images lack truth
    wait_drawn(qtbot, window, second)
    assert "Model" in window.model_label.text()
    with Project.open(demo_project) as p:
        assert p.prediction(second) is not None  # stored, not only drawn


# ---------------------------------------------------------------------- review


def test_mark_reviewed_and_next_moves_on_and_stores_the_status(qtbot, window, demo_project):
    window.open_project(demo_project)
    first, second = window.worklist.visible_ids()[:2]
    key(qtbot, window, "Ctrl+Return")
    assert window.current_id == second
    assert window.worklist.entry(first).status == "reviewed"
    with Project.open(demo_project) as p:
        assert p.image(first).status == "reviewed"


def test_next_and_previous_shortcuts(qtbot, window, demo_project):
    window.open_project(demo_project)
    ids = window.worklist.visible_ids()
    key(qtbot, window, "PgDown")
    assert window.current_id == ids[1]
    key(qtbot, window, "Ctrl+Right")
    assert window.current_id == ids[2]
    key(qtbot, window, "PgUp")
    assert window.current_id == ids[1]
    key(qtbot, window, "Ctrl+Left")
    assert window.current_id == ids[0]


def test_filter_and_sort_by_uncertainty(window, demo_project):
    with Project.open(demo_project) as p:
        ids = [r.id for r in p.images()]
        version = p.active_model().version
        pts = p.ground_truth(ids[0])
        for image_id, spread in zip(ids, (1.0, 9.0, None, 4.0), strict=True):
            s = None if spread is None else np.full((N_VERTEBRAE, 4), spread)
            p.set_prediction(image_id, version, pts, s)
        p.set_status(ids[3], "reviewed")
    window.open_project(demo_project)
    window.worklist.set_sort("uncertainty")
    assert window.worklist.visible_ids() == [ids[1], ids[3], ids[0], ids[2]]
    window.worklist.set_filter("todo")
    assert window.worklist.visible_ids() == [ids[1], ids[0], ids[2]]


def test_undo_redo_shortcuts_and_undo_across_images(qtbot, window, demo_project):
    window.open_project(demo_project)
    ids = window.worklist.visible_ids()
    window.show_image(ids[1])  # no truth yet
    wait_drawn(qtbot, window, ids[1])
    key(qtbot, window, "Shift+A")  # accept the whole prediction
    assert window.canvas.overlay.box_count("truth") == N_VERTEBRAE
    assert window.worklist.entry(ids[1]).status == "in_review"

    key(qtbot, window, "Ctrl+Z")
    assert window.canvas.overlay.box_count("truth") == 0
    key(qtbot, window, "Ctrl+Shift+Z")
    assert window.canvas.overlay.box_count("truth") == N_VERTEBRAE

    key(qtbot, window, "PgDown")
    assert window.current_id == ids[2]
    key(qtbot, window, "Ctrl+Z")  # the last change was on the previous image: show it
    assert window.current_id == ids[1]
    assert window.canvas.overlay.box_count("truth") == 0
    key(qtbot, window, "Ctrl+Y")
    with Project.open(demo_project) as p:
        assert p.ground_truth(ids[1]) is not None


def test_dragging_a_corner_is_stored_and_accepting_one_vertebra(qtbot, window, demo_project):
    window.open_project(demo_project)
    first = window.worklist.visible_ids()[0]
    wait_drawn(qtbot, window, first)
    with Project.open(demo_project) as p:
        truth = p.ground_truth(first)
    after = truth[5, 0] + (4.0, -3.0)
    window.canvas.cornerMoved.emit(5, 0, truth[5, 0], after)  # what a drag release sends
    with Project.open(demo_project) as p:
        np.testing.assert_allclose(p.ground_truth(first)[5, 0], after)
        pred = p.prediction(first).points
    window.canvas.select(7, -1)
    key(qtbot, window, "A")
    with Project.open(demo_project) as p:
        np.testing.assert_allclose(p.ground_truth(first)[7], pred[7])
    assert "T7" in window.session.history.undo_text()
    assert "T7" in window.actions_["undo"].text()  # the menu names the change


# ---------------------------------------------------------------------- exports


def test_export_png_and_pdf(window, demo_project, tmp_path):
    window.open_project(demo_project)
    png = window.export_png(tmp_path / "view.png")
    image = QImage(str(png))
    assert (image.width(), image.height()) == window.canvas.image_size()  # full resolution
    pdf = window.export_pdf(tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000  # the picture is embedded
    info = window.report_info()
    assert info.cobb_source.startswith("The ground truth")
    assert info.curves and all("°" in truth for _, truth, _ in info.curves)
    assert info.patient == []  # a PNG states no patient


# ------------------------------------------------------------------- settings


def test_recent_projects_are_remembered(window, demo_project, tmp_path):
    window.open_project(demo_project)
    window.close()
    again = Settings.at(tmp_path / "settings.ini")
    assert again.last_project() == demo_project
    assert again.window_geometry() is not None


def test_layer_toggles_hide_boxes_and_are_remembered(qtbot, window, demo_project, tmp_path):
    window.open_project(demo_project)
    key(qtbot, window, "G")
    assert not window.canvas.layer_visible("truth")
    assert not Settings.at(tmp_path / "settings.ini").layer_visible("truth")


# ---------------------------------------------------------------- robustness


def test_close_stops_the_inference_worker(qtbot, window, demo_project):
    window.open_project(demo_project)
    wait_drawn(qtbot, window, window.worklist.visible_ids()[0])
    assert window.inference.is_running
    window.prediction.predict_all()
    window.close()
    assert not window.inference.is_running


def test_corrupt_image_is_explained_and_the_app_stays_usable(
    window, tmp_path, no_dialogs, demo_project
):
    first, good = sorted((demo_project / "images").glob("*.png"))[:2]
    bad = tmp_path / "xrays" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(first.read_bytes())
    report = window.add_files([bad, good])  # no project open: goes to the Inbox
    assert window.project.folder == (tmp_path / "inbox").resolve()
    assert len(report.added) == 2
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)  # damaged after adding

    assert window.show_image(report.added[0]) is False
    assert no_dialogs and "broken.png" in no_dialogs[-1][0]
    assert "broken.png" in window.notice.text()
    assert window.show_image(report.added[1]) is True
    assert window.canvas.image_size() == (768, 1536)


def test_dropping_a_project_folder_opens_it(window, demo_project):
    window.open_paths([demo_project])
    assert window.project.folder == demo_project


def test_torch_is_not_imported_at_start_up(tmp_path):
    project = tmp_path / "p"
    script = textwrap.dedent(
        f"""
        import sys
        from spinegui.core.store import Project
        from spinegui.gui.app import make_app
        from spinegui.gui.main_window import MainWindow
        from spinegui.gui.settings import Settings
        Project.create({str(project)!r}, "C7-L5").close()
        app = make_app()
        w = MainWindow(Settings.at({str(tmp_path / "s.ini")!r}))
        w.show()
        assert w.open_project({str(project)!r})
        app.processEvents()
        w.close()
        print("torch" in sys.modules)
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_help_lists_the_shortcuts(window):
    from spinegui.gui.dialogs import ShortcutsDialog

    dialog = ShortcutsDialog(window)
    rows = {
        dialog.table.item(r, 2).text(): dialog.table.item(r, 1).text()
        for r in range(dialog.table.rowCount())
    }
    assert rows["Mark reviewed and next"].startswith("Ctrl+Return")
    assert "PgDown" in rows["Next image"]
    assert rows["Accept prediction for vertebra"] == "A"


def test_retrain_dock_follows_the_project_and_adopting_repredicts(
    qtbot, window, demo_project, tiny_model, tmp_path
):
    """The retrain panel sees the open project; an adopted model predicts the shown image."""
    import shutil

    window.open_project(demo_project)
    first = window.worklist.visible_ids()[0]
    wait_drawn(qtbot, window, first)
    assert window.retrain.project is window.project
    assert not window.retrain.is_running()

    # What Adopt does to the project, then the panel's signal.
    new_path = demo_project / "models" / "retrain-01.safetensors"
    shutil.copy(tiny_model, new_path)
    window.project.add_model("retrain-01", new_path, parent=window.project.active_model().version)
    window.project.set_active_model("retrain-01")
    assert window.project.prediction(first) is None  # nothing from the new model yet
    window.retrain.modelAdopted.emit("retrain-01", str(new_path))

    qtbot.waitUntil(lambda: window.project.prediction(first) is not None, timeout=60_000)
    assert window.project.prediction(first).model_version == "retrain-01"
    qtbot.waitUntil(window.is_settled, timeout=60_000)
    assert "retrain-01" in window.model_label.text()


def test_a_late_result_from_the_previous_project_is_ignored(qtbot, window, demo_project, tmp_path):
    """Ids restart per project: a result for another project's image is neither stored nor
    taken as the answer the shown image is waiting for, and an unknown id is no crash."""
    from spinegui.gui.inference import PredictionResult

    window.open_project(demo_project)
    first = window.worklist.visible_ids()[0]
    wait_drawn(qtbot, window, first)
    qtbot.waitUntil(window.is_settled, timeout=60_000)
    window.prediction.waiting_for = first  # as if its prediction were still running
    window.statusBar().clearMessage()

    def late(image_id):
        return PredictionResult(
            image_id=image_id,
            model_version="elsewhere",
            landmarks=np.zeros((N_VERTEBRAE, 4, 2)),
            spread=None,
            seconds=0.1,
            model_path=tmp_path / "elsewhere.safetensors",
            template="C7-L5",
            image_path=tmp_path / "other-project" / "x.png",
        )

    window.prediction.prediction_ready(late(first))
    window.prediction.prediction_ready(late(10_000))  # no such image here
    assert window.prediction.waiting_for == first
    assert window.project.prediction(first).model_version != "elsewhere"
    assert "Prediction ready" not in window.statusBar().currentMessage()


def test_a_batch_replaced_by_a_new_one_keeps_the_progress_shown(qtbot, window, demo_project):
    """Adopting a model starts "Predict all" again; the replaced batch ending must not
    hide the progress (or report the window settled) while the new batch still runs."""
    window.open_project(demo_project)
    wait_drawn(qtbot, window, window.worklist.visible_ids()[0])
    qtbot.waitUntil(window.is_settled, timeout=60_000)
    settled_when_finished = []
    window.inference.batchFinished.connect(
        lambda _ok: settled_when_finished.append(window.is_settled())
    )
    window.prediction.predict_all()
    window.prediction.predict_all()  # what adopting a model does while a batch runs
    qtbot.waitUntil(lambda: len(settled_when_finished) == 2, timeout=60_000)
    assert settled_when_finished == [False, True]
    assert not window.progress.isVisible()


def test_a_model_adopted_while_no_image_is_shown_is_no_crash(qtbot, window, demo_project):
    """The list filter survives a project switch and may hide every image; a model
    adopted (or rolled back) then has no image to redraw, and says so without a traceback."""
    window.worklist.set_filter("reviewed")  # nothing in the demo project is reviewed
    window.open_project(demo_project)
    assert window.current_id is None
    assert "filter" in window.notice.text()
    model = window.project.active_model()
    window.retrain.modelAdopted.emit(model.version, str(model.path))
    assert "now active" in window.notice.text()
    qtbot.waitUntil(window.is_settled, timeout=60_000)


def test_an_image_changed_on_disk_is_flagged_not_silently_reused(window, demo_project):
    import cv2

    window.open_project(demo_project)
    first = window.worklist.visible_ids()[0]
    path = window.project.image(first).path
    window.show_image(first)
    assert "changed on disk" not in window.notice.text()
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), pixels[:, ::-1])  # same size, other content
    window.show_image(first)
    assert "changed on disk" in window.notice.text()
    assert window.project.ground_truth(first) is not None  # nothing was thrown away


def test_image_actions_wait_for_an_image(window, demo_project):
    for key in ("invert", "fit", "export_pdf", "accept_all"):
        assert not window.actions_[key].isEnabled(), key
    window.open_project(demo_project)
    for key in ("invert", "fit", "export_pdf", "accept_all"):
        assert window.actions_[key].isEnabled(), key
