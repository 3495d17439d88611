"""The README's pictures of the review window, from the real window on real projects.

Two screen sizes (1366 x 768, the smallest laptop screen still common in
clinics, and 1920 x 1080), on the demo project and on larger phantoms whose
truth and prediction are both shown, with the uncertainty layer on and off;
then the Retrain panel after an actual short retrain of the demo model.
Everything runs in temporary folders with its own settings; the shipped
models predict. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/make_gui_screenshots.py

Writes resources/screenshots/*.png and prints what each one shows.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "resources" / "screenshots"
SIZES = ((1366, 768), (1920, 1080))
RETRAIN_EPOCHS = 3


def wait(app, done, timeout_s: float = 120.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if done():
            for _ in range(5):
                app.processEvents()
            return True
        time.sleep(0.02)
    return False


def phantom_project(folder: Path) -> Path:
    """Four 2048 x 1024 phantoms with their exact truth, predicted by the shipped model."""
    import cv2
    import numpy as np

    from spinegui.core.imageio import file_sha256
    from spinegui.core.model_card import register_shipped_model
    from spinegui.core.phantom import batch_seeds, generate_phantom
    from spinegui.core.store import Project

    with Project.create(folder / "project", "C7-L5") as project:
        for i, seed in enumerate(batch_seeds(7, 4)):
            ph = generate_phantom("C7-L5", seed, size=(2048, 1024))
            path = folder / f"phantom_{i + 1:02d}.png"
            cv2.imwrite(str(path), np.clip(ph.image * 65535, 0, 65535).astype(np.uint16))
            image_id = project.add_image(
                path, width=1024, height=2048, sha256=file_sha256(path), bit_depth=16
            )
            project.set_ground_truth(image_id, ph.landmarks, source="import", kind="import")
        register_shipped_model(project)
    return folder / "project"


def predicted(window):
    return lambda: window.canvas.overlay.box_count("prediction") > 0


def shoot(window, app, path: Path, what: str) -> None:
    wait(app, window.is_settled)
    window.grab().toImage().save(str(path), "PNG", 0)  # 0: smallest file
    print(f"{path.relative_to(REPO)}: {what}")


def main() -> None:
    from spinegui.core.demo import build_demo_project
    from spinegui.gui.app import make_app
    from spinegui.gui.main_window import MainWindow
    from spinegui.gui.settings import Settings

    app = make_app()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo = build_demo_project(tmp / "demo")
        phantoms = phantom_project(tmp / "phantoms")
        for w, h in SIZES:
            window = MainWindow(Settings.at(tmp / f"settings_{w}.ini"), inbox=tmp / "inbox")
            window.resize(w, h)
            window.show()
            window.open_project(demo)
            wait(app, predicted(window))
            what = f"demo project at {w}x{h}, truth and prediction, uncertainty on"
            shoot(window, app, OUT / f"demo_{w}x{h}.png", what)
            window.open_project(phantoms)
            wait(app, predicted(window))
            window.actions_["cobb_both"].trigger()
            what = f"2048 x 1024 phantom at {w}x{h}, both sets of Cobb lines, uncertainty on"
            shoot(window, app, OUT / f"phantom_{w}x{h}.png", what)
            window.actions_["layer_uncertainty"].trigger()
            what = "the same with the uncertainty layer off"
            shoot(window, app, OUT / f"phantom_{w}x{h}_no_uncertainty.png", what)
            window.actions_["layer_uncertainty"].trigger()
            window.actions_["cobb_truth"].trigger()
            window.close()

        # The Retrain panel after a run: the demo's images with truth, signed off.
        window = MainWindow(Settings.at(tmp / "settings_retrain.ini"), inbox=tmp / "inbox")
        window.resize(1920, 1080)
        window.show()
        window.open_project(demo)
        for entry in list(window.session.worklist.entries.values()):
            if entry.has_truth:
                window.project.set_status(entry.image_id, "reviewed")
        panel = window.retrain
        panel.show()
        panel.raise_()
        panel.refresh()
        panel.settings_box.epochs_spin.setValue(RETRAIN_EPOCHS)
        panel.settings_box.device_combo.setCurrentIndex(
            panel.settings_box.device_combo.findData("cpu")
        )
        if not panel.start_retrain():
            raise SystemExit(f"retrain did not start: {panel.message_label.text()}")
        if not wait(app, lambda: not panel.is_running(), timeout_s=900):
            raise SystemExit("retrain did not finish in 15 minutes")
        panel.scroll_area.ensureWidgetVisible(panel.result_box)
        what = f"the Retrain panel after a {RETRAIN_EPOCHS}-epoch retrain of the demo model"
        shoot(window, app, OUT / "retrain_1920x1080.png", what)
        window.resize(1366, 768)
        panel.scroll_area.ensureWidgetVisible(panel.progress_box.plots["total"])
        what = "the same run at 1366x768, scrolled to the loss curves"
        shoot(window, app, OUT / "retrain_1366x768.png", what)
        panel.discard()
        window.close()


if __name__ == "__main__":
    main()
