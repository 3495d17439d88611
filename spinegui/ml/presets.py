"""Network input sizes.

The paper resizes every X-ray to 1024 x 512 (height x width). That is the
faithful setting but costs seconds per step on a laptop CPU, so smaller
presets keep the same 2:1 aspect (so a model's geometry and the landmark
normalisation are unchanged) and differ only in resolution. Every size is a
multiple of 32 because the backbone halves the resolution five times and the
integral head's skip connections need the shapes to line up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinegui.core.errors import SpineguiError


@dataclass(frozen=True)
class Preset:
    """A named network input size, in pixels, height first as torch expects."""

    name: str
    height: int
    width: int

    @property
    def hw(self) -> tuple[int, int]:
        return (self.height, self.width)


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", 1024, 512),
    "medium": Preset("medium", 512, 256),
    "fast": Preset("fast", 256, 128),
    "tiny": Preset("tiny", 64, 32),
}

DEFAULT_PRESET = "fast"
"""The size earlier CPU experiments on real X-rays were run at."""


def get_preset(name: str | Preset) -> Preset:
    """Look a preset up by name; pass a Preset through unchanged."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        sizes = ", ".join(f"{p.name} ({p.height}x{p.width})" for p in PRESETS.values())
        raise SpineguiError(
            f"Unknown network size preset {name!r}.",
            f"Known presets: {sizes}.",
        ) from None
