"""Human- and machine-readable views of an ``EvaluationResult``: the paper's table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from dualposenet_ros.evaluation.metrics import METRIC_KEYS, EvaluationResult

COLUMN_TITLES: dict[str, str] = {
    "3D25": "IoU25",
    "3D50": "IoU50",
    "3D75": "IoU75",
    "5deg2cm": "5°2cm",
    "5deg5cm": "5°5cm",
    "10deg2cm": "10°2cm",
    "10deg5cm": "10°5cm",
}
"""Column headers in the DualPoseNet paper's layout, keyed by the JSON metric names."""


def format_table(result: EvaluationResult) -> str:
    """Rows per category then ``mAP``, columns in the paper's order, values in % to one decimal."""
    rows = [(name, result.per_class[name]) for name in result.categories] + [("mAP", result.map)]
    name_width = max(len(name) for name, _ in rows)
    widths = [max(len(COLUMN_TITLES[key]), 6) for key in METRIC_KEYS]
    header = " ".join([" " * name_width] + [COLUMN_TITLES[k].rjust(w) for k, w in zip(METRIC_KEYS, widths)])
    lines = [header, "-" * len(header)]
    for name, metrics in rows:
        if name == "mAP":
            lines.append("-" * len(header))
        cells = [f"{metrics[key]:.1f}".rjust(width) for key, width in zip(METRIC_KEYS, widths)]
        lines.append(" ".join([name.ljust(name_width)] + cells))
    return "\n".join(lines)


def write_json(result: EvaluationResult, path: str | Path) -> None:
    """Write the ``evaluate --json`` contract (strict JSON: undefined APs are null)."""
    text = json.dumps(result.to_json(), indent=2, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
