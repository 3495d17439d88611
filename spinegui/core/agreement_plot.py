"""Predicted against true main Cobb angle, and its Bland-Altman plot, as one PNG.

The two plots a method-comparison study shows: the scatter says whether large
curves are read too small (points under the diagonal at the right, a slope
below 1), the Bland-Altman plot whether the disagreement is a constant bias or
grows with the angle, and how wide it is (the 95 % limits of agreement)
against the ~5 degrees two human readers differ by.

matplotlib is imported here only, through its Agg canvas (no pyplot, no GUI
backend), so the review window never pays for it and nothing touches Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spinegui.core.metrics import angle_agreement
from spinegui.core.outputs import atomic_write

__all__ = ["save_agreement_plot"]

READER_SPREAD_DEG = 5.0


def save_agreement_plot(
    pred_deg, true_deg, path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Draw both plots for one angle per image and write them to ``path`` (PNG).

    The caller checks the target first (``outputs.check_file_target``); the
    file is written atomically.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    p = np.asarray(pred_deg, dtype=np.float64)
    t = np.asarray(true_deg, dtype=np.float64)
    ag = angle_agreement(p, t)
    fig = Figure(figsize=(10, 4.6), dpi=120)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)

    hi = float(max(p.max(), t.max(), 10.0)) * 1.08
    ax1.fill_between(
        [0, hi], [-READER_SPREAD_DEG, hi - READER_SPREAD_DEG], [READER_SPREAD_DEG, hi + 5],
        color="#2a7", alpha=0.12, lw=0, label=f"within {READER_SPREAD_DEG:g} deg",
    )  # fmt: skip
    ax1.plot([0, hi], [0, hi], color="#555", lw=1, label="perfect agreement")
    if ag.slope is not None:
        ax1.plot(
            [0, hi],
            [ag.intercept, ag.intercept + ag.slope * hi],
            color="#c33",
            lw=1.2,
            ls="--",
            label=f"fit: slope {ag.slope:.2f}",
        )
    ax1.scatter(t, p, s=16, color="#136", alpha=0.8)
    ax1.set(xlim=(0, hi), ylim=(0, hi), aspect="equal")
    ax1.set_xlabel("expert main Cobb angle (deg)")
    ax1.set_ylabel("predicted main Cobb angle (deg)")
    ax1.set_title(
        f"MAE {ag.mae:.1f} deg, {100 * ag.within[5.0]:.0f} % within 5 deg (n = {ag.n})",
        fontsize=10,
    )
    ax1.legend(loc="upper left", fontsize=8, frameon=False)

    mean = (p + t) / 2.0
    diff = p - t
    ax2.axhspan(-READER_SPREAD_DEG, READER_SPREAD_DEG, color="#2a7", alpha=0.12, lw=0)
    ax2.axhline(0, color="#555", lw=1)
    ax2.axhline(ag.bias, color="#c33", lw=1.2, label=f"bias {ag.bias:+.1f} deg")
    for limit in ag.loa:
        ax2.axhline(limit, color="#c33", lw=1, ls="--")
    ax2.scatter(mean, diff, s=16, color="#136", alpha=0.8)
    span = max(abs(diff).max(), abs(ag.loa[0]), abs(ag.loa[1]), READER_SPREAD_DEG) * 1.15
    ax2.set_ylim(-span, span)
    ax2.set_xlabel("mean of predicted and expert angle (deg)")
    ax2.set_ylabel("predicted - expert (deg)")
    ax2.set_title(
        f"Bland-Altman: 95 % limits {ag.loa[0]:+.1f} to {ag.loa[1]:+.1f} deg", fontsize=10
    )
    ax2.legend(loc="upper left", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    out = Path(path)
    atomic_write(out, buffer.getvalue())
    return out
