"""NOCS category-level pose metrics: 3D IoU, pose errors, greedy matching and VOC AP.

This reproduces the reference evaluator (``compute_degree_cm_mAP`` of the NOCS repository,
Wang et al. CVPR 2019, called with ``use_matches_for_pose=True, iou_pose_thres=0.1`` as
DualPoseNet and later papers do), quirks included, because published numbers are only
comparable when computed the same way. The quirks reproduced on purpose:

* 3D IoU takes min/max of each transformed box corner over its x, y, z coordinates (the
  reference reduces a ``(3, 8)`` array along axis 0), so a "box" is 8 intervals, one per corner.
* Pose APs only see the predictions and ground truths matched at 3D IoU > 0.1; unmatched
  predictions are not false positives and unmatched ground truths do not count in recall.
* The mean is over the six categories, a category without data counting as AP 0 (or NaN when
  it has predictions but no ground truth: recall is 0/0 there).

Ties are broken as the reference breaks them (same numpy sort calls on the same arrays).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dualposenet_ros.core.categories import CATEGORIES, NOCS_CATEGORIES, CategorySet
from dualposenet_ros.data.nocs_io import ResultsFormatError

IOU_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 101)
"""3D IoU thresholds of the AP curve (the reference's ``np.linspace(0, 1, 101)``)."""
DEGREE_THRESHOLDS: np.ndarray = np.arange(0, 61, dtype=np.float64)
"""Rotation thresholds of the AP curve, degrees."""
SHIFT_THRESHOLDS_CM: np.ndarray = np.arange(0, 101, dtype=np.float64)
"""Translation thresholds of the AP curve, centimetres."""
ANY_DEGREE = 360.0
"""The reference's catch-all rotation threshold, used for the translation-only curve."""
ANY_SHIFT_CM = 100.0
"""The reference's catch-all translation threshold (not infinity), used for the rotation-only curve."""
POSE_IOU_GATE = 0.1
"""3D IoU a prediction must exceed (matched greedily) to take part in the pose metrics."""
SYMMETRY_SAMPLES = 20
"""Rotations about y tried for the 3D IoU of symmetric instances."""

IOU_METRICS: dict[str, float] = {"3D25": 0.25, "3D50": 0.50, "3D75": 0.75}
POSE_METRICS: dict[str, tuple[float, float]] = {
    "5deg2cm": (5.0, 2.0),
    "5deg5cm": (5.0, 5.0),
    "10deg2cm": (10.0, 2.0),
    "10deg5cm": (10.0, 5.0),
}
METRIC_KEYS: tuple[str, ...] = (*IOU_METRICS, *POSE_METRICS)
"""Reported metrics, in the paper's column order."""
MEAN_ROW = "mean"

REQUIRED_KEYS: tuple[str, ...] = (
    "gt_class_ids",
    "gt_RTs",
    "gt_scales",
    "gt_handle_visibility",
    "pred_class_ids",
    "pred_RTs",
    "pred_scales",
    "pred_scores",
    "pred_bboxes",
)

# The reference's corner order of a box centred at the origin (signs of x/2, y/2, z/2).
_CORNER_SIGNS = np.array(
    [[1, 1, 1], [1, 1, -1], [-1, 1, 1], [-1, 1, -1], [1, -1, 1], [1, -1, -1], [-1, -1, 1], [-1, -1, -1]]
)
_Y_AXIS = np.array([0, 1, 0])


# --------------------------------------------------------------------------- input records


@dataclass(frozen=True)
class ImageRecord:
    """The arrays of one image that the metrics read, with consistent lengths."""

    gt_class_ids: np.ndarray
    gt_RTs: np.ndarray
    gt_scales: np.ndarray
    gt_handle_visibility: np.ndarray
    pred_class_ids: np.ndarray
    pred_RTs: np.ndarray
    pred_scales: np.ndarray
    pred_scores: np.ndarray


def _float_array(value: Any, shape_tail: tuple[int, ...]) -> np.ndarray:
    """Array of ``value`` keeping a float dtype (precision follows the file, like the reference)."""
    array = np.zeros((0, *shape_tail)) if value is None else np.asarray(value)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    if array.size == 0:
        return array.reshape((0, *shape_tail))
    return array


def image_record(result: Mapping[str, Any], source: str) -> ImageRecord:
    """Validate one results dict and return its arrays; errors name ``source`` and the key."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ResultsFormatError(f"{source}: missing key {missing[0]!r} (required: {', '.join(REQUIRED_KEYS)})")
    gt_ids = np.asarray(result["gt_class_ids"]).astype(np.int32).reshape(-1)
    pred_ids = np.asarray(result["pred_class_ids"]).reshape(-1)
    if len(pred_ids) == 0:  # files without detections may hold None or oddly shaped empties
        pred = (np.zeros((0, 4, 4)), np.zeros((0, 3)), np.zeros(0))
    else:
        pred = (
            _float_array(result["pred_RTs"], (4, 4)),
            _float_array(result["pred_scales"], (3,)),
            np.asarray(result["pred_scores"]).reshape(-1),
        )
    record = ImageRecord(
        gt_class_ids=gt_ids,
        gt_RTs=_float_array(result["gt_RTs"], (4, 4)),
        gt_scales=_float_array(result["gt_scales"], (3,)),
        gt_handle_visibility=np.asarray(result["gt_handle_visibility"]).reshape(-1),
        pred_class_ids=pred_ids,
        pred_RTs=pred[0],
        pred_scales=pred[1],
        pred_scores=pred[2],
    )
    gt_count, pred_count = len(gt_ids), len(pred_ids)
    expected_shapes = (
        ("gt_RTs", record.gt_RTs, (gt_count, 4, 4)),
        ("gt_scales", record.gt_scales, (gt_count, 3)),
        ("gt_handle_visibility", record.gt_handle_visibility, (gt_count,)),
        ("pred_RTs", record.pred_RTs, (pred_count, 4, 4)),
        ("pred_scales", record.pred_scales, (pred_count, 3)),
        ("pred_scores", record.pred_scores, (pred_count,)),
    )
    for key, array, shape in expected_shapes:
        if array.shape != shape:
            raise ResultsFormatError(f"{source}: {key!r} has shape {array.shape}, expected {shape} from the class ids")
    return record


# --------------------------------------------------------------------------- geometry


def box_corners(scales: np.ndarray) -> np.ndarray:
    """Corners ``(..., 8, 3)`` of origin-centred boxes with extents ``scales`` ``(..., 3)``."""
    return scales[..., None, :] / 2 * _CORNER_SIGNS.astype(scales.dtype)


def transform_points(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply homogeneous ``(..., 4, 4)`` transforms to ``(..., K, 3)`` points (with the w divide)."""
    ones = np.ones((*points.shape[:-1], 1), dtype=points.dtype)
    homogeneous = np.swapaxes(np.concatenate([points, ones], axis=-1), -1, -2)
    moved = transforms @ homogeneous
    return np.swapaxes(moved[..., :3, :] / moved[..., 3:, :], -1, -2)


def _y_rotations(count: int) -> np.ndarray:
    """``count`` homogeneous rotations about y by ``2 pi i / count``, as the reference samples them."""
    angles = 2 * np.pi * np.arange(count) / float(count)
    cos, sin = np.cos(angles), np.sin(angles)
    rotations = np.zeros((count, 4, 4))
    rotations[:, 0, 0], rotations[:, 0, 2] = cos, sin
    rotations[:, 2, 0], rotations[:, 2, 2] = -sin, cos
    rotations[:, 1, 1] = rotations[:, 3, 3] = 1.0
    return rotations


def _corner_extents(transforms: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-corner (min, max) over x, y, z of the transformed box: the reference's 8-D "box"."""
    corners = transform_points(transforms, box_corners(scales))
    return corners.min(axis=-1), corners.max(axis=-1)


def _extent_iou(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """IoU of broadcastable (min, max) extents ``(..., 8)``; 0 intersection when any side is negative."""
    sides = np.minimum(first[1], second[1]) - np.maximum(first[0], second[0])
    intersection = np.where(sides.min(axis=-1) < 0, 0.0, np.prod(sides, axis=-1))
    union = np.prod(first[1] - first[0], axis=-1) + np.prod(second[1] - second[0], axis=-1) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def box_iou(
    pred_RTs: np.ndarray, pred_scales: np.ndarray, gt_RTs: np.ndarray, gt_scales: np.ndarray, gt_symmetric: np.ndarray
) -> np.ndarray:
    """3D IoU ``(P, G)`` as float32 (the reference stores it so); best of 20 y-rotations for symmetric gts."""
    gt = _corner_extents(gt_RTs, gt_scales)
    gt_b = (gt[0][None], gt[1][None])
    pred = _corner_extents(pred_RTs, pred_scales)
    overlaps = _extent_iou((pred[0][:, None], pred[1][:, None]), gt_b)
    if np.any(gt_symmetric) and len(pred_RTs):
        rotated_RTs = pred_RTs[:, None] @ _y_rotations(SYMMETRY_SAMPLES)[None]
        rotated = _corner_extents(rotated_RTs, pred_scales[:, None])
        samples = _extent_iou((rotated[0][:, :, None], rotated[1][:, :, None]), (gt_b[0][None], gt_b[1][None]))
        best = np.max(np.where(samples > 0, samples, 0.0), axis=1)  # NaN samples never win, floor 0
        overlaps = np.where(gt_symmetric[None, :], best, overlaps)
    return overlaps.astype(np.float32)


def _rotation_and_translation(RT: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split one ``sR|t`` into the rotation ``sR / cbrt(det sR)`` and the translation."""
    scaled = RT[:3, :3]
    return scaled / np.cbrt(np.linalg.det(scaled)), RT[:3, 3]


def _pose_error(pred_RT: np.ndarray, gt_RT: np.ndarray, symmetric: bool) -> tuple[float, float]:
    """Rotation error (degrees) and translation error (cm) of one pair.

    A symmetric instance compares only the y axes, without clipping the cosine (a round-off
    overshoot gives NaN, which passes every threshold in the reference); others use the
    clipped geodesic angle of ``R1 R2^T``. Evaluated pair by pair with the reference's
    expressions so that round-off, which decides the 0-degree threshold, is the same.
    """
    r_pred, t_pred = _rotation_and_translation(pred_RT)
    r_gt, t_gt = _rotation_and_translation(gt_RT)
    if symmetric:
        y_pred, y_gt = r_pred @ _Y_AXIS, r_gt @ _Y_AXIS
        radians = np.arccos(y_pred.dot(y_gt) / (np.linalg.norm(y_pred) * np.linalg.norm(y_gt)))
    else:
        radians = np.arccos(np.clip((np.trace(r_pred @ r_gt.T) - 1) / 2, -1.0, 1.0))
    return radians * (180 / np.pi), np.linalg.norm(t_pred - t_gt) * 100


def pose_errors(pred_RTs: np.ndarray, gt_RTs: np.ndarray, gt_symmetric: np.ndarray) -> np.ndarray:
    """Rotation (degrees) and translation (cm) errors of every pair, ``(P, G, 2)``.

    A loop rather than batched algebra: only IoU-matched pairs get here, a handful per image.
    """
    errors = np.zeros((len(pred_RTs), len(gt_RTs), 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, pred_RT in enumerate(pred_RTs):
            for j, gt_RT in enumerate(gt_RTs):
                errors[i, j] = _pose_error(pred_RT, gt_RT, bool(gt_symmetric[j]))
    return errors


# --------------------------------------------------------------------------- matching and AP


def match_by_iou(overlaps: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching per IoU threshold of score-sorted predictions: (pred hit (T, P), gt hit (T, G)).

    Each prediction looks at the still-unmatched gts in decreasing IoU order (NaN skipped) and
    takes the first one if its IoU exceeds the threshold strictly; otherwise it stays unmatched.
    """
    num_pred, num_gt = overlaps.shape
    pred_hit = np.zeros((len(thresholds), num_pred), dtype=bool)
    gt_hit = np.zeros((len(thresholds), num_gt), dtype=bool)
    if num_pred == 0 or num_gt == 0:
        return pred_hit, gt_hit
    rows = np.arange(len(thresholds))
    for i in range(num_pred):
        order = np.argsort(overlaps[i])[::-1]
        values = overlaps[i, order]
        free = ~gt_hit[:, order] & ~np.isnan(values)[None, :]
        first = free.argmax(axis=1)
        hit = free[rows, first] & (values[first] > thresholds)
        pred_hit[:, i] = hit
        gt_hit[rows[hit], order[first[hit]]] = True
    return pred_hit, gt_hit


def match_by_pose(
    errors: np.ndarray, degree_limits: np.ndarray, shift_limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching per (degree, cm) pair: (pred hit (K, P), gt hit (K, G)).

    Each prediction takes the first unmatched gt, in increasing order of degree + cm, whose
    errors are not above both limits (a NaN error is never above a limit, as in the reference).
    """
    num_pred, num_gt = errors.shape[:2]
    pred_hit = np.zeros((len(degree_limits), num_pred), dtype=bool)
    gt_hit = np.zeros((len(degree_limits), num_gt), dtype=bool)
    if num_pred == 0 or num_gt == 0:
        return pred_hit, gt_hit
    rows = np.arange(len(degree_limits))
    for i in range(num_pred):
        order = np.argsort(np.sum(errors[i], axis=-1))
        degrees, shifts = errors[i, order, 0], errors[i, order, 1]
        within = ~(degrees[None, :] > degree_limits[:, None]) & ~(shifts[None, :] > shift_limits[:, None])
        candidates = ~gt_hit[:, order] & within
        first = candidates.argmax(axis=1)
        hit = candidates[rows, first]
        pred_hit[:, i] = hit
        gt_hit[rows[hit], order[first[hit]]] = True
    return pred_hit, gt_hit


def score_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` from high to low, ties broken exactly as the reference does."""
    return np.argsort(scores)[::-1]


def average_precision(hits_by_score: np.ndarray, num_gt: int) -> float:
    """VOC AP of hits sorted by decreasing score: precision envelope summed over recall steps.

    Recall is computed in float32 like the reference; with no ground truth it is 0/0, so the
    AP is NaN when there are predictions and 0 when there are none.
    """
    hits = np.cumsum(hits_by_score)
    precision = hits / (np.arange(len(hits)) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = hits.astype(np.float32) / num_gt
    precision = np.concatenate([[0], precision, [0]])
    recall = np.concatenate([[0], recall, [1]])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[:-1] != recall[1:]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * envelope[steps]))


# --------------------------------------------------------------------------- accumulation


def _pose_limits() -> tuple[np.ndarray, np.ndarray]:
    """(degree, cm) pairs evaluated: rotation curve, translation curve, then the reported pairs."""
    degrees = np.concatenate(
        [DEGREE_THRESHOLDS, np.full(len(SHIFT_THRESHOLDS_CM), ANY_DEGREE), [d for d, _ in POSE_METRICS.values()]]
    )
    shifts = np.concatenate(
        [np.full(len(DEGREE_THRESHOLDS), ANY_SHIFT_CM), SHIFT_THRESHOLDS_CM, [s for _, s in POSE_METRICS.values()]]
    )
    return degrees, shifts


_POSE_LIMITS = _pose_limits()
_GATE_INDEX = int(np.flatnonzero(IOU_THRESHOLDS == POSE_IOU_GATE)[0])  # the reference's list.index(0.1)


@dataclass
class _Detections:
    """Per-category hit rows (thresholds x predictions), scores and ground-truth count over images."""

    hits: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    num_gt: int = 0

    def add(self, hits: np.ndarray, scores: np.ndarray, num_gt: int) -> None:
        self.hits.append(hits)
        self.scores.append(scores)
        self.num_gt += num_gt

    def curve(self, num_thresholds: int) -> np.ndarray:
        """AP at every threshold row, predictions of all images ranked by score together."""
        scores = np.concatenate([np.zeros(0), *self.scores]).astype(np.float64)
        hits = np.concatenate([np.zeros((num_thresholds, 0), dtype=bool), *self.hits], axis=1)
        ranked = hits[:, score_order(scores)]
        return np.array([average_precision(row, self.num_gt) for row in ranked])


def _add_image(record: ImageRecord, iou_acc: list[_Detections], pose_acc: list[_Detections],
               categories: CategorySet = NOCS_CATEGORIES) -> None:
    """Match one image's predictions per category and store the hits (reference order)."""
    for index, category in enumerate(categories):
        class_id = index + 1
        gt_mask = record.gt_class_ids == class_id
        pred_mask = record.pred_class_ids == class_id
        if not gt_mask.any() and not pred_mask.any():
            continue
        class_scores = record.pred_scores[pred_mask]
        order = score_order(class_scores)
        scores = class_scores[order]
        pred_RTs, pred_scales = record.pred_RTs[pred_mask][order], record.pred_scales[pred_mask][order]
        gt_RTs = record.gt_RTs[gt_mask]
        handled = category.symmetry == "y_without_handle"  # the mug: its handle visibility counts
        visibility = record.gt_handle_visibility[gt_mask] if handled else np.ones(int(gt_mask.sum()))
        symmetric = np.array([categories.is_symmetric(class_id, bool(v != 0)) for v in visibility], dtype=bool)

        overlaps = box_iou(pred_RTs, pred_scales, gt_RTs, record.gt_scales[gt_mask], symmetric)
        iou_pred_hit, iou_gt_hit = match_by_iou(overlaps, IOU_THRESHOLDS)
        iou_acc[index].add(iou_pred_hit, scores, len(gt_RTs))

        keep_pred, keep_gt = iou_pred_hit[_GATE_INDEX], iou_gt_hit[_GATE_INDEX]
        errors = pose_errors(pred_RTs[keep_pred], gt_RTs[keep_gt], symmetric[keep_gt])
        pose_pred_hit, _ = match_by_pose(errors, *_POSE_LIMITS)
        pose_acc[index].add(pose_pred_hit, scores[keep_pred], int(keep_gt.sum()))


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EvaluationResult:
    """AP curves (fractions) with rows ``CATEGORIES`` then the mean over the six categories."""

    iou_ap: np.ndarray
    """AP vs ``IOU_THRESHOLDS``, shape (7, 101)."""
    rotation_ap: np.ndarray
    """AP vs ``DEGREE_THRESHOLDS`` at any shift below ``ANY_SHIFT_CM``, shape (7, 61)."""
    translation_ap: np.ndarray
    """AP vs ``SHIFT_THRESHOLDS_CM`` at any rotation, shape (7, 101)."""
    pose_ap: dict[str, np.ndarray]
    """Reported pose metric -> AP per row, shape (7,)."""
    num_images: int = 0
    iou_thresholds: np.ndarray = field(default_factory=lambda: IOU_THRESHOLDS.copy())
    degree_thresholds: np.ndarray = field(default_factory=lambda: DEGREE_THRESHOLDS.copy())
    shift_thresholds_cm: np.ndarray = field(default_factory=lambda: SHIFT_THRESHOLDS_CM.copy())
    categories: tuple[str, ...] = CATEGORIES
    """Category names of the rows (the NOCS six unless the results are of a model of one's own)."""

    @property
    def row_names(self) -> tuple[str, ...]:
        """Names of the curve rows: the categories, then ``"mean"``."""
        return (*self.categories, MEAN_ROW)

    def _metrics_of_row(self, row: int) -> dict[str, float]:
        iou_index = {key: int(np.argmin(np.abs(self.iou_thresholds - t))) for key, t in IOU_METRICS.items()}
        values = {key: self.iou_ap[row, index] for key, index in iou_index.items()}
        values.update({key: self.pose_ap[key][row] for key in POSE_METRICS})
        return {key: float(values[key]) * 100 for key in METRIC_KEYS}

    @property
    def map(self) -> dict[str, float]:
        """Metric -> mean AP over the six categories, in %."""
        return self._metrics_of_row(len(self.categories))

    @property
    def per_class(self) -> dict[str, dict[str, float]]:
        """Category -> metric -> AP in %."""
        return {name: self._metrics_of_row(row) for row, name in enumerate(self.categories)}

    def to_json(self) -> dict[str, Any]:
        """The JSON contract ``{"mAP": {...}, "per_class": {category: {...}}}``; NaN becomes null."""

        def clean(metrics: dict[str, float]) -> dict[str, float | None]:
            return {key: (None if np.isnan(value) else round(value, 6)) for key, value in metrics.items()}

        return {"mAP": clean(self.map), "per_class": {name: clean(m) for name, m in self.per_class.items()}}


def _with_mean(per_category: list[np.ndarray]) -> np.ndarray:
    """Stack category rows and append their plain mean (NaN propagates, as in the reference)."""
    rows = np.stack(per_category)
    return np.concatenate([rows, rows.mean(axis=0, keepdims=True)])


def evaluate_results(results: Sequence[Mapping[str, Any]], sources: Sequence[str] | None = None,
                     categories: CategorySet = NOCS_CATEGORIES) -> EvaluationResult:
    """Compute the NOCS metrics over per-image results dicts (``results_*.pkl`` contents).

    ``sources`` labels each dict in error messages (file names); defaults to ``results[i]``.
    ``categories`` name the class ids (and say which are symmetric): the NOCS six by default.
    """
    labels = list(sources) if sources is not None else [f"results[{i}]" for i in range(len(results))]
    iou_acc = [_Detections() for _ in categories]
    pose_acc = [_Detections() for _ in categories]
    for result, label in zip(results, labels, strict=True):
        record = image_record(result, label)
        if len(record.gt_class_ids) or len(record.pred_class_ids):
            _add_image(record, iou_acc, pose_acc, categories)

    num_pose = len(_POSE_LIMITS[0])
    iou_ap = _with_mean([acc.curve(len(IOU_THRESHOLDS)) for acc in iou_acc])
    pose_ap = _with_mean([acc.curve(num_pose) for acc in pose_acc])
    n_deg, n_shift = len(DEGREE_THRESHOLDS), len(SHIFT_THRESHOLDS_CM)
    reported = pose_ap[:, n_deg + n_shift :]
    return EvaluationResult(
        iou_ap=iou_ap,
        rotation_ap=pose_ap[:, :n_deg],
        translation_ap=pose_ap[:, n_deg : n_deg + n_shift],
        pose_ap={key: reported[:, k] for k, key in enumerate(POSE_METRICS)},
        num_images=len(results),
        categories=categories.names,
    )
