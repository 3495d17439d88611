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
        "  T1 corner error (px)",
        "  T2 corner error (px)",
        "  T3 corner error (px)",
    ]
    assert not any("version" in label.lower() or "n smape" in label.lower() for label in rows)


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
    run = RetrainRun("retrain-01", Path("x.safetensors"), None, "t1l5-aasce-paper-fast", plan)
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
