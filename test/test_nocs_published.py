"""The pose frame of the public NOCS files, checked on published REAL275 results.

``fixtures/nocs_published/`` holds three per-image result pickles of the public REAL275 test set
(scene_1/0000, scene_2/0200, scene_3/0100): the public ground truth and DualPoseNet's released
predictions. Their poses are object-to-camera in the camera frame x right, y down, z forward (the
pixel back-projection without negation), the frame the project writes too. Every test here fails
when a pose is read or written with x and y negated (the network's internal frame).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dualposenet_ros.core.camera import Intrinsics
from dualposenet_ros.data.synth.render import render_scene
from dualposenet_ros.data.synth.scene import SceneSampler
from dualposenet_ros.data.synth.writer import ground_truth
from dualposenet_ros.core.estimates import FrameInput, InstanceInput, ObjectEstimate
from dualposenet_ros.evaluation import evaluate_results, load_results
from dualposenet_ros.evaluation.metrics import box_iou, pose_errors
from dualposenet_ros.core.categories import is_symmetric
from dualposenet_ros.research.phases import pose_results
from dualposenet_ros.inference.pipeline import PoseEstimator

FIXTURES = Path(__file__).parent / "fixtures" / "nocs_published"
PAPER_REAL275 = {"3D50": 79.8, "3D75": 62.2, "5deg2cm": 29.3, "5deg5cm": 35.9, "10deg2cm": 50.0, "10deg5cm": 66.8}
"""DualPoseNet's REAL275 table (mAP in %); its whole released prediction set gives exactly these."""
MEASURED_SUBSET = {"3D50": 80.6, "3D75": 65.7, "5deg2cm": 28.7, "5deg5cm": 36.1, "10deg2cm": 53.7, "10deg5cm": 61.1}
"""This evaluator on the three fixture images (mAP in %, rounded to 0.1): ``evaluate_results(*load_results(
"test/fixtures/nocs_published"))``. The pickles and the evaluator are deterministic, so a change of
any 0.1 is a change of the evaluator."""
PINNED = 0.05
"""Half of the 0.1 the values are rounded to."""
NEGATE_XY = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def published() -> tuple[list[dict], list[str]]:
    results, sources = load_results(FIXTURES, progress=False)
    assert len(results) == 3
    return results, sources


def _project(matrices: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Pixel (u, v) of each pose's translation, projected without any axis change."""
    x, y, z = np.asarray(matrices)[:, :3, 3].T
    return np.stack([intrinsics.fx * x / z + intrinsics.cx, intrinsics.fy * y / z + intrinsics.cy], axis=1)


def _inside(pixels: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether each (u, v) lies in its (y1, x1, y2, x2) box."""
    u, v = pixels.T
    y1, x1, y2, x2 = np.asarray(boxes, dtype=np.float64).T
    return (x1 <= u) & (u <= x2) & (y1 <= v) & (v <= y2)


def _negated(results: list[dict], *keys: str) -> list[dict]:
    return [{**result, **{key: NEGATE_XY @ result[key] for key in keys}} for result in results]


def test_published_translations_project_inside_their_boxes(published):
    """Ground truth and predictions: every translation projects into its 2D box; negated, none does."""
    for key, boxes in (("gt_RTs", "gt_bboxes"), ("pred_RTs", "pred_bboxes")):
        inside = np.concatenate([_inside(_project(r[key], Intrinsics.REAL), r[boxes]) for r in published[0]])
        flipped = np.concatenate([_inside(_project(NEGATE_XY @ r[key], Intrinsics.REAL), r[boxes])
                                  for r in published[0]])
        assert len(inside) >= 15 and inside.all(), (key, inside)
        assert not flipped.any(), key


def test_published_predictions_score_as_measured(published):
    """DualPoseNet's own predictions on this 3-image subset score the measured values, to 0.1 (within
    6 points of its REAL275 table, :data:`PAPER_REAL275`, on the whole test set)."""
    scores = evaluate_results(*published).map
    for metric, measured in MEASURED_SUBSET.items():
        assert scores[metric] == pytest.approx(measured, abs=PINNED), (metric, scores)


def test_negated_predictions_ruin_the_score(published):
    """Predictions written in the negated frame score IoU50 15.7 and 0 on IoU75 and every pose metric."""
    scores = evaluate_results(_negated(published[0], "pred_RTs"), published[1]).map
    assert scores["3D50"] == pytest.approx(15.7, abs=PINNED), scores
    assert all(scores[metric] == 0.0 for metric in ("3D75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")), scores


def test_the_evaluator_depends_on_the_frame(published):
    """The reference 3D IoU is not invariant under the 180-degree turn (per-corner min/max): scoring
    ground truth and predictions both negated changes IoU75, so the public frame matters for the numbers."""
    right = evaluate_results(*published).map
    both = evaluate_results(_negated(published[0], "pred_RTs", "gt_RTs"), published[1]).map
    assert both["5deg2cm"] == pytest.approx(right["5deg2cm"])  # pose errors are frame-invariant
    assert right["3D75"] == pytest.approx(MEASURED_SUBSET["3D75"], abs=PINNED)
    assert both["3D75"] == pytest.approx(71.3, abs=PINNED), both  # measured: 71.3


def _segmentation(class_ids: np.ndarray, boxes: np.ndarray, shape: tuple[int, int]) -> dict:
    count = len(class_ids)
    return {"pred_class_ids": np.asarray(class_ids), "pred_scores": np.linspace(0.99, 0.9, count).astype(np.float32),
            "pred_bboxes": np.asarray(boxes), "pred_masks": np.ones((*shape, count), dtype=bool)}


def test_ground_truth_round_trip_through_pose_results(published):
    """Estimates equal to the published ground truth (optical frame, built here by hand) -> pose_results
    -> evaluator: 100 on every metric; the written matrices equal the published ones."""
    results = []
    for gt in published[0]:
        blocks = gt["gt_RTs"][:, :3, :3]
        scales = np.cbrt(np.linalg.det(blocks))
        estimates = [ObjectEstimate(instance_id=k + 1, class_id=int(c), score=1.0, rotation=blocks[k] / scales[k],
                                    translation=gt["gt_RTs"][k, :3, 3], size=gt["gt_scales"][k] * scales[k],
                                    consistency_residual=0.0, num_points=1024)
                     for k, c in enumerate(gt["gt_class_ids"])]
        segmentation = _segmentation(gt["gt_class_ids"], gt["gt_bboxes"], (4, 4))
        instances = tuple(InstanceInput(np.ones((4, 4), bool), e.class_id, 1.0, e.instance_id) for e in estimates)
        written = pose_results(segmentation, instances, estimates)
        np.testing.assert_allclose(written["pred_RTs"], gt["gt_RTs"], atol=1e-9)
        results.append({**written, **{key: gt[key] for key in gt if key.startswith("gt_")}})
    scores = evaluate_results(results).map
    assert all(value == pytest.approx(100.0) for value in scores.values()), scores


@pytest.fixture(scope="module")
def estimated_frame():
    """A synthetic frame, its public-format ground truth and the shipped model's pose_results."""
    sampler = SceneSampler(intrinsics=Intrinsics.CAMERA, image_size=(640, 480))
    frame = render_scene(sampler.sample(np.random.default_rng(20261130)), Intrinsics.CAMERA)
    assert len(frame.instances) >= 3
    instances = tuple(InstanceInput(frame.instance_mask == gt.instance_id, gt.class_id, 1.0, k + 1)
                      for k, gt in enumerate(frame.instances))
    rgb_depth = FrameInput(frame.rgb, frame.depth_mm.astype(np.float32) / 1000.0, frame.intrinsics, instances)
    estimates = PoseEstimator.from_checkpoint(None, "cpu").estimate(rgb_depth)
    gt = ground_truth(frame, 0, "CAMERA/val/00000/0000")
    masks = np.stack([instance.mask for instance in instances], axis=2)
    segmentation = {**_segmentation(gt["gt_class_ids"], gt["gt_bboxes"], masks.shape[:2]), "pred_masks": masks}
    return frame, gt, pose_results(segmentation, instances, estimates)


def test_synthetic_ground_truth_is_in_the_public_frame(estimated_frame):
    """The generator's gt_RTs are the renderer's optical-frame poses with the scale folded in, unchanged
    (test_synth checks those poses against the rendered depth and NOCS map)."""
    frame, gt, _ = estimated_frame
    for k, instance in enumerate(frame.instances):
        np.testing.assert_allclose(gt["gt_RTs"][k, :3, :3], instance.rotation * instance.scale, atol=1e-12)
        np.testing.assert_allclose(gt["gt_RTs"][k, :3, 3], instance.translation, atol=1e-12)


def test_estimate_round_trip_matches_public_ground_truth(estimated_frame):
    """Shipped model -> pose_results -> evaluator's IoU and pose errors against the public-frame ground
    truth: the objects are found with the measured medians (IoU 0.795, 4.44°, 2.18 cm; one object
    of this scene is cut by the image border); negated, every one is more than 5 cm off.

    Measured (the same with 1 and 2 torch threads): median IoU 0.7948, median errors 4.443° and
    2.181 cm; negated: median IoU 0.0442, translation errors 8.7 to 39.8 cm."""
    frame, gt, written = estimated_frame
    symmetric = np.array([is_symmetric(int(c), bool(h)) for c, h in zip(gt["gt_class_ids"],
                                                                         gt["gt_handle_visibility"])])
    diagonal = np.arange(len(frame.instances))
    for rts, good in ((written["pred_RTs"], True), (NEGATE_XY @ written["pred_RTs"], False)):
        iou = box_iou(rts, written["pred_scales"], gt["gt_RTs"], gt["gt_scales"], symmetric)[diagonal, diagonal]
        errors = pose_errors(rts, gt["gt_RTs"], symmetric)[diagonal, diagonal]
        if good:
            assert np.median(iou) == pytest.approx(0.795, abs=0.01), (iou, errors)
            rotation_deg, translation_cm = np.median(errors, axis=0)
            assert rotation_deg == pytest.approx(4.44, abs=0.2), errors
            assert translation_cm == pytest.approx(2.18, abs=0.1), errors
        else:
            assert np.median(iou) < 0.25 and np.all(errors[:, 1] > 5.0), (iou, errors)
