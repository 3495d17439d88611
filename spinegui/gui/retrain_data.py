"""What a retrain would learn from: reviewed images, the locked validation split, shortages.

Counts come from ``spinegui.core.splits`` (one read of the image list); the
box says them in words, including how the validation landmarks came about,
since accepted predictions make a weak test of a new model.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from spinegui.core.splits import SplitPlan

SHORTAGE_STYLE = "background: #fff4d6; color: #5c4400; border: 1px solid #e0c060; padding: 6px;"


class RetrainDataBox(QGroupBox):
    """ "Images to learn from": totals, the split and what is missing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Images to learn from", parent)
        layout = QVBoxLayout(self)
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.split_label.setToolTip(
            "Validation images are never used for learning. They stay the same for every "
            "retrain, so the numbers of old and new models can be compared fairly."
        )
        self.shortage_label = QLabel()
        self.shortage_label.setWordWrap(True)
        self.shortage_label.setStyleSheet(SHORTAGE_STYLE)
        for w in (self.data_label, self.split_label, self.shortage_label):
            layout.addWidget(w)

    def show_plan(self, plan: SplitPlan | None) -> None:
        """What the next retrain would use (None: no project open)."""
        if plan is None:
            self.data_label.setText("Open a project to retrain its model.")
            self.split_label.setText("")
            self.shortage_label.setVisible(False)
            return
        parts = []
        if plan.corrected:
            parts.append(f"{plan.corrected} corrected by hand")
        if plan.accepted:
            parts.append(f"{plan.accepted} predictions accepted as they were")
        if plan.imported:
            parts.append(f"{plan.imported} with imported landmarks")
        text = f"<b>{plan.total}</b> reviewed image{'s' if plan.total != 1 else ''} with landmarks"
        if parts:
            text += ": " + ", ".join(parts)
        text += "."
        extra = []
        if plan.unreviewed_with_truth:
            extra.append(
                f"{plan.unreviewed_with_truth} image(s) have landmarks but are not marked "
                "reviewed yet; they are not used."
            )
        if plan.other_template:
            extra.append(f"{plan.other_template} reviewed image(s) use another spine template.")
        if extra:
            text += "<br>" + " ".join(extra)
        self.data_label.setText(text)
        new_val = len(plan.new_val_ids)
        locked = (
            f" ({plan.locked_val} kept from earlier retrains, {new_val} new)"
            if plan.locked_val and new_val
            else (" (the same as for earlier retrains)" if plan.locked_val else "")
        )
        self.split_label.setText(
            f"Learning from <b>{len(plan.train_ids)}</b>; checking on <b>{len(plan.val_ids)}</b> "
            f"validation image{'s' if len(plan.val_ids) != 1 else ''}{locked}. Validation "
            "images are never learnt from and stay fixed, so results stay comparable. "
            + plan.validation_mix()
        )
        message = plan.shortage_message()
        self.shortage_label.setText(message)
        self.shortage_label.setVisible(bool(message))
