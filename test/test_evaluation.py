"""NOCS metrics on hand-made scenes whose answers are known (reference-evaluator semantics)."""

from __future__ import annotations

import argparse
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from dualposenet_ros.core.categories import CATEGORIES, class_id
from dualposenet_ros.evaluation import METRIC_KEYS, ResultsFormatError, evaluate_results
from dualposenet_ros.evaluation import command
from dualposenet_ros.evaluation.metrics import average_precision, box_iou
from dualposenet_ros.evaluation.report import format_table, write_json

EXTENTS = np.array([0.5, 0.6, 0.62]) / np.linalg.norm([0.5, 0.6, 0.62])
POSE_KEYS = ("5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")
IOU_KEYS = ("3D25", "3D50", "3D75")


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Rotation matrix about a coordinate axis."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    matrix = np.eye(3)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


BASE_ROTATION = rotation("z", -10) @ rotation("y", 30) @ rotation("x", 20)


def pose(position: tuple[float, float, float] = (0.05, -0.02, 0.8), turn: np.ndarray | None = None) -> np.ndarray:
    """A 4x4 ``sR|t`` with object size 0.2 m; ``turn`` is applied in the object frame."""
    matrix = np.eye(4)
    matrix[:3, :3] = 0.2 * BASE_ROTATION @ (np.eye(3) if turn is None else turn)
    matrix[:3, 3] = position
    return matrix


def image(gts: list[tuple[str, np.ndarray]], preds: list[tuple[str, np.ndarray, float]], handle: int = 1) -> dict:
    """One results dict from (category, RT) ground truths and (category, RT, score) predictions."""
    return {
        "gt_class_ids": np.array([class_id(name) for name, _ in gts], dtype=np.int32),
        "gt_RTs": np.array([rt for _, rt in gts]).reshape(-1, 4, 4),
        "gt_scales": np.tile(EXTENTS, (len(gts), 1)),
        "gt_handle_visibility": np.full(len(gts), handle),
        "pred_class_ids": np.array([class_id(name) for name, _, _ in preds], dtype=np.int32),
        "pred_RTs": np.array([rt for _, rt, _ in preds]).reshape(-1, 4, 4),
        "pred_scales": np.tile(EXTENTS, (len(preds), 1)),
        "pred_scores": np.array([score for _, _, score in preds], dtype=np.float32),
        "pred_bboxes": np.tile([10, 10, 50, 50], (len(preds), 1)),
    }


def single(name: str, predicted: np.ndarray, handle: int = 1) -> dict[str, float]:
    """Per-class metrics of one instance of ``name`` predicted at ``predicted``."""
    return evaluate_results([image([(name, pose())], [(name, predicted, 0.9)], handle)]).per_class[name]


def test_perfect_predictions_score_100_everywhere() -> None:
    offsets = [(0.3 * k - 0.75, 0.0, 1.0) for k in range(len(CATEGORIES))]
    gts = [(name, pose(offset)) for name, offset in zip(CATEGORIES, offsets)]
    result = evaluate_results([image(gts, [(name, rt, 0.5) for name, rt in gts])])
    assert result.map == pytest.approx({key: 100.0 for key in METRIC_KEYS})
    assert all(result.per_class[name] == pytest.approx(result.map) for name in CATEGORIES)


def test_bottle_flipped_about_y_still_matches() -> None:
    assert single("bottle", pose(turn=rotation("y", 180))) == pytest.approx({key: 100.0 for key in METRIC_KEYS})


def test_camera_flipped_about_y_fails_rotation_but_passes_iou_gate() -> None:
    flipped = pose(turn=rotation("y", 180))
    metrics = single("camera", flipped)
    assert all(metrics[key] == 0.0 for key in POSE_KEYS)
    result = evaluate_results([image([("camera", pose())], [("camera", flipped, 0.9)])])
    camera = CATEGORIES.index("camera")
    assert result.translation_ap[camera, 1] == pytest.approx(1.0)  # matched at IoU > 0.1, any rotation


def test_mug_is_symmetric_only_when_its_handle_is_hidden() -> None:
    flipped = pose(turn=rotation("y", 180))
    assert single("mug", flipped, handle=0) == pytest.approx({key: 100.0 for key in METRIC_KEYS})
    assert all(single("mug", flipped, handle=1)[key] == 0.0 for key in POSE_KEYS)


def test_six_degrees_misses_5deg_and_hits_10deg() -> None:
    metrics = single("camera", pose(turn=rotation("x", 6)))
    assert (metrics["5deg2cm"], metrics["5deg5cm"]) == (0.0, 0.0)
    assert metrics["10deg2cm"] == pytest.approx(100.0) and metrics["10deg5cm"] == pytest.approx(100.0)


def test_three_centimetres_misses_2cm_and_hits_5cm() -> None:
    metrics = single("laptop", pose(position=(0.08, -0.02, 0.8)))
    assert (metrics["5deg2cm"], metrics["10deg2cm"]) == (0.0, 0.0)
    assert metrics["5deg5cm"] == pytest.approx(100.0) and metrics["10deg5cm"] == pytest.approx(100.0)


def test_wrong_class_never_matches() -> None:
    result = evaluate_results([image([("camera", pose())], [("laptop", pose(), 0.9)])])
    assert all(value == 0.0 for value in result.per_class["camera"].values())
    # Predictions of a category without ground truth: recall 0/0, the reference's IoU AP is NaN;
    # no prediction passes the IoU gate, so the pose APs see nothing at all and are 0.
    assert all(math.isnan(result.per_class["laptop"][key]) for key in IOU_KEYS)
    assert all(result.per_class["laptop"][key] == 0.0 for key in POSE_KEYS)
    assert result.to_json()["per_class"]["laptop"]["3D25"] is None


def test_higher_scored_false_positive_costs_the_voc_amount() -> None:
    gts = [("camera", pose()), ("camera", pose((-0.2, 0.0, 0.9)))]
    preds = [("camera", pose((0.4, 0.3, 1.5)), 0.9), ("camera", gts[0][1], 0.8), ("camera", gts[1][1], 0.7)]
    result = evaluate_results([image(gts, preds)])
    # Ranked FP, TP, TP: precision envelope 2/3 over recall 0 -> 1/2 -> 1, so AP = 2/3.
    assert all(result.per_class["camera"][key] == pytest.approx(200 / 3) for key in IOU_KEYS)
    # Pose APs only see predictions matched at IoU > 0.1: the false positive does not count.
    assert all(result.per_class["camera"][key] == pytest.approx(100.0) for key in POSE_KEYS)
    # The mean is over all six categories, those without data counting 0.
    assert result.map["3D50"] == pytest.approx(200 / 3 / 6)


def test_average_precision_by_hand() -> None:
    assert average_precision(np.array([True, False, True]), 2) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision(np.array([True, True]), 4) == pytest.approx(0.5)
    assert average_precision(np.zeros(0, dtype=bool), 3) == 0.0


def test_iou_uses_per_corner_extents_like_the_reference() -> None:
    unit, shifted = np.eye(4), np.eye(4)
    unit[:3, 3], shifted[:3, 3] = (0, 0, 2.0), (0, 0, 2.5)
    iou = box_iou(unit[None], np.ones((1, 3)), shifted[None], np.ones((1, 3)), np.array([False]))
    # Each corner's interval is [min(x, y, z), max(x, y, z)]: volumes 432 and 2.5^4 * 1.5 * 3.5^3,
    # the first inside the second (a true axis-aligned IoU would be 1/3).
    assert iou[0, 0] == pytest.approx(432 / (2.5**4 * 1.5 * 3.5**3), rel=1e-6)


def test_json_has_exactly_the_contract_keys(tmp_path: Path) -> None:
    result = evaluate_results([image([("bowl", pose())], [("bowl", pose(), 0.9)])])
    path = tmp_path / "metrics.json"
    write_json(result, path)
    data = json.loads(path.read_text())
    expected = ["3D25", "3D50", "3D75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"]
    assert sorted(data) == ["mAP", "per_class"]
    assert list(data["mAP"]) == expected
    assert sorted(data["per_class"]) == sorted(CATEGORIES)
    assert all(list(metrics) == expected for metrics in data["per_class"].values())
    assert data["per_class"]["bowl"]["3D50"] == pytest.approx(100.0)


def test_table_uses_the_paper_layout() -> None:
    table = format_table(evaluate_results([image([("can", pose())], [("can", pose(), 0.9)])]))
    lines = table.splitlines()
    assert lines[0].split() == ["IoU25", "IoU50", "IoU75", "5°2cm", "5°5cm", "10°2cm", "10°5cm"]
    assert lines[-1].split()[0] == "mAP" and "16.7" in lines[-1]
    assert any(line.split()[0] == "can" and line.split()[1] == "100.0" for line in lines[2:])


def write_results(directory: Path, results: list[dict]) -> None:
    """Store results dicts as ``results_*.pkl`` files."""
    for index, result in enumerate(results):
        with (directory / f"results_{index:04d}.pkl").open("wb") as stream:
            pickle.dump(result, stream)


def test_missing_key_error_names_file_and_key(tmp_path: Path) -> None:
    broken = image([("can", pose())], [("can", pose(), 0.9)])
    del broken["pred_scores"]
    write_results(tmp_path, [broken])
    with pytest.raises(ResultsFormatError, match=r"results_0000\.pkl.*'pred_scores'"):
        command.load_results(tmp_path, progress=False)


def test_command_prints_table_and_writes_json_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_results(tmp_path, [image([("bottle", pose())], [("bottle", pose(), 0.9)]), image([], [])])
    parser = argparse.ArgumentParser()
    command.configure_parser(parser)
    args = parser.parse_args([str(tmp_path), "--json", str(tmp_path / "m.json"), "--plot", str(tmp_path / "ap.png")])
    assert command.run(args) == 0
    assert "IoU25" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["per_class"]["bottle"]["10deg5cm"] == pytest.approx(100.0)
    assert (tmp_path / "ap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_reports_an_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    command.configure_parser(parser)
    assert command.run(parser.parse_args([str(tmp_path)])) == 1
    assert "results_*.pkl" in capsys.readouterr().err
