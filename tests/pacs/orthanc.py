"""A throw-away Orthanc with its DICOMweb plugin, for tests against a real DICOM server.

Listens on 127.0.0.1 only, on a free port, with HTTP basic auth on and its
DICOM (DIMSE) port off; storage lives in a temporary folder. ``stop`` and
``start`` may be called again on the same storage to simulate an outage.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER = "clinician"
PASSWORD = "correct-horse-battery-42"
READY_TIMEOUT_S = 30.0


def missing_reason() -> str | None:
    """Why Orthanc tests cannot run here, or None when they can."""
    if not Path(ORTHANC).is_file():
        return "Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it)"
    if not DICOMWEB_PLUGIN.is_file():
        return "Orthanc's DICOMweb plugin is missing (Debian package 'orthanc-dicomweb')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.folder / "orthanc.log"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.root}/dicom-web"

    def start(self) -> None:
        storage = self.folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "spinegui-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "HttpThreadsCount": 4,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        config_path = self.folder / "orthanc.json"
        config_path.write_text(json.dumps(config))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [ORTHANC, str(config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.root}/system", auth=(USER, PASSWORD), timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    # ------------------------------------------------------------- REST helpers

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(
            method, f"{self.root}{path}", auth=(USER, PASSWORD), timeout=30, **kwargs
        )
        response.raise_for_status()
        return response

    def upload(self, data: bytes) -> None:
        self.rest("POST", "/instances", data=data)

    def orthanc_id(self, uid: str) -> str:
        found = self.rest("POST", "/tools/lookup", data=uid).json()
        assert found, f"{uid} is not on the server"
        return found[0]["ID"]

    def delete_instance(self, sop_uid: str) -> None:
        self.rest("DELETE", f"/instances/{self.orthanc_id(sop_uid)}")

    def instances_of_study(self, study_uid: str) -> list[dict]:
        return self.rest("GET", f"/studies/{self.orthanc_id(study_uid)}/instances").json()
