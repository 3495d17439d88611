"""The before/after table renders whatever the trainer's comparison event carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from spinegui.core.splits import SplitPlan
from spinegui.gui.retrain_result import RetrainResultBox
from spinegui.gui.retrain_run import RetrainRun, comparison_rows, pretty
from spinegui.ml.events import ComparisonEvent

VERTEBRAE = ["T1", "T2", "T3"]


def figures(mean_px: float, **extra) -> dict:
    return {
        "version": "m",
        "path": "/x",
        "mean_px": mean_px,
        "median_px": mean_px - 1,
        "per_vertebra_px": [mean_px] * 3,
        "smape": 20.0,
        "pearson_r": 0.99,
        "mean_mm": None,
        "per_vertebra_mm": None,
        "n_smape_images": 4,
        **extra,
    }


def test_metrics_nobody_listed_become_rows_with_readable_names():
    current = figures(10.0, cobb_mae_deg=6.0, clinician={"main_icc": 0.80, "pt_mae_deg": 4.0})
    new = figures(8.0, cobb_mae_deg=4.5, clinician={"main_icc": 0.90, "pt_mae_deg": 5.0})
    rows = {r.label: r for r in comparison_rows(current, new, VERTEBRAE)}
    assert rows["Cobb MAE (°)"].change() == ("-1.5 better", True)
    assert rows["Clinician main ICC"].change()[1] is True  # higher agreement is better
    assert rows["Clinician proximal thoracic MAE (°)"].change()[1] is False
    assert rows["Mean corner error (px)"].change() == ("-2.0 better", True)
    assert "Mean corner error (mm)" not in rows  # no spacing on either side: no row
    assert [label for label in rows if label.startswith("  ")] == [
        "  T1 error (px)",
        "  T2 error (px)",
        "  T3 error (px)",
    ]
    assert not any("version" in label.lower() or "n smape" in label.lower() for label in rows)


def test_the_events_own_rows_lead_with_their_labels_and_verdicts():
    specs = [
        {"key": "cobb_mae", "label": "Main Cobb angle error (°)", "fmt": ".1f", "better": "lower"},
        {"key": "cobb_bias", "label": "Angle bias (°)", "fmt": "+.1f", "better": "zero"},
        {"key": "within5_pct", "label": "Within 5° (%)", "fmt": ".0f", "better": "higher"},
    ]
    current = figures(10.0, cobb_mae=8.0, cobb_bias=-4.0, within5_pct=40.0)
    new = figures(9.0, cobb_mae=3.5, cobb_bias=1.0, within5_pct=80.0)
    rows = comparison_rows(current, new, VERTEBRAE, specs)
    assert [r.label for r in rows[:3]] == [s["label"] for s in specs]
    assert rows[0].change() == ("-4.5 better", True)
    assert rows[1].change() == ("+5.0", None)  # a bias has no better direction
    assert rows[2].change() == ("+40 better", True)
    assert rows[3].label == "Mean corner error (px)"  # the known rows follow


def test_pretty_names_units_and_abbreviations():
    assert pretty("cobb_mae_deg") == "Cobb MAE (°)"
    assert pretty("within_5_pct") == "Within 5 (%)"
    assert pretty("tl_rmse_mm") == "Thoracolumbar/lumbar RMSE (mm)"


def test_the_result_box_shows_a_new_metric_and_warns_about_accepted_images(qtbot):
    box = RetrainResultBox()
    qtbot.addWidget(box)
    plan = SplitPlan(
        "T1-L5", [1, 2, 3, 4], [5, 6, 7], val_sources={"accepted_prediction": 2, "manual": 1}
    )
    run = RetrainRun("retrain-02", Path("x.safetensors"), None, "retrain-01", plan)
    run.comparison = ComparisonEvent(
        val_images=3,
        vertebrae=VERTEBRAE,
        current=figures(10.0, cobb_mae_deg=6.0),
        new=figures(9.0, cobb_mae_deg=6.5),
    )
    box.show_run(run)
    texts = {row[0]: row for row in box.texts()}
    assert texts["Cobb MAE (°)"][1:] == ("6.0", "6.5", "+0.5 worse")
    mix = box.mix_label.text()
    assert "1 corrected by hand, 2 accepted unchanged" in mix
    assert "agreement with the current model" in mix
    assert box.mix_label.styleSheet()  # highlighted, not just another sentence


@pytest.mark.parametrize("width", [300, 420])
def test_nothing_in_the_table_is_cut_off_in_a_narrow_dock(qtbot, width):
    box = RetrainResultBox()
    qtbot.addWidget(box)
    plan = SplitPlan("T1-L5", [1, 2, 3, 4], [5], val_sources={"manual": 1})
    run = RetrainRun("retrain-01", Path("x.safetensors"), None, "t1l5-aasce-two-stage", plan)
    run.comparison = ComparisonEvent(1, VERTEBRAE, figures(123.456), figures(0.001))
    box.show_run(run)
    box.resize(width, 900)
    box.show()
    table = box.table
    header = table.horizontalHeader()
    for col in range(1, 4):  # numbers and changes get the width they need
        needed = max(
            table.fontMetrics().horizontalAdvance(table.item(r, col).text())
            for r in range(table.rowCount())
        )
        assert header.sectionSize(col) >= needed
    assert table.verticalScrollBar().maximum() == 0  # no scroll bar inside the panel's


def test_per_vertebra_rows_use_millimetres_when_the_images_have_a_scale():
    with_mm = figures(10.0, mean_mm=2.0, per_vertebra_mm=[2.0, 2.1, 2.2])
    labels = [r.label for r in comparison_rows(with_mm, with_mm, VERTEBRAE)]
    assert "  T2 error (mm)" in labels
    assert not any(label.endswith("error (px)") and label.startswith("  ") for label in labels)
    assert "Mean corner error (px)" in labels and "Mean corner error (mm)" in labels


def test_the_wheel_over_a_loss_plot_scrolls_the_panel(qtbot):
    """No scroll trap: the plots do not zoom, so the wheel must move the panel."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from spinegui.gui.retrain_panel import RetrainPanel

    panel = RetrainPanel()
    qtbot.addWidget(panel)
    panel.resize(380, 500)
    panel.progress_box.setVisible(True)
    panel.show()
    qtbot.waitExposed(panel)
    bar = panel.scroll_area.verticalScrollBar()
    assert bar.maximum() > 0
    plot = panel.progress_box.plots["mse"]
    panel.scroll_area.ensureWidgetVisible(plot)
    before = bar.value()
    viewport = plot.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(viewport.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, -120),  # one notch towards the user: scroll down
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)
    assert bar.value() != before
    view_range = plot.getViewBox().viewRange()
    QApplication.sendEvent(viewport, event)
    assert plot.getViewBox().viewRange() == view_range  # the plot itself did not zoom
