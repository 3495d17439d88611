"""What retraining needs from a project: registered models and locked splits.

The trainer process and the GUI's model panel use these; the split lock lives
here because it protects every later model's validation numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spinegui.core.errors import StoreError
from spinegui.core.store.db import decoding, unknown_image, unknown_model, utc_now
from spinegui.core.store.files import relative_inside
from spinegui.core.store.records import SPLITS, ModelRecord

if TYPE_CHECKING:
    from spinegui.core.store.project import Project

_MODEL_SELECT = "SELECT version, path, card, created, parent, active FROM models"


class TrainingMixin:
    """The models-and-splits part of ``Project`` (split out only to keep modules short)."""

    # -------------------------------------------------------------------- splits

    def assign_split(self: Project, image_ids: Iterable[int], split: str) -> int:
        """Assign images to "train" or "val" for good; returns how many were new.

        Assignments are permanent: a validation image used for training would
        flatter every later model, and a training image moved to validation
        would too. Asking to move any image raises and assigns none.
        """
        if split not in SPLITS:
            raise StoreError(f"Unknown split {split!r}.", f"Use one of {', '.join(SPLITS)}.")
        ids = list(dict.fromkeys(int(i) for i in image_ids))
        with self._write("assign the split") as conn:
            current = {}
            for image_id in ids:
                row = conn.execute("SELECT split FROM images WHERE id = ?", (image_id,)).fetchone()
                if row is None:
                    raise unknown_image(image_id)
                current[image_id] = row[0]
            locked = [i for i, s in current.items() if s is not None and s != split]
            if locked:
                raise StoreError(
                    f"Images {', '.join(map(str, locked))} already belong to another split.",
                    "Split assignments are permanent so validation stays unseen; leave "
                    "those images out.",
                )
            new = [i for i, s in current.items() if s is None]
            for image_id in new:
                conn.execute("UPDATE images SET split = ? WHERE id = ?", (split, image_id))
                self._log(conn, image_id, "split", before=None, after=split)
        return len(new)

    def split_of(self: Project, image_id: int) -> str | None:
        return self.image(image_id).split

    # -------------------------------------------------------------------- models

    def add_model(
        self: Project,
        version: str,
        path: str | Path,
        *,
        card: dict[str, Any] | None = None,
        parent: str | None = None,
        created: str | None = None,
    ) -> ModelRecord:
        """Register a checkpoint; a relative ``path`` is relative to the project folder."""
        if not version or not isinstance(version, str):
            raise StoreError("A model needs a non-empty version name.", "Name the model.")
        p = Path(path).expanduser()
        p = (p if p.is_absolute() else self.folder / p).resolve()
        try:
            card_json = json.dumps(card or {}, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"The model card of {version} cannot be saved: {exc}.",
                "Keep the card to numbers, strings, lists and dicts.",
            ) from exc
        with self._write("register the model") as conn:
            if conn.execute("SELECT 1 FROM models WHERE version = ?", (version,)).fetchone():
                raise StoreError(
                    f"A model named {version} is already registered.",
                    "Give the new model another version name.",
                )
            if (
                parent is not None
                and not conn.execute("SELECT 1 FROM models WHERE version = ?", (parent,)).fetchone()
            ):
                raise unknown_model(parent)
            conn.execute(
                "INSERT INTO models (version, path, card, created, parent) VALUES (?,?,?,?,?)",
                (
                    version,
                    relative_inside(p, self.folder) or str(p),
                    card_json,
                    created or utc_now(),
                    parent,
                ),
            )
            conn.execute("DELETE FROM model_reservations WHERE version = ?", (version,))
            self._log(conn, None, "add_model", after=version)
        return self.model(version)

    def reserve_model_version(self: Project, prefix: str = "retrain-") -> str:
        """A new version name ``{prefix}NN``, reserved for this caller alone.

        Numbered on from every registered model, every reservation and every
        file in ``models/``, inside one write transaction, so two retrains
        started at once (two windows, two processes) never get the same name
        and so never write the same checkpoint file. ``add_model`` turns the
        reservation into a model; ``release_model_version`` gives it up.
        """
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
        on_disk = []
        if self.models_dir.is_dir():
            on_disk = [p.name.split(".", 1)[0] for p in self.models_dir.iterdir()]
        with self._write("reserve a model version") as conn:
            taken = [r[0] for r in conn.execute("SELECT version FROM models")]
            taken += [r[0] for r in conn.execute("SELECT version FROM model_reservations")]
            numbers = [int(m.group(1)) for v in taken + on_disk if (m := pattern.match(v))]
            version = f"{prefix}{max(numbers, default=0) + 1:02d}"
            conn.execute(
                "INSERT INTO model_reservations (version, reserved, user) VALUES (?, ?, ?)",
                (version, utc_now(), self.user),
            )
        return version

    def release_model_version(self: Project, version: str) -> None:
        """Give up a reserved version that will not be registered (a discarded run)."""
        with self._write("release a model version") as conn:
            conn.execute("DELETE FROM model_reservations WHERE version = ?", (version,))

    def model_using_file(self: Project, path: str | Path) -> ModelRecord | None:
        """The registered model whose checkpoint is ``path``, if any (before deleting a file)."""
        target = Path(path).resolve()
        return next((m for m in self.models() if m.path.resolve() == target), None)

    def models(self: Project) -> list[ModelRecord]:
        rows = self._query("list the models", _MODEL_SELECT + " ORDER BY created, version")
        return [self._model_record(r) for r in rows]

    def model(self: Project, version: str) -> ModelRecord:
        rows = self._query("read the model", _MODEL_SELECT + " WHERE version = ?", (version,))
        if not rows:
            raise unknown_model(version)
        return self._model_record(rows[0])

    def active_model(self: Project) -> ModelRecord | None:
        rows = self._query("read the active model", _MODEL_SELECT + " WHERE active = 1")
        return self._model_record(rows[0]) if rows else None

    def set_active_model(self: Project, version: str | None) -> str | None:
        """Make ``version`` the one active model (None: none); returns the previous one."""
        with self._write("change the active model") as conn:
            row = conn.execute("SELECT version FROM models WHERE active = 1").fetchone()
            previous = row[0] if row else None
            if (
                version is not None
                and not conn.execute(
                    "SELECT 1 FROM models WHERE version = ?", (version,)
                ).fetchone()
            ):
                raise unknown_model(version)
            conn.execute("UPDATE models SET active = 0 WHERE active = 1")
            if version is not None:
                conn.execute("UPDATE models SET active = 1 WHERE version = ?", (version,))
            self._log(conn, None, "activate_model", before=previous, after=version)
        return previous

    def _model_record(self: Project, row: tuple) -> ModelRecord:
        with decoding(self.db_path):
            return self._decode_model(row)

    def _decode_model(self: Project, row: tuple) -> ModelRecord:
        version, path, card, created, parent, active = row
        p = Path(path)
        return ModelRecord(
            version=version,
            path=p if p.is_absolute() else self.folder / p,
            card=json.loads(card),
            created=created,
            parent=parent,
            active=bool(active),
        )
