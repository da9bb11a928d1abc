#!/usr/bin/env python3
"""A model on the one real REAL275 frame in test/fixtures, next to the official DualPoseNet predictions.

The frame (REAL275 test scene_6/0000) comes with its ground truth and the official model's released
predictions, but without masks: each object's mask is derived from its ground truth, the pixels whose
back-projected depth point lies inside the object's box (5 % margin). The same masks go to the model
under test, so the comparison is of pose estimation only, not of segmentation (the official predictions
used Mask R-CNN masks).

    python tools/real_frame.py [--checkpoint PATH] [--json OUT.json]

prints each object's rotation and translation error for the model and for the official predictions,
and how many objects each gets within 10 degrees and 5 cm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "real275_scene_6_0000"
BOX_MARGIN = 0.05


def ground_truth_masks(depth_m: np.ndarray, intrinsics, results: dict, margin: float = BOX_MARGIN) -> list[np.ndarray]:
    """Per ground-truth object, the pixels whose depth point lies inside its box (``margin`` larger)."""
    from dualposenet_ros.core.frames import public_pose

    height, width = depth_m.shape
    rows, cols = np.mgrid[0:height, 0:width]
    points = np.stack([(cols - intrinsics.cx) / intrinsics.fx * depth_m, (rows - intrinsics.cy) / intrinsics.fy
                       * depth_m, depth_m], axis=-1)
    masks = []
    for matrix, extents in zip(results["gt_RTs"], results["gt_scales"], strict=True):
        rotation, translation, scale = public_pose(matrix)
        canonical = (points - translation) @ rotation / scale
        inside = np.all(np.abs(canonical) <= np.asarray(extents) / 2.0 * (1.0 + margin), axis=-1)
        masks.append(inside & (depth_m > 0))
    return masks


def truth_records(results: dict) -> list:
    from dualposenet_ros.evaluation.scoring import PoseRecord
    from dualposenet_ros.core.frames import public_pose

    records = []
    for index, (class_id, matrix, extents, handle) in enumerate(zip(
            results["gt_class_ids"], results["gt_RTs"], results["gt_scales"], results["gt_handle_visibility"],
            strict=True)):
        rotation, translation, scale = public_pose(matrix)
        records.append(PoseRecord(index + 1, int(class_id), rotation, translation, np.asarray(extents) * scale,
                                  handle_visible=bool(handle)))
    return records


def official_records(results: dict) -> list:
    """The released predictions, numbered from 101 so they are matched to the truth by position."""
    from dualposenet_ros.evaluation.scoring import PoseRecord
    from dualposenet_ros.core.frames import public_pose

    records = []
    for index, (class_id, matrix, extents, score) in enumerate(zip(
            results["pred_class_ids"], results["pred_RTs"], results["pred_scales"], results["pred_scores"],
            strict=True)):
        rotation, translation, scale = public_pose(matrix)
        records.append(PoseRecord(101 + index, int(class_id), rotation, translation, np.asarray(extents) * scale,
                                  score=float(score)))
    return records


def compare(checkpoint: str | None, fixture: Path = FIXTURE, threads: int | None = None) -> dict:
    """Errors per object of the model (``None``: the shipped one) and of the official predictions."""
    import torch

    from dualposenet_ros.data import nocs_io
    from dualposenet_ros.core.estimates import FrameInput, InstanceInput
    from dualposenet_ros.evaluation.scoring import PoseRecord, match
    from dualposenet_ros.inference.pipeline import PoseEstimator

    if threads:
        torch.set_num_threads(threads)
    results = nocs_io.read_pickle(fixture / "results_test_scene_6_0000.pkl")
    rgb = nocs_io.read_color(fixture / "0000_color.png")
    depth = nocs_io.read_depth(fixture / "0000_depth.png").astype(np.float32) / 1000.0
    intrinsics = nocs_io.REAL_INTRINSICS
    masks = ground_truth_masks(depth, intrinsics, results)
    truths = truth_records(results)
    instances = tuple(InstanceInput(mask=mask, class_id=truth.class_id, instance_id=truth.instance_id)
                      for mask, truth in zip(masks, truths, strict=True))
    estimator = PoseEstimator.from_checkpoint(checkpoint, device="cpu")
    estimates = estimator.estimate(FrameInput(rgb, depth, intrinsics, instances))
    ours = match([PoseRecord.from_estimate(estimate) for estimate in estimates], truths)
    official = match(official_records(results), truths)
    by_truth = {error.truth.instance_id: error for error in official.errors}
    rows = []
    for error, mask in zip(sorted(ours.errors, key=lambda e: e.truth.instance_id), masks, strict=True):
        theirs = by_truth.get(error.truth.instance_id)
        rows.append({
            "instance": error.truth.instance_id, "category": error.truth.category, "mask_pixels": int(mask.sum()),
            "rotation_deg": error.rotation_deg, "translation_cm": error.translation_cm,
            "rotation_vector_deg": _object_frame_turn(error.truth.rotation, error.estimate.rotation),
            "size_m": [round(float(v), 4) for v in error.estimate.size],
            "true_size_m": [round(float(v), 4) for v in error.truth.size],
            "official_rotation_deg": theirs.rotation_deg if theirs else None,
            "official_translation_cm": theirs.translation_cm if theirs else None,
        })
    return {
        "checkpoint": checkpoint or "shipped default",
        "objects": rows,
        "within_10deg_5cm": sum(error.within(10.0, 5.0) for error in ours.errors),
        "official_within_10deg_5cm": sum(error.within(10.0, 5.0) for error in official.errors),
        "count": len(truths),
    }


def _object_frame_turn(truth: np.ndarray, estimate: np.ndarray) -> list[float]:
    """The estimate's rotation relative to the truth as a rotation vector (degrees) in the object's
    own axes (x, y up, z): a turn about one axis shows which way the model is wrong."""
    from scipy.spatial.transform import Rotation

    return [round(float(v), 1) for v in np.degrees(Rotation.from_matrix(truth.T @ estimate).as_rotvec())]


def format_table(report: dict) -> str:
    lines = ["| object | category | mask px | rotation (deg) | translation (cm) | official rotation (deg) "
             "| official translation (cm) |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in report["objects"]:
        official = (f"{row['official_rotation_deg']:.1f} | {row['official_translation_cm']:.1f}"
                    if row["official_rotation_deg"] is not None else "unmatched | unmatched")
        lines.append(f"| {row['instance']} | {row['category']} | {row['mask_pixels']} | {row['rotation_deg']:.1f} | "
                     f"{row['translation_cm']:.1f} | {official} |")
    lines.append("\n| object | turn about the object's x / y / z (deg) | size (m) | true size (m) |\n|---|---|---|---|")
    for row in report["objects"]:
        lines.append(f"| {row['instance']} | {' / '.join(f'{v:.1f}' for v in row['rotation_vector_deg'])} | "
                     f"{' x '.join(f'{v:.3f}' for v in row['size_m'])} | "
                     f"{' x '.join(f'{v:.3f}' for v in row['true_size_m'])} |")
    lines.append(f"\nwithin 10 deg / 5 cm: {report['within_10deg_5cm']} of {report['count']} "
                 f"(official predictions: {report['official_within_10deg_5cm']} of {report['count']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint to measure (default: the shipped model)")
    parser.add_argument("--json", default=None, help="also write the report as JSON here")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    report = compare(args.checkpoint, threads=args.threads)
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
