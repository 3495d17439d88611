"""The list of a project's X-rays: what each row says, and the order they are reviewed in.

Filtering and sorting are plain functions over ``WorklistEntry`` values
(``arrange``), so "doubtful images first" is tested without widgets, and
next/previous follow exactly the order the user sees: the session asks the
``Worklist`` for the neighbour, the list widget only shows its rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from spinegui.core.curves import measure_curves
from spinegui.core.review.report_fields import dicom_date, person_name
from spinegui.core.templates import get_template

STATUS_LABELS = {"not_started": "Not started", "in_review": "In review", "reviewed": "Reviewed"}
FILTERS = {
    "all": "All images",
    "todo": "Still to review",
    "not_started": "Not started",
    "in_review": "In review",
    "reviewed": "Reviewed",
}
SORTS = {
    "order": "Project order",
    "uncertainty": "Most uncertain first",
    "cobb": "Largest Cobb angle first",
    "name": "File name",
    "status": "Review status",
}


@dataclass(frozen=True)
class WorklistEntry:
    """One row: what the user needs to decide which X-ray to look at next."""

    image_id: int
    name: str
    status: str
    has_truth: bool
    uncertainty: float | None = None
    """Mean test-time-augmentation spread of the active model's prediction, px."""
    has_prediction: bool = False
    main_cobb: float | None = None
    """The largest Cobb angle: of the truth when there is one, else of the prediction."""
    main_cobb_from: str | None = None
    """"truth" or "prediction": whose landmarks ``main_cobb`` was measured on."""
    patient: str = ""
    """'DOE, JANE · 2024-01-31' for an X-ray from a PACS (its file name is a UID); else ""."""


def mean_spread(spread) -> float | None:
    if spread is None:
        return None
    value = float(spread.mean())
    return value if math.isfinite(value) else None


def patient_label(source) -> str:
    """Whose X-ray and when, from the image's DICOM identity (a ``DicomSource``), or ""."""
    if source is None:
        return ""
    parts = [person_name(source.patient_name or ""), dicom_date(source.study_date or "")]
    return " · ".join(p for p in parts if p)


def entry_from_row(row, source=None) -> WorklistEntry:
    """A row of the list from the store's ``WorklistRow``: one Cobb computation per image.

    ``source`` is the image's ``DicomSource`` when it came from a PACS.
    """
    rec, dicom = row.record, source
    names = get_template(rec.template).vertebrae
    shown, source = (row.truth, "truth") if row.truth is not None else (row.prediction, None)
    if source is None and row.prediction is not None:
        source = "prediction"
    angle = measure_curves(shown, rec.height, names, row.curve_ends).main_angle
    return WorklistEntry(
        rec.id,
        rec.path.name,
        rec.status,
        rec.has_ground_truth,
        mean_spread(row.spread),
        row.prediction is not None,
        angle,
        source if angle is not None else None,
        patient_label(dicom),
    )


def _sorted(rows: list[WorklistEntry], sort_key: str) -> list[WorklistEntry]:
    """Rows in the sort's natural order (its "first" end first)."""
    if sort_key == "uncertainty":
        # Unknown uncertainty last: an image without a prediction is no reason for doubt.
        return sorted(rows, key=lambda e: (e.uncertainty is None, -(e.uncertainty or 0.0)))
    if sort_key == "cobb":
        return sorted(rows, key=lambda e: (e.main_cobb is None, -(e.main_cobb or 0.0)))
    if sort_key == "name":
        return sorted(rows, key=lambda e: (e.patient or e.name).lower())
    if sort_key == "status":
        order = {s: i for i, s in enumerate(STATUS_LABELS)}
        return sorted(rows, key=lambda e: order.get(e.status, 9))
    return rows


def arrange(
    entries: list[WorklistEntry],
    filter_key: str = "all",
    text: str = "",
    sort_key: str = "order",
    reverse: bool = False,
) -> list[WorklistEntry]:
    """The rows to show, in the order to show them (``reverse``: the other way round)."""
    needle = text.strip().lower()
    rows = sorted(
        (e for e in entries if _passes(e, filter_key) and _matches(e, needle)),
        key=lambda e: e.image_id,
    )
    rows = _sorted(rows, sort_key)  # stable: ties stay in project order
    if not reverse:
        return rows
    value = _SORT_VALUES.get(sort_key)
    if value is None:
        return rows[::-1]
    # Reversed, the images without a value still come last: they are no answer to the sort.
    known = [e for e in rows if value(e) is not None]
    return known[::-1] + [e for e in rows if value(e) is None]


_SORT_VALUES = {"uncertainty": lambda e: e.uncertainty, "cobb": lambda e: e.main_cobb}


def _matches(entry: WorklistEntry, needle: str) -> bool:
    return needle in entry.name.lower() or needle in entry.patient.lower()


SHARED_PREFIX_MIN = 8
"""Shorter beginnings shared by every name are left as they are: hiding them saves little."""
SHARED_SUFFIX_MIN = 6
"""Shared endings from this long are left out too (" AP.jpg"); a bare ".png" stays."""
_SEPARATORS = "-_ ."


def list_names(entries) -> dict[int, str]:
    """What the list shows for each image: ``{image_id: text}``.

    A PACS image shows its patient and study date (its file name is a UID that
    tells a reader nothing), numbered when several share them. Other images
    show their file name without the beginning and the ending that every file
    name shares, cut at separators and marked "…": AASCE names all begin
    "sunhl-1th-" and end " AP.jpg", and shortened in the middle to fit a narrow
    list, those were all that remained of each.
    """
    entries = sorted(entries, key=lambda e: e.image_id)
    plain = [e.name for e in entries if not e.patient]
    head, tail = _shared_ends(plain) if len(plain) > 1 else ("", "")
    repeated = Counter(e.patient for e in entries if e.patient)
    seen: Counter[str] = Counter()
    shown: dict[int, str] = {}
    for e in entries:
        if e.patient:
            seen[e.patient] += 1
            many = repeated[e.patient] > 1
            shown[e.image_id] = f"{e.patient} ({seen[e.patient]})" if many else e.patient
        elif len(e.name) > len(head) + len(tail):
            core = e.name[len(head) : len(e.name) - len(tail)]
            shown[e.image_id] = ("…" if head else "") + core + ("…" if tail else "")
        else:
            shown[e.image_id] = e.name
    return shown


def _shared_ends(names: list[str]) -> tuple[str, str]:
    """(beginning, ending) all ``names`` share, each cut at a separator; "" when short."""
    head = _common_start(names)
    head = head[: max(head.rfind(sep) for sep in _SEPARATORS) + 1]
    tail = _common_start([n[len(head) :][::-1] for n in names])[::-1]
    cut = [i for i, ch in enumerate(tail) if ch in _SEPARATORS]
    tail = tail[cut[0] :] if cut else ""
    return (
        head if len(head) >= SHARED_PREFIX_MIN else "",
        tail if len(tail) >= SHARED_SUFFIX_MIN else "",
    )


def _common_start(names: list[str]) -> str:
    low, high = min(names), max(names)  # what these two share, all the others share
    n = next((i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), len(low))
    return low[:n]


def _passes(entry: WorklistEntry, filter_key: str) -> bool:
    if filter_key == "all":
        return True
    if filter_key == "todo":
        return entry.status != "reviewed"
    return entry.status == filter_key


class Worklist:
    """Entries by image id plus the user's filter, search text and sort."""

    def __init__(self) -> None:
        self.entries: dict[int, WorklistEntry] = {}
        self.filter_key = "all"
        self.text = ""
        self.sort_key = "order"
        self.reverse = False
        self._rows: list[WorklistEntry] | None = None
        self._names: dict[int, str] | None = None

    def set_entries(self, entries: list[WorklistEntry]) -> None:
        self.entries = {e.image_id: e for e in entries}
        self._rows = self._names = None

    def update(self, image_id: int, **changes) -> WorklistEntry | None:
        entry = self.entries.get(image_id)
        if entry is None:
            return None
        new = replace(entry, **changes)
        if new != entry:
            self.entries[image_id] = new
            self._rows = None
            if new.name != entry.name or new.patient != entry.patient:
                self._names = None
        return new

    def set_view(self, *, filter_key=None, text=None, sort_key=None, reverse=None) -> None:
        if filter_key is not None:
            self.filter_key = filter_key if filter_key in FILTERS else "all"
        if text is not None:
            self.text = text
        if sort_key is not None:
            self.sort_key = sort_key if sort_key in SORTS else "order"
        if reverse is not None:
            self.reverse = bool(reverse)
        self._rows = None

    def rows(self) -> list[WorklistEntry]:
        """The visible rows in order (cached until entries or the view change)."""
        if self._rows is None:
            self._rows = arrange(
                list(self.entries.values()), self.filter_key, self.text, self.sort_key, self.reverse
            )
        return self._rows

    def visible_ids(self) -> list[int]:
        return [e.image_id for e in self.rows()]

    def shown_names(self) -> dict[int, str]:
        """What the list shows as each image's name (see ``list_names``), cached."""
        if self._names is None:
            self._names = list_names(self.entries.values())
        return self._names

    def neighbour(self, current: int | None, step: int) -> int | None:
        """The image ``step`` rows from ``current`` in the visible order (None: past the end)."""
        ids = self.visible_ids()
        if not ids:
            return None
        if current not in ids:
            return ids[0] if step > 0 else ids[-1]
        i = ids.index(current) + step
        return ids[i] if 0 <= i < len(ids) else None

    def remaining(self) -> int:
        """Images of the project not yet reviewed."""
        return sum(e.status != "reviewed" for e in self.entries.values())
