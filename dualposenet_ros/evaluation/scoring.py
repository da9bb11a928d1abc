"""Estimates against ground truth, object by object: matching, per-object errors, summaries, tables.

Pure numpy (no rclpy, no torch), so the demo, the node tests and offline scripts share one
definition of the errors:

* rotation error: geodesic angle in degrees; for objects whose rotation about their y axis is not
  observable (bottle, bowl, can, and a mug whose handle is hidden: :func:`~dualposenet_ros.
  categories.is_symmetric`), the angle between the object y axes (the NOCS convention);
* translation error: distance between the box centres (metres; ``*_cm`` properties for cm);
* size error: mean absolute difference of the three box extents (metres), and the relative error
  ``|size_est - size_true| / |size_true|`` (``size_percent``).

Poses are :class:`PoseRecord` (a plain pose + size + class), built from an
:class:`~dualposenet_ros.core.estimates.ObjectEstimate`, a synthetic
:class:`~dualposenet_ros.data.synth.InstanceGT`, or the fields of an ``ObjectPose`` message
(:meth:`PoseRecord.from_pose`; the ROS side converts messages with it).

:func:`check_accuracy` turns a :class:`Summary` into a pass/fail check with a message listing what
failed: tests of a trained model call it with their thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..core.categories import category_name, is_symmetric
from ..core.rotations import rotation_error_deg, symmetric_rotation_error_deg

__all__ = [
    "THRESHOLDS",
    "AccuracyError",
    "Matching",
    "ObjectError",
    "PoseRecord",
    "Summary",
    "check_accuracy",
    "format_errors",
    "format_summary",
    "match",
    "object_error",
    "summarize",
]

THRESHOLDS: tuple[tuple[float, float], ...] = ((5.0, 2.0), (5.0, 5.0), (10.0, 2.0), (10.0, 5.0))
"""(degrees, centimetres) pairs of the NOCS pose metrics reported in summaries."""


def _threshold_key(degrees: float, centimetres: float) -> str:
    return f"{degrees:g}deg{centimetres:g}cm"


@dataclass(frozen=True, eq=False)
class PoseRecord:
    """One object's pose (object -> camera, optical frame), metric box size and class."""

    instance_id: int
    class_id: int
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) metres, box centre
    size: np.ndarray  # (3,) metres, box extents along the object axes
    score: float = 1.0
    status: int = 0  # ObjectPose.STATUS_*; non-zero = no usable pose
    handle_visible: bool = True  # only matters for mugs (ground truth)
    track_id: int = 0  # identity across frames (estimates: the tracker's; ground truth: the object's); 0 = none

    def __post_init__(self) -> None:
        object.__setattr__(self, "rotation", np.asarray(self.rotation, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "translation", np.asarray(self.translation, dtype=np.float64).reshape(3))
        object.__setattr__(self, "size", np.asarray(self.size, dtype=np.float64).reshape(3))

    @property
    def category(self) -> str:
        return category_name(self.class_id)

    @property
    def symmetric(self) -> bool:
        """Whether the rotation about the object y axis is unobservable."""
        return is_symmetric(self.class_id, self.handle_visible)

    @property
    def ok(self) -> bool:
        return int(self.status) == 0

    @property
    def quaternion_xyzw(self) -> np.ndarray:
        return Rotation.from_matrix(self.rotation).as_quat()

    @classmethod
    def from_estimate(cls, estimate: Any) -> "PoseRecord":
        """From an :class:`~dualposenet_ros.core.estimates.ObjectEstimate`."""
        return cls(int(estimate.instance_id), int(estimate.class_id), estimate.rotation, estimate.translation,
                   estimate.size, float(estimate.score), int(estimate.status), bool(estimate.handle_visible),
                   int(getattr(estimate, "track_id", 0)))

    @classmethod
    def from_instance_gt(cls, truth: Any, instance_id: int | None = None) -> "PoseRecord":
        """From a synthetic :class:`~dualposenet_ros.data.synth.InstanceGT` (``instance_id``
        overrides its id, e.g. with its label value in a segmentation message; ``track_id`` is
        always the object's id in the scene)."""
        return cls(int(truth.instance_id if instance_id is None else instance_id), int(truth.class_id),
                   truth.rotation, truth.translation, truth.size, 1.0, 0, bool(truth.handle_visible),
                   int(truth.instance_id))

    @classmethod
    def from_pose(cls, instance_id: int, class_id: int, position: Sequence[float], quaternion_xyzw: Sequence[float],
                  size: Sequence[float], score: float = 1.0, status: int = 0,
                  handle_visible: bool = True, track_id: int = 0) -> "PoseRecord":
        """From a position, an (x, y, z, w) quaternion and a size (the fields of ``ObjectPose``)."""
        quaternion = np.asarray(quaternion_xyzw, dtype=np.float64)
        norm = float(np.linalg.norm(quaternion))
        rotation = Rotation.from_quat(quaternion / norm).as_matrix() if norm > 0 and math.isfinite(norm) else np.eye(3)
        return cls(int(instance_id), int(class_id), rotation, position, size, float(score), int(status),
                   bool(handle_visible), int(track_id))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (quaternion x, y, z, w)."""
        return {"instance_id": self.instance_id, "class_id": self.class_id, "category": self.category,
                "position": [float(v) for v in self.translation],
                "orientation_xyzw": [float(v) for v in self.quaternion_xyzw],
                "size": [float(v) for v in self.size], "score": float(self.score), "status": int(self.status),
                "handle_visible": bool(self.handle_visible), "track_id": int(self.track_id)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PoseRecord":
        return cls.from_pose(data["instance_id"], data["class_id"], data["position"], data["orientation_xyzw"],
                             data["size"], data.get("score", 1.0), data.get("status", 0),
                             data.get("handle_visible", True), data.get("track_id", 0))


@dataclass(frozen=True, eq=False)
class ObjectError:
    """Errors of one estimate against its ground truth."""

    estimate: PoseRecord
    truth: PoseRecord
    rotation_deg: float
    translation_m: float
    size_m: float  # mean absolute extent error
    size_relative: float  # |size_est - size_true| / |size_true|

    @property
    def symmetric(self) -> bool:
        return self.truth.symmetric

    @property
    def ok(self) -> bool:
        """Whether the estimate has a usable pose (status OK)."""
        return self.estimate.ok

    @property
    def translation_cm(self) -> float:
        return self.translation_m * 100.0

    @property
    def size_cm(self) -> float:
        return self.size_m * 100.0

    @property
    def size_percent(self) -> float:
        return self.size_relative * 100.0

    def within(self, degrees: float, centimetres: float) -> bool:
        """Whether both errors are under the thresholds (never for an estimate without a pose)."""
        return self.ok and self.rotation_deg <= degrees and self.translation_cm <= centimetres

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.truth.instance_id, "category": self.truth.category, "symmetric": self.symmetric,
                "rotation_error_deg": self.rotation_deg, "translation_error_cm": self.translation_cm,
                "size_error_cm": self.size_cm, "size_error_percent": self.size_percent, "ok": self.ok}


def object_error(estimate: PoseRecord, truth: PoseRecord) -> ObjectError:
    """Rotation (y-axis angle for symmetric objects), translation and size errors."""
    if truth.symmetric:
        rotation = float(symmetric_rotation_error_deg(estimate.rotation, truth.rotation))
    else:
        rotation = float(rotation_error_deg(estimate.rotation, truth.rotation))
    translation = float(np.linalg.norm(estimate.translation - truth.translation))
    difference = estimate.size - truth.size
    size = float(np.mean(np.abs(difference)))
    norm = float(np.linalg.norm(truth.size))
    relative = float(np.linalg.norm(difference) / norm) if norm > 0 else float("inf")
    return ObjectError(estimate, truth, rotation, translation, size, relative)


@dataclass
class Matching:
    """Estimates paired with ground truth objects, and what remained unpaired."""

    errors: list[ObjectError] = field(default_factory=list)
    missed: list[PoseRecord] = field(default_factory=list)  # ground truth without an estimate
    extra: list[PoseRecord] = field(default_factory=list)  # estimates without ground truth

    def extend(self, other: "Matching") -> None:
        self.errors += other.errors
        self.missed += other.missed
        self.extra += other.extra


def match(estimates: Iterable[PoseRecord], truths: Iterable[PoseRecord], max_distance: float = 0.1) -> Matching:
    """Pair estimates with ground truth of the same class.

    First by instance id (the node reports each object with its label value in the segmentation,
    and the synthetic camera's ground truth uses the same values), then what is left greedily by
    the nearest box centres within ``max_distance`` metres (for segmentations numbered otherwise).
    """
    estimates, truths = list(estimates), list(truths)
    result = Matching()
    free_truths = list(range(len(truths)))
    leftover = []
    for index, estimate in enumerate(estimates):
        partner = next((t for t in free_truths if truths[t].instance_id == estimate.instance_id
                        and truths[t].class_id == estimate.class_id), None)
        if partner is None:
            leftover.append(index)
        else:
            free_truths.remove(partner)
            result.errors.append(object_error(estimate, truths[partner]))
    candidates = sorted(
        (float(np.linalg.norm(estimates[e].translation - truths[t].translation)), e, t)
        for e in leftover for t in free_truths if estimates[e].class_id == truths[t].class_id)
    used_e: set[int] = set()
    for distance, e, t in candidates:
        if distance > max_distance or e in used_e or t not in free_truths:
            continue
        used_e.add(e)
        free_truths.remove(t)
        result.errors.append(object_error(estimates[e], truths[t]))
    result.extra = [estimates[e] for e in leftover if e not in used_e]
    result.missed = [truths[t] for t in free_truths]
    result.errors.sort(key=lambda error: error.truth.instance_id)
    return result


@dataclass(frozen=True)
class Summary:
    """Aggregate errors of matched objects (means over estimates with a usable pose)."""

    matched: int
    missed: int
    extra: int
    failed: int  # matched estimates without a usable pose (status not OK)
    mean_rotation_deg: float
    median_rotation_deg: float
    mean_translation_cm: float
    median_translation_cm: float
    mean_size_cm: float
    mean_size_percent: float
    within: dict[str, float]  # "10deg5cm" -> fraction of ground-truth objects (missed ones count as failures)

    @property
    def detected_fraction(self) -> float:
        total = self.matched + self.missed
        return self.matched / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "missed": self.missed, "extra": self.extra, "failed": self.failed,
                "mean_rotation_deg": self.mean_rotation_deg, "median_rotation_deg": self.median_rotation_deg,
                "mean_translation_cm": self.mean_translation_cm, "median_translation_cm": self.median_translation_cm,
                "mean_size_cm": self.mean_size_cm, "mean_size_percent": self.mean_size_percent,
                "within": dict(self.within)}


def summarize(matching: Matching | Sequence[ObjectError]) -> Summary:
    """Means, medians and the fractions of ground-truth objects within each of :data:`THRESHOLDS`."""
    if isinstance(matching, Matching):
        errors, missed, extra = matching.errors, len(matching.missed), len(matching.extra)
    else:
        errors, missed, extra = list(matching), 0, 0
    good = [error for error in errors if error.ok]

    def stat(function: Any, values: list[float]) -> float:
        return float(function(values)) if values else float("nan")

    rotations = [e.rotation_deg for e in good]
    translations = [e.translation_cm for e in good]
    total = len(errors) + missed
    within = {_threshold_key(d, c): (sum(e.within(d, c) for e in errors) / total if total else 0.0)
              for d, c in THRESHOLDS}
    return Summary(
        matched=len(errors), missed=missed, extra=extra, failed=len(errors) - len(good),
        mean_rotation_deg=stat(np.mean, rotations), median_rotation_deg=stat(np.median, rotations),
        mean_translation_cm=stat(np.mean, translations), median_translation_cm=stat(np.median, translations),
        mean_size_cm=stat(np.mean, [e.size_cm for e in good]),
        mean_size_percent=stat(np.mean, [e.size_percent for e in good]), within=within)


class AccuracyError(AssertionError):
    """An accuracy check failed; the message lists every criterion that was not met."""


def check_accuracy(summary: Summary, *, min_within_10deg5cm: float | None = None,
                   min_within_5deg5cm: float | None = None, max_mean_rotation_deg: float | None = None,
                   max_mean_translation_cm: float | None = None, max_mean_size_percent: float | None = None,
                   min_detected: float | None = 1.0, min_matched: int = 1) -> Summary:
    """Raise :class:`AccuracyError` unless ``summary`` meets every given threshold; returns it.

    ``min_detected``: fraction of ground-truth objects that got an estimate (default: all).
    Fractions are in [0, 1]; a threshold left at None is not checked."""
    failures = []
    if summary.matched < min_matched:
        failures.append(f"only {summary.matched} objects matched (need {min_matched})")
    checks = (
        ("fraction within 10deg 5cm", summary.within.get("10deg5cm", 0.0), min_within_10deg5cm, True),
        ("fraction within 5deg 5cm", summary.within.get("5deg5cm", 0.0), min_within_5deg5cm, True),
        ("detected fraction", summary.detected_fraction, min_detected, True),
        ("mean rotation error (deg)", summary.mean_rotation_deg, max_mean_rotation_deg, False),
        ("mean translation error (cm)", summary.mean_translation_cm, max_mean_translation_cm, False),
        ("mean size error (%)", summary.mean_size_percent, max_mean_size_percent, False),
    )
    for name, value, limit, at_least in checks:
        if limit is None:
            continue
        passed = value >= limit if at_least else (math.isfinite(value) and value <= limit)
        if not passed:
            failures.append(f"{name} = {value:.3g}, {'below' if at_least else 'above'} {limit:g}")
    if failures:
        raise AccuracyError("accuracy check failed: " + "; ".join(failures) + "\n" + format_summary(summary))
    return summary


# -- text ---------------------------------------------------------------------------------------


def _vector(values: np.ndarray, factor: float = 1.0, digits: int = 1) -> str:
    return "(" + ", ".join(f"{v * factor:.{digits}f}" for v in values) + ")"


def format_errors(matching: Matching | Sequence[ObjectError], title: str | None = None) -> str:
    """A table with one row per object: estimated and true position and size, and the errors."""
    if isinstance(matching, Matching):
        errors, missed, extra = matching.errors, matching.missed, matching.extra
    else:
        errors, missed, extra = list(matching), [], []
    header = (f"{'id':>3} {'category':<8} {'est. position (cm)':>22} {'true position (cm)':>22} "
              f"{'rot err':>9} {'trans err':>9} {'est. size (cm)':>19} {'true size (cm)':>19} {'size err':>15}")
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for error in errors:
        est, truth = error.estimate, error.truth
        marker = "*" if error.symmetric else " "
        if error.ok:
            rot = f"{error.rotation_deg:7.1f}°{marker}"
            trans = f"{error.translation_cm:6.1f} cm"
            size_err = f"{error.size_cm:5.1f} cm {error.size_percent:3.0f}%"
        else:
            rot, trans, size_err = f"{'n/a':>8}{marker}", f"{'n/a':>9}", "too few points"
        lines.append(f"{truth.instance_id:>3} {truth.category:<8} {_vector(est.translation, 100):>22} "
                     f"{_vector(truth.translation, 100):>22} {rot:>9} {trans:>9} {_vector(est.size, 100):>19} "
                     f"{_vector(truth.size, 100):>19} {size_err:>15}")
    for truth in missed:
        lines.append(f"{truth.instance_id:>3} {truth.category:<8} {'(no estimate)':>22} "
                     f"{_vector(truth.translation, 100):>22}")
    for est in extra:
        lines.append(f"{est.instance_id:>3} {est.category:<8} {_vector(est.translation, 100):>22} "
                     f"{'(no ground truth)':>22}")
    if any(error.symmetric for error in errors):
        lines.append("* symmetric about the object y axis: rotation error = angle between the y axes")
    return "\n".join(lines)


def format_summary(summary: Summary) -> str:
    within = ", ".join(f"{key.replace('deg', '°/')} {value * 100:.0f}%" for key, value in summary.within.items())
    return (f"objects matched {summary.matched}, missed {summary.missed}, without ground truth {summary.extra}, "
            f"too few points {summary.failed}\n"
            f"mean rotation error {summary.mean_rotation_deg:.1f}° (median {summary.median_rotation_deg:.1f}°), "
            f"mean translation error {summary.mean_translation_cm:.1f} cm "
            f"(median {summary.median_translation_cm:.1f} cm), mean size error {summary.mean_size_cm:.1f} cm "
            f"({summary.mean_size_percent:.0f}%)\n"
            f"within thresholds: {within}")
