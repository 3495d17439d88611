"""Spine templates: the ordered vertebrae a model or a project annotates.

Defined once, as data. Everything else (network output size, export keypoint
names, display labels) is derived from the template, so a second template is a
one-line addition here.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinegui.core.errors import TemplateError

CORNERS: tuple[str, ...] = ("TL", "TR", "BL", "BR")
"""Corner order within a vertebra, as seen on the image (AASCE order)."""

CORNER_NAMES: dict[str, str] = {
    "TL": "top-left",
    "TR": "top-right",
    "BL": "bottom-left",
    "BR": "bottom-right",
}

LEFT_CORNERS = (0, 2)  # TL, BL
RIGHT_CORNERS = (1, 3)  # TR, BR


@dataclass(frozen=True)
class SpineTemplate:
    """An ordered list of vertebra names, cranial to caudal."""

    name: str
    vertebrae: tuple[str, ...]
    description: str = ""

    @property
    def n_vertebrae(self) -> int:
        return len(self.vertebrae)

    @property
    def n_landmarks(self) -> int:
        return 4 * self.n_vertebrae

    @property
    def n_outputs(self) -> int:
        """Network outputs: an (x, y) pair per landmark."""
        return 2 * self.n_landmarks

    def index(self, vertebra: str) -> int:
        try:
            return self.vertebrae.index(vertebra)
        except ValueError:
            raise TemplateError(
                f"Vertebra {vertebra!r} is not part of template {self.name}.",
                f"Use one of {', '.join(self.vertebrae)}.",
            ) from None

    def landmark_names(self) -> list[str]:
        """Names like 'T7-TL', one per landmark in flat AASCE order."""
        return [f"{v}-{c}" for v in self.vertebrae for c in CORNERS]


_THORACIC = tuple(f"T{i}" for i in range(1, 13))
_LUMBAR = tuple(f"L{i}" for i in range(1, 6))

TEMPLATES: dict[str, SpineTemplate] = {
    "C7-L5": SpineTemplate(
        "C7-L5", ("C7", *_THORACIC, *_LUMBAR), "18 vertebrae, as in the BPD paper"
    ),
    "T1-L5": SpineTemplate(
        "T1-L5", (*_THORACIC, *_LUMBAR), "17 vertebrae, as in the AASCE 2019 data"
    ),
}

DEFAULT_TEMPLATE = "T1-L5"


def get_template(name: str | SpineTemplate) -> SpineTemplate:
    """Look a template up by name; pass a template through unchanged."""
    if isinstance(name, SpineTemplate):
        return name
    try:
        return TEMPLATES[name]
    except KeyError:
        raise TemplateError(
            f"Unknown spine template {name!r}.",
            f"Known templates: {', '.join(TEMPLATES)}.",
        ) from None


def template_for_count(n_vertebrae: int) -> SpineTemplate:
    """The template with this many vertebrae (used when a file names none)."""
    for template in TEMPLATES.values():
        if template.n_vertebrae == n_vertebrae:
            return template
    raise TemplateError(
        f"No spine template has {n_vertebrae} vertebrae.",
        "Expected " + " or ".join(f"{t.n_vertebrae} ({t.name})" for t in TEMPLATES.values()) + ".",
    )
