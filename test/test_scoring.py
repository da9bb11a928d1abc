"""Matching estimates to ground truth and the per-object errors (pure numpy, no ROS)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dualposenet_ros.core.categories import class_id
from dualposenet_ros.evaluation import scoring
from dualposenet_ros.evaluation.scoring import PoseRecord


def record(instance_id, category, rotation=None, translation=(0.0, 0.0, 0.6), size=(0.1, 0.2, 0.1), **kwargs):
    rotation = np.eye(3) if rotation is None else rotation
    return PoseRecord(instance_id, class_id(category), rotation, translation, size, **kwargs)


def about(axis: str, degrees: float) -> np.ndarray:
    return Rotation.from_euler(axis, degrees, degrees=True).as_matrix()


def test_identical_poses_have_no_error():
    truth = record(1, "camera", about("x", 30), (0.1, -0.05, 0.7))
    error = scoring.object_error(truth, truth)
    assert error.rotation_deg == pytest.approx(0.0, abs=1e-6)
    assert error.translation_m == 0.0 and error.size_m == 0.0 and error.size_relative == 0.0
    assert error.within(5, 2)


def test_rotation_about_y_is_ignored_for_symmetric_objects_only():
    base = about("x", 20)
    turned = base @ about("y", 90)  # a turn about the object's own y axis
    bottle = scoring.object_error(record(1, "bottle", turned), record(1, "bottle", base))
    assert bottle.rotation_deg == pytest.approx(0, abs=1e-5)
    camera = scoring.object_error(record(1, "camera", turned), record(1, "camera", base))
    assert camera.rotation_deg == pytest.approx(90)
    # A mug is symmetric only when its handle is hidden (a fact of the ground truth).
    visible = scoring.object_error(record(1, "mug", turned), record(1, "mug", base))
    hidden = scoring.object_error(record(1, "mug", turned), record(1, "mug", base, handle_visible=False))
    assert visible.rotation_deg == pytest.approx(90) and not visible.symmetric
    assert hidden.rotation_deg == pytest.approx(0, abs=1e-5) and hidden.symmetric
    # Tilting the y axis counts for symmetric objects too.
    assert scoring.object_error(record(1, "can", about("z", 15)), record(1, "can")).rotation_deg == pytest.approx(15)


def test_translation_and_size_errors():
    error = scoring.object_error(record(1, "bowl", translation=(0.03, 0.0, 0.64), size=(0.12, 0.2, 0.1)),
                                 record(1, "bowl", translation=(0.0, 0.0, 0.6), size=(0.1, 0.2, 0.1)))
    assert error.translation_cm == pytest.approx(5.0)
    assert error.size_cm == pytest.approx(2.0 / 3.0)
    assert error.size_percent == pytest.approx(100 * 0.02 / np.linalg.norm([0.1, 0.2, 0.1]))
    assert error.within(10, 5.01) and not error.within(10, 2)


def test_match_by_instance_id_then_by_nearest_centre_of_the_same_class():
    truths = [record(1, "mug", translation=(0, 0, 0.5)), record(2, "can", translation=(0.2, 0, 0.5)),
              record(3, "can", translation=(-0.2, 0, 0.5)), record(4, "laptop", translation=(0, 0.3, 0.9))]
    estimates = [
        record(1, "mug", translation=(0.01, 0, 0.5)),  # same id and class
        record(7, "can", translation=(-0.19, 0, 0.5)),  # other id: nearest can is 3
        record(2, "bowl", translation=(0.2, 0, 0.5)),  # id 2 but another class: no ground truth
    ]
    matching = scoring.match(estimates, truths)
    assert [(e.estimate.instance_id, e.truth.instance_id) for e in matching.errors] == [(1, 1), (7, 3)]
    assert sorted(t.instance_id for t in matching.missed) == [2, 4]
    assert [e.instance_id for e in matching.extra] == [2]
    far = scoring.match([record(9, "can", translation=(1.0, 0, 0.5))], truths[1:2])
    assert not far.errors and len(far.missed) == 1 and len(far.extra) == 1


def test_summary_counts_missed_and_failed_objects_as_misses():
    truths = [record(i, "camera", translation=(0.1 * i, 0, 0.6)) for i in (1, 2, 3, 4)]
    estimates = [
        record(1, "camera", translation=(0.1, 0, 0.6)),  # perfect
        record(2, "camera", about("y", 8), translation=(0.2, 0.03, 0.6)),  # 8 deg, 3 cm
        record(3, "camera", translation=(0.3, 0, 0.6), status=1),  # too few points
    ]
    summary = scoring.summarize(scoring.match(estimates, truths))
    assert (summary.matched, summary.missed, summary.extra, summary.failed) == (3, 1, 0, 1)
    assert summary.within["10deg5cm"] == pytest.approx(2 / 4)
    assert summary.within["5deg2cm"] == pytest.approx(1 / 4)
    assert summary.mean_rotation_deg == pytest.approx(4.0)  # over the two usable estimates
    assert summary.mean_translation_cm == pytest.approx(1.5)
    assert summary.detected_fraction == pytest.approx(3 / 4)
    text = scoring.format_summary(summary)
    assert "matched 3" in text and "10°/5cm 50%" in text


def test_check_accuracy_lists_every_failed_criterion():
    truths = [record(1, "camera"), record(2, "laptop", translation=(0.2, 0, 0.8))]
    estimates = [record(1, "camera"), record(2, "laptop", translation=(0.2, 0, 0.8))]
    good = scoring.summarize(scoring.match(estimates, truths))
    assert scoring.check_accuracy(good, min_within_10deg5cm=1.0, max_mean_rotation_deg=1.0) is good
    bad = scoring.summarize(scoring.match([record(1, "camera", about("x", 40), (0.0, 0.1, 0.6))], truths))
    with pytest.raises(scoring.AccuracyError) as failure:
        scoring.check_accuracy(bad, min_within_10deg5cm=0.5, max_mean_rotation_deg=10.0, max_mean_translation_cm=5.0)
    message = str(failure.value)
    for part in ("fraction within 10deg 5cm", "mean rotation error", "mean translation error", "detected fraction"):
        assert part in message
    with pytest.raises(AssertionError, match="only 0 objects matched"):
        scoring.check_accuracy(scoring.summarize(scoring.Matching()))


def test_records_from_poses_and_dicts_round_trip():
    rotation = about("z", 33) @ about("x", -12)
    quaternion = Rotation.from_matrix(rotation).as_quat()
    made = PoseRecord.from_pose(3, 6, (0.1, 0.2, 0.7), quaternion * 2.0, (0.1, 0.09, 0.12), 0.8, 0, False)
    np.testing.assert_allclose(made.rotation, rotation, atol=1e-12)
    back = PoseRecord.from_dict(made.to_dict())
    assert (back.instance_id, back.class_id, back.score, back.handle_visible) == (3, 6, 0.8, False)
    np.testing.assert_allclose(back.rotation, rotation, atol=1e-12)
    np.testing.assert_allclose(back.size, made.size)
    assert back.symmetric  # mug with a hidden handle


def test_table_shows_each_object_and_marks_symmetric_ones():
    truths = [record(1, "bottle", translation=(0.05, 0, 0.5)), record(2, "laptop", translation=(0, 0, 0.8))]
    estimates = [record(1, "bottle", translation=(0.06, 0, 0.5)), record(5, "mug", translation=(0.4, 0, 0.5))]
    table = scoring.format_errors(scoring.match(estimates, truths), title="frame 1")
    lines = table.splitlines()
    assert lines[0] == "frame 1" and "rot err" in lines[1]
    assert any(line.split()[:2] == ["1", "bottle"] and "*" in line and "1.0 cm" in line for line in lines)
    assert any("laptop" in line and "(no estimate)" in line for line in lines)
    assert any("mug" in line and "(no ground truth)" in line for line in lines)
    assert "symmetric about the object y axis" in lines[-1]
