"""What a reader decides about an image besides landmarks: end vertebrae and rulers.

Part of ``ReviewSession`` (split out to keep modules short): each choice is
one undo step written through the session's ``_commit``, like an edit.
"""

from __future__ import annotations

from spinegui.core.calibration import Calibration
from spinegui.core.errors import LandmarkError
from spinegui.core.review.steps import CalibrationStep, EndsStep


class ReaderChoicesMixin:
    """Chosen end vertebrae and calibration rulers of the shown image."""

    def choose_curve_ends(self, upper: int, lower: int) -> bool:
        """Measure a curve between two vertebrae the reader chose, replacing overlapping ones."""
        image_id = self._require_image()
        upper, lower = sorted((int(upper), int(lower)))
        n = len(self.names)
        if upper == lower or not (0 <= upper < n and 0 <= lower < n):
            raise LandmarkError(
                "A curve needs two different end vertebrae.",
                "Pick the upper and the lower end vertebra of the curve.",
            )
        kept = tuple(p for p in self.state.curve_ends if max(p[0], upper) >= min(p[1], lower))
        pairs = tuple(sorted((*kept, (upper, lower))))
        if pairs == self.state.curve_ends:
            return False
        names = self.names
        text = f"Measure the curve {names[upper]}–{names[lower]}"
        self._commit([EndsStep(image_id, pairs, base=self.state.curve_ends)], text)
        return True

    def clear_curve_ends(self, pair: tuple[int, int] | None = None) -> bool:
        """Forget one reader-chosen curve (or all): the rules choose the end vertebrae again."""
        image_id = self._require_image()
        current = self.state.curve_ends
        pairs = () if pair is None else tuple(p for p in current if p != tuple(sorted(pair)))
        if pairs == current:
            return False
        step = EndsStep(image_id, pairs, base=current)
        self._commit([step], "Let the rules choose the end vertebrae")
        return True

    def calibrate(self, ruler: Calibration | None, *, for_project: bool = False) -> bool:
        """Set (None: remove) the ruler of the shown image, or of the whole project."""
        image_id = self._require_image()
        current = self.state.project_ruler if for_project else self.state.image_ruler
        if current == ruler:
            return False
        what = "the project" if for_project else "this image"
        text = f"Remove the ruler of {what}" if ruler is None else f"Calibrate {what}"
        self._commit([CalibrationStep(image_id, ruler, for_project, base=current)], text)
        return True
