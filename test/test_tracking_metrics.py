"""Tracking metrics (identity switches, jitter, lag) on hand-made sequences, and the command end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dualposenet_ros.evaluation.scoring import PoseRecord, match
from dualposenet_ros.evaluation.tracking import identity_switches, jitter, lag, sequence_metrics


def record(label: int, x: float, track: int, class_id: int = 6) -> PoseRecord:
    return PoseRecord(label, class_id, np.eye(3), np.array([x, 0.0, 0.6]), np.array([0.1, 0.1, 0.1]), track_id=track)


def test_switches_count_track_changes_of_each_true_object():
    truths = [record(1, 0.0, 101), record(2, 0.3, 102)]
    frames = [match([record(1, 0.0, 1), record(2, 0.3, 2)], truths),
              match([record(1, 0.0, 1), record(2, 0.3, 3)], truths),  # object 102: 2 -> 3
              match([record(1, 0.0, 1)], truths),  # 102 not seen
              match([record(1, 0.0, 4), record(2, 0.3, 3)], truths)]  # 101: 1 -> 4
    assert identity_switches(frames) == (2, 2)


def test_jitter_and_lag():
    truth_static = [record(1, 0.0, 7)]
    frames = [match([record(1, x, 1)], truth_static) for x in (0.000, 0.002, 0.000, 0.002)]
    assert jitter(frames) == pytest.approx((2.0, 0.0))
    # Moving +1 cm per frame, the estimate 3 mm behind: lag +3 mm, error 3 mm.
    moving = [match([record(1, 0.01 * k - 0.003, 1)], [record(1, 0.01 * k, 7)]) for k in range(5)]
    error_mm, lag_mm, error_deg = lag(moving)
    assert (error_mm, lag_mm, error_deg) == pytest.approx((3.0, 3.0, 0.0))
    metrics = sequence_metrics(moving)
    assert (metrics.objects, metrics.switches) == (1, 0)


@pytest.mark.timeout(600)
def test_tracking_command_prints_the_table(tmp_path):
    out = tmp_path / "tracking.json"
    result = subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", "tracking", "--scenes", "1", "--frames", "3",
                             "--width", "160", "--height", "120", "--smoothing", "0", "0.8", "--json", str(out)],
                            capture_output=True, text=True, timeout=560)
    assert result.returncode == 0, result.stderr
    assert "| static | 0 |" in result.stdout and "| moving | 0.8 |" in result.stdout, result.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["sequence"], r["smoothing"]) for r in rows] == [("static", 0.0), ("moving", 0.0), ("static", 0.8),
                                                              ("moving", 0.8)]
    static_raw, static_smooth = rows[0], rows[2]
    assert static_raw["objects"] > 0 and static_smooth["jitter_mm"] < static_raw["jitter_mm"]
