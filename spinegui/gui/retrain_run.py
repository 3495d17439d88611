"""One retrain as data: what was started, what the trainer reported, what the table shows.

No Qt here: the panel's widgets read a ``RetrainRun`` and the comparison
rows, so what they say is tested without widgets.

``comparison_rows`` renders the trainer's comparison event generically: every
number the event carries for both models becomes a row, named from the
event's own row list (label, format, which direction is better; the
clinician's figures first), else from a table of known metrics or from its
key ("cobb_mae_deg" -> "Cobb MAE (°)"), and a list with one value per
vertebra becomes one row per vertebra. A metric the trainer starts reporting
appears in the panel without a change here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOSSES = ("mse", "bpd", "total")
SERIES = ("step", "train", "val")


@dataclass
class RetrainRun:
    """A running (or finished, undecided) retrain of the project's model."""

    version: str
    out: Path
    settings: Any
    """The ``RetrainSettings`` the run was started with."""
    active: str | None
    """Version of the model in use when the run started (None: there was none)."""
    plan: Any
    """The ``SplitPlan`` the run trains and validates on."""
    epochs: int = 1
    steps_per_epoch: int = 1
    end: Any = None
    comparison: Any = None
    fingerprint: str | None = None
    """The finished checkpoint's card fingerprint: Adopt refuses a file replaced since."""
    points: dict[str, dict[str, tuple[list[float], list[float]]]] = field(default_factory=dict)
    """``points[series][loss]`` = (x, y): "step", "train" or "val" curves of each loss."""

    def __post_init__(self) -> None:
        if not self.points:
            self.points = {s: {k: ([], []) for k in LOSSES} for s in SERIES}

    def add_point(self, series: str, loss: str, x: float, y) -> bool:
        """Record one plotted point; False for values a log axis cannot show (a gap)."""
        if y is None or not math.isfinite(y) or y <= 0:
            return False
        xs, ys = self.points[series][loss]
        xs.append(float(x))
        ys.append(float(y))
        return True

    @property
    def succeeded(self) -> bool:
        return self.end is not None and self.end.status in ("completed", "early_stopped")


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class MetricRow:
    label: str
    current: float | None
    new: float | None
    fmt: str
    higher_better: bool | None
    """None: a change has no verdict (a bias is best at 0, a slope at 1)."""

    def change(self) -> tuple[str, bool | None]:
        """('+1.2 better', True) / ('same', None) / ('', None) when one side is missing."""
        a, b = self.current, self.new
        if a is None or b is None:
            return "", None
        diff = b - a
        digits = int(self.fmt[-2]) if self.fmt[-2:-1].isdigit() else 2
        if abs(diff) < 10**-digits:
            return "same", None
        fmt = self.fmt.lstrip("+")
        if self.higher_better is None:
            return f"{diff:+{fmt}}", None
        better = diff > 0 if self.higher_better else diff < 0
        return f"{diff:+{fmt}} {'better' if better else 'worse'}", better


KNOWN = {
    "mean_px": ("Mean corner error (px)", ".1f", False),
    "median_px": ("Median corner error (px)", ".1f", False),
    "mean_mm": ("Mean corner error (mm)", ".2f", False),
    "median_mm": ("Median corner error (mm)", ".2f", False),
    "smape": ("Cobb angle SMAPE (%)", ".1f", False),
    "pearson_r": ("Pearson r (1 = perfect)", ".3f", True),
}
PER_VERTEBRA = {
    "per_vertebra_px": ("error (px)", ".1f"),
    "per_vertebra_mm": ("error (mm)", ".2f"),
    "per_vertebra_tilt_deg": ("tilt error (°)", ".1f"),
}
BETTER = {"lower": False, "higher": True}
SKIPPED = {"version", "path"}
WORDS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "smape": "SMAPE",
    "icc": "ICC",
    "cobb": "Cobb",
    "pt": "proximal thoracic",
    "mt": "main thoracic",
    "tl": "thoracolumbar/lumbar",
    "r": "r",
}
UNITS = {"px": "px", "mm": "mm", "deg": "°", "pct": "%", "percent": "%"}
HIGHER_BETTER_WORDS = {"r", "pearson", "icc", "accuracy", "within", "agreement", "auc", "kappa"}


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def pretty(key: str) -> str:
    """'cobb_mae_deg' -> 'Cobb MAE (°)': a readable label for a metric nobody listed."""
    words = [w for w in key.split("_") if w]
    unit = UNITS.get(words[-1]) if words else None
    if unit is not None:
        words = words[:-1]
    text = " ".join(WORDS.get(w, w) for w in words) or key
    text = text[0].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def _style(key: str, known=KNOWN) -> tuple[str, str, bool | None]:
    if key in known:
        return known[key]
    words = set(key.split("_"))
    higher = bool(words & HIGHER_BETTER_WORDS)
    fmt = ".2f" if "mm" in words else ".3f" if higher else ".1f"
    return pretty(key), fmt, higher


def comparison_rows(
    current: dict[str, Any] | None,
    new: dict[str, Any] | None,
    vertebrae: list[str],
    specs: list[dict[str, Any]] | None = None,
) -> list[MetricRow]:
    """Every metric both (or either) model reports, in a stable, readable order.

    ``specs`` is the event's own row list (``ComparisonEvent.rows``): its rows
    come first, with its labels, formats and better directions.
    """
    cur, nxt = current or {}, new or {}
    known = {
        s["key"]: (s["label"], s["fmt"], BETTER.get(s.get("better")))
        for s in specs or []
        if isinstance(s, dict) and {"key", "label", "fmt"} <= set(s)
    }
    known.update({k: v for k, v in KNOWN.items() if k not in known})
    keys = list(known) + [k for k in [*nxt, *cur] if k not in known]
    keys = list(dict.fromkeys(k for k in keys if k in cur or k in nxt))
    if _has_list(cur, nxt, "per_vertebra_mm") and "per_vertebra_px" in keys:
        keys.remove("per_vertebra_px")  # one unit per vertebra: millimetres when known
    rows: list[MetricRow] = []
    per_vertebra: list[MetricRow] = []
    for key in keys:
        if key in SKIPPED or key.startswith("n_"):
            continue
        a, b = cur.get(key), nxt.get(key)
        sample = a if a is not None else b
        if _is_number(sample):
            label, fmt, higher = _style(key, known)
            rows.append(MetricRow(label, _num(a), _num(b), fmt, higher))
        elif isinstance(sample, dict):
            for sub in dict.fromkeys([*(b or {}), *(a or {})]):
                va, vb = (a or {}).get(sub), (b or {}).get(sub)
                if _is_number(va if va is not None else vb):
                    label, fmt, higher = _style(f"{key}_{sub}")
                    rows.append(MetricRow(label, _num(va), _num(vb), fmt, higher))
        elif isinstance(sample, list) and len(sample) == len(vertebrae) and vertebrae:
            what, fmt = PER_VERTEBRA.get(key, (pretty(key.removeprefix("per_vertebra_")), ".1f"))
            for i, name in enumerate(vertebrae):
                va = a[i] if a is not None and i < len(a) else None
                vb = b[i] if b is not None and i < len(b) else None
                per_vertebra.append(MetricRow(f"  {name} {what}", _num(va), _num(vb), fmt, False))
    return rows + per_vertebra


def _has_list(a: dict, b: dict, key: str) -> bool:
    return isinstance(a.get(key), list) or isinstance(b.get(key), list)


def _num(v) -> float | None:
    if not _is_number(v) or not math.isfinite(v):
        return None
    return float(v)
