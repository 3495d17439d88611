"""Keeping the refined boxes a chain of distinct, consecutive vertebrae.

Refinement moves every box onto the vertebra nearest its crop's centre. Where
stage one had squeezed or stretched part of the spine, two boxes then land on
one vertebra and a vertebra further on is skipped, so a whole stretch of the
chain is a level off (measured on the validation X-rays: 13 of 24 images had
such a stretch, which made up most of the remaining corner error).
Consecutive vertebra centres are about one local spacing apart, so both show:
a step much shorter than its neighbours' is a duplicate, one about twice as
long is a skipped vertebra. ``repair`` merges the first and fills the second
(an interpolated box that the refiner then places); which window of the
repaired chain is T1..L5 (or C7..L5) is then decided at the sacrum
(``refine_net``'s L5 output).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DUPLICATE", "GAP", "expected_steps", "repair"]

DUPLICATE = 0.45
"""A step shorter than this share of the expected one joins two boxes on one vertebra."""
GAP = 1.6
"""A step longer than this many expected steps has skipped a vertebra (or more)."""


def _steps(boxes: np.ndarray) -> np.ndarray:
    c = boxes.mean(axis=1)
    return np.linalg.norm(np.diff(c, axis=0), axis=1)


def expected_steps(steps: np.ndarray) -> np.ndarray:
    """Per step, the median of up to four neighbouring steps (not itself): the local spacing.

    Spacing grows about 1.8 times from T1 to L5, so one median for the whole
    spine would call a lumbar step a gap and a thoracic gap normal.
    """
    out = np.empty(len(steps))
    for j in range(len(steps)):
        near = [steps[k] for k in range(max(0, j - 2), min(len(steps), j + 3)) if k != j]
        out[j] = np.median(near) if near else steps[j]
    return out


def repair(boxes: np.ndarray, max_rounds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(boxes, new) with duplicates merged and gaps filled; ``new`` marks inserted boxes.

    ``boxes`` is one chain (M, 4, 2), cranial to caudal. Merged boxes are
    averaged; a gap of about k + 1 expected steps gets k boxes interpolated
    between its ends (they need placing by the refiner). The result may have
    more or fewer boxes than the template; choosing the template's window is
    the caller's.
    """
    chain = [np.asarray(b, dtype=np.float64) for b in boxes]
    new = [False] * len(chain)
    for _ in range(max_rounds):
        if len(chain) < 3:
            break
        steps = _steps(np.stack(chain))
        expected = expected_steps(steps)
        j = next((k for k in range(len(steps)) if steps[k] < DUPLICATE * expected[k]), None)
        if j is not None:
            chain[j] = (chain[j] + chain[j + 1]) / 2.0
            new[j] = new[j] or new[j + 1]
            del chain[j + 1], new[j + 1]
            continue
        j = next((k for k in range(len(steps)) if steps[k] > GAP * expected[k]), None)
        if j is None:
            break
        missing = max(1, round(steps[j] / expected[j]) - 1)
        a, b = chain[j], chain[j + 1]
        filled = [a + (b - a) * (m + 1) / (missing + 1) for m in range(missing)]
        chain[j + 1 : j + 1] = filled
        new[j + 1 : j + 1] = [True] * missing
    return np.stack(chain), np.array(new, dtype=bool)
