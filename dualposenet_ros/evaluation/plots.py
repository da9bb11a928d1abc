"""AP curves of an ``EvaluationResult`` as one PNG, drawn off-screen with Agg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dualposenet_ros.evaluation.metrics import ANY_DEGREE, ANY_SHIFT_CM, MEAN_ROW, EvaluationResult


def _panels(result: EvaluationResult) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(title, x label, x values, AP rows in %) of the three panels."""
    return [
        ("3D IoU", "3D IoU threshold (%)", result.iou_thresholds * 100, result.iou_ap * 100),
        (
            f"Rotation (translation ≤ {ANY_SHIFT_CM:g} cm)",
            "rotation threshold (deg)",
            result.degree_thresholds,
            result.rotation_ap * 100,
        ),
        (
            f"Translation (rotation ≤ {ANY_DEGREE:g} deg)",
            "translation threshold (cm)",
            result.shift_thresholds_cm,
            result.translation_ap * 100,
        ),
    ]


def plot_ap_curves(result: EvaluationResult, path: str | Path) -> None:
    """Save AP vs 3D IoU, rotation and translation thresholds, one line per category plus the mean."""
    figure = Figure(figsize=(15, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3, sharey=True)
    for axis, (title, xlabel, x, rows) in zip(axes, _panels(result)):
        for name, row in zip(result.row_names, rows):
            is_mean = name == MEAN_ROW
            style = {"color": "black", "linewidth": 2.5, "linestyle": "--"} if is_mean else {"linewidth": 1.4}
            axis.plot(x, row, label=name, **style)
        axis.set(title=title, xlabel=xlabel, xlim=(x[0], x[-1]), ylim=(0, 102))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("AP (%)")
    axes[-1].legend(loc="lower right", fontsize="small")
    figure.savefig(Path(path), dpi=110)
