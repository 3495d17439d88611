"""The project store: one folder per project, one SQLite file, every edit durable.

See ``project.py`` for the concurrency model, ``db.py`` for the durability
choice and ``schema.py`` for the layout and its migrations.
"""

from spinegui.core.store.annotations import ANY
from spinegui.core.store.files import file_sha256
from spinegui.core.store.project import DB_NAME, MODELS_DIR, Project
from spinegui.core.store.records import (
    GROUND_TRUTH_KINDS,
    SOURCES,
    SPLITS,
    STATUSES,
    Edit,
    FileProblem,
    ImageRecord,
    ModelRecord,
    Prediction,
)

__all__ = [
    "ANY",
    "DB_NAME",
    "GROUND_TRUTH_KINDS",
    "MODELS_DIR",
    "SOURCES",
    "SPLITS",
    "STATUSES",
    "Edit",
    "FileProblem",
    "ImageRecord",
    "ModelRecord",
    "Prediction",
    "Project",
    "file_sha256",
]
