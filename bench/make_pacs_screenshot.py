"""The README's "Open from PACS" picture: the real dialog searching a real Orthanc.

Starts the test Orthanc (tests/pacs/orthanc.py) in a temporary folder, uploads
synthetic DX studies with invented patients, searches, waits for the
thumbnails and saves the dialog. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/make_pacs_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(out: Path = REPO / "resources" / "screenshot_pacs.png") -> None:
    from pydicom.uid import generate_uid
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from spinegui.core.store import Project
    from spinegui.gui.pacs_dialog import OpenFromPacsDialog
    from spinegui.pacs.config import ServerConfig
    from spinegui.pacs.credentials import Credentials
    from tests.pacs import orthanc
    from tests.pacs.dx import make_dx

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        server = orthanc.OrthancServer(Path(tmp) / "orthanc")
        server.start()
        try:
            patients = [
                ("DEMO-0042", "MOREAU^LEA", "20240312", 2),
                ("DEMO-0042", "MOREAU^LEA", "20231108", 1),
                ("DEMO-0107", "MORENO^PABLO", "20240220", 1),
            ]
            for k, (pid, name, date, series_count) in enumerate(patients):
                study = generate_uid()
                for s in range(series_count):
                    dx = make_dx(
                        patient_id=pid,
                        patient_name=name,
                        study_date=date,
                        accession=f"ACC{7310 + k}",
                        study_uid=study,
                        series_uid=generate_uid(),
                        seed=10 * k + s + 1,
                    )
                    dx.dataset.SeriesNumber = s + 1
                    dx.dataset.SeriesDescription = ("AP standing", "AP bending left")[s]
                    server.upload(dx.to_bytes())
            config = ServerConfig(
                url=server.dicomweb_url, auth="basic", username=orthanc.USER
            ).checked()
            creds = Credentials(backend=None)
            creds.remember(config, orthanc.PASSWORD, persist=False)
            project = Project.create(Path(tmp) / "project", "C7-L5")
            dialog = OpenFromPacsDialog(lambda: project, config=config, credentials=creds)
            dialog.resize(1000, 560)
            dialog.show()
            dialog.patient_name.setText("mor")
            dialog.search()
            wait(app, lambda: dialog.busy is None and dialog.tree.topLevelItemCount() == 3)
            rows = dialog.series_items()
            wait(app, lambda: all(not r.icon(0).isNull() for r in rows))
            rows[0].setCheckState(0, Qt.CheckState.Checked)
            rows[1].setCheckState(0, Qt.CheckState.Checked)
            app.processEvents()
            dialog.grab().save(str(out))
            dialog.stop_jobs()
            project.close()
        finally:
            server.stop()
    print(f"Saved {out}")


def wait(app, condition, timeout_s: float = 30.0) -> None:
    import time

    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the dialog did not finish in time")
        app.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    main()
