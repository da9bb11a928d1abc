"""Tracker (identities, gate, missed frames, smoothing) and gating of estimates, without ROS."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dualposenet_ros.core.estimates import EstimateStatus, ObjectEstimate
from dualposenet_ros.core.rotations import rotation_error_deg
from dualposenet_ros.inference.tracking import Tracker, TrackerSettings, align_about_y, gate

MUG, CAN = 6, 4


def estimate(class_id: int, x: float, y: float = 0.0, z: float = 0.6, instance_id: int = 1,
             rotation: np.ndarray | None = None, score: float = 1.0, residual: float = 0.01,
             status: EstimateStatus = EstimateStatus.OK) -> ObjectEstimate:
    return ObjectEstimate(instance_id=instance_id, class_id=class_id, score=score,
                          rotation=np.eye(3) if rotation is None else rotation, translation=np.array([x, y, z]),
                          size=np.array([0.08, 0.1, 0.08]), consistency_residual=residual, num_points=500,
                          status=status)


def test_identities_follow_the_objects_whatever_the_instance_order():
    tracker = Tracker()
    first = tracker.update([estimate(MUG, 0.0, instance_id=1), estimate(MUG, 0.3, instance_id=2)], 0.0)
    ids = {round(e.translation[0], 2): e.track_id for e in first}
    assert sorted(ids.values()) == [1, 2]
    # The segmenter numbers them the other way round and both moved 1 cm.
    second = tracker.update([estimate(MUG, 0.31, instance_id=1), estimate(MUG, 0.01, instance_id=2)], 0.2)
    assert [e.track_id for e in second] == [ids[0.3], ids[0.0]]
    assert [e.instance_id for e in second] == [1, 2]  # per-frame numbering is kept


def test_categories_are_tracked_separately_and_far_jumps_make_new_tracks():
    tracker = Tracker(TrackerSettings(gate=0.5))  # diagonal of the test box is 0.15 m: gate 7.5 cm
    mug, can = tracker.update([estimate(MUG, 0.0), estimate(CAN, 0.02)], 0.0)
    # The can is where the mug was: a can track cannot take a mug.
    moved = tracker.update([estimate(CAN, 0.0), estimate(MUG, 0.05)], 0.2)
    assert moved[0].track_id == can.track_id and moved[1].track_id == mug.track_id
    jumped = tracker.update([estimate(MUG, 0.30)], 0.4)  # 25 cm: beyond the gate
    assert jumped[0].track_id not in (mug.track_id, can.track_id)


def test_a_track_survives_max_missed_frames_and_no_more():
    tracker = Tracker(TrackerSettings(max_missed=2))
    (first,) = tracker.update([estimate(MUG, 0.0)], 0.0)
    for k in range(2):
        tracker.update([], 0.2 * (k + 1))
    (back,) = tracker.update([estimate(MUG, 0.0)], 0.6)
    assert back.track_id == first.track_id
    for k in range(3):
        tracker.update([], 0.8 + 0.2 * k)
    (again,) = tracker.update([estimate(MUG, 0.0)], 1.6)
    assert again.track_id != first.track_id


def test_constant_motion_is_followed_through_a_short_gap():
    """The velocity prediction keeps the identity of an object that moves half its gate per frame."""
    tracker = Tracker(TrackerSettings(gate=0.4, max_missed=2))
    ids = set()
    for k in range(12):
        if k in (6, 7):
            tracker.update([], 0.2 * k)  # not seen for two frames while it moves on
            continue
        (result,) = tracker.update([estimate(MUG, 0.04 * k)], 0.2 * k)
        ids.add(result.track_id)
    assert ids == {1}


def test_not_ok_estimates_are_not_tracked():
    tracker = Tracker()
    results = tracker.update([estimate(MUG, 0.0, status=EstimateStatus.TOO_FEW_POINTS),
                              estimate(MUG, 0.3, status=EstimateStatus.LOW_SCORE), estimate(MUG, 0.6)], 0.0)
    assert [r.track_id for r in results] == [0, 0, 1]


def test_smoothing_reduces_static_jitter_and_follows_constant_velocity():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.003, size=(60, 3))
    angles = rng.normal(0.0, 2.0, size=(60, 3))

    def run(smoothing: float, velocity: float) -> tuple[float, float, float]:
        tracker = Tracker(TrackerSettings(smoothing=smoothing))
        positions, rotations = [], []
        for k in range(60):
            rotation = Rotation.from_euler("xyz", angles[k], degrees=True).as_matrix()
            true = np.array([velocity * 0.2 * k, 0.0, 0.6])
            (out,) = tracker.update([estimate(MUG, *(true + noise[k]), rotation=rotation)], 0.2 * k)
            positions.append(out.translation - true)
            rotations.append(out.rotation)
        steps = np.linalg.norm(np.diff(positions[20:], axis=0), axis=1)
        turns = [rotation_error_deg(a, b) for a, b in zip(rotations[20:], rotations[21:])]
        lag = float(np.mean([p[0] for p in positions[20:]]))  # signed error along the motion
        return float(np.mean(steps)), float(np.mean(turns)), lag

    raw = run(0.0, 0.0)
    smooth = run(0.7, 0.0)
    assert smooth[0] < 0.5 * raw[0] and smooth[1] < 0.5 * raw[1]
    moving = run(0.7, 0.1)  # 10 cm/s: the alpha-beta filter has no steady lag
    assert abs(moving[2]) < 0.003


def test_symmetric_objects_are_aligned_about_y():
    base = Rotation.from_euler("x", 20, degrees=True).as_matrix()
    spun = base @ Rotation.from_euler("y", 70, degrees=True).as_matrix()
    assert rotation_error_deg(align_about_y(spun, base), base) == pytest.approx(0.0, abs=1e-4)
    tracker = Tracker()
    tracker.update([estimate(CAN, 0.0, rotation=base)], 0.0)
    (out,) = tracker.update([estimate(CAN, 0.0, rotation=spun)], 0.2)
    assert rotation_error_deg(out.rotation, base) == pytest.approx(0.0, abs=1e-4)  # same y axis, no flicker
    mug_tracker = Tracker()
    mug_tracker.update([estimate(MUG, 0.0, rotation=base)], 0.0)
    (mug,) = mug_tracker.update([estimate(MUG, 0.0, rotation=spun)], 0.2)
    assert np.allclose(mug.rotation, spun)  # a mug estimate (handle seen) is not turned


def test_gate_marks_low_scores_and_high_residuals():
    results = gate([estimate(MUG, 0, score=0.2), estimate(MUG, 0, residual=0.5), estimate(MUG, 0),
                    estimate(MUG, 0, score=0.1, status=EstimateStatus.TOO_FEW_POINTS),
                    estimate(MUG, 0, residual=float("nan"))], min_score=0.3, max_consistency_residual=0.1)
    assert [r.status for r in results] == [EstimateStatus.LOW_SCORE, EstimateStatus.HIGH_RESIDUAL, EstimateStatus.OK,
                                           EstimateStatus.TOO_FEW_POINTS, EstimateStatus.HIGH_RESIDUAL]
    assert [r.status for r in gate([estimate(MUG, 0, residual=5.0)])] == [EstimateStatus.OK]  # defaults: no limit


def test_settings_are_checked():
    for bad in ({"max_missed": -1}, {"gate": 0.0}, {"smoothing": 1.0}, {"smoothing": -0.1}):
        with pytest.raises(ValueError):
            TrackerSettings(**bad)
