"""What the window remembers between sessions: recent projects, layout, layer choices.

A thin typed layer over QSettings so that keys and value types live in one
place (QSettings hands back strings from INI files and lists of one item as a
bare string). Tests pass their own QSettings file under tmp_path, so a test
run never reads or overwrites the clinician's real preferences.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "spinegui"
APPLICATION = "spinegui"
MAX_RECENT = 8


class Settings:
    """Remembered preferences; every setter writes through immediately."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

    @classmethod
    def at(cls, ini_path: str | Path) -> Settings:
        """Settings kept in one INI file, for tests and portable installs."""
        return cls(QSettings(str(ini_path), QSettings.Format.IniFormat))

    # ------------------------------------------------------------ recent projects

    def recent_projects(self) -> list[Path]:
        """Most recent first; folders that vanished since are dropped."""
        value = self.q.value("recent/projects", [])
        if isinstance(value, str):
            value = [value] if value else []
        paths = [Path(v) for v in value or []]
        return [p for p in paths if (p / "project.sqlite").is_file()]

    def add_recent_project(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        items = [folder, *(p for p in self.recent_projects() if p != folder)]
        self.q.setValue("recent/projects", [str(p) for p in items[:MAX_RECENT]])
        self.q.sync()

    def last_project(self) -> Path | None:
        recent = self.recent_projects()
        return recent[0] if recent else None

    # -------------------------------------------------------------------- layout

    def window_geometry(self) -> QByteArray | None:
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.q.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)
        self.q.sync()

    # -------------------------------------------------------------------- layers

    def layer_visible(self, name: str, default: bool = True) -> bool:
        return _as_bool(self.q.value(f"layers/{name}", default), default)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.q.setValue(f"layers/{name}", bool(visible))

    def cobb_source(self) -> str:
        """Whose Cobb lines are drawn: "truth", "prediction" or "both"."""
        value = str(self.q.value("view/cobb_lines", "truth"))
        return value if value in ("truth", "prediction", "both") else "truth"

    def set_cobb_source(self, source: str) -> None:
        self.q.setValue("view/cobb_lines", source)

    # ------------------------------------------------------------------- dialogs

    def last_folder(self) -> str:
        """Where file dialogs start, so a clinician is not sent back to $HOME each time."""
        return str(self.q.value("dialogs/last_folder", str(Path.home())))

    def set_last_folder(self, folder: Path) -> None:
        self.q.setValue("dialogs/last_folder", str(folder))


def _as_bool(value, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    if value is None:
        return default
    return bool(value)
