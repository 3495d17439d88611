"""Command-line numbers checked where they are parsed.

``float("nan")`` and ``float("1e999")`` are valid Python floats, so a plain
``type=float`` lets ``--lr nan`` through to the optimiser, which then fails
with a traceback. These argparse types refuse such values with argparse's own
message (``argument --lr: ...``) before any work starts.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number_in(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """An argparse type accepting finite numbers from ``low`` to ``high``."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number in {left}{low:g}, {high:g}{right}"
            )
        return value

    return parse
