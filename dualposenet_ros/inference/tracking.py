"""Object identities across frames, pose smoothing and gating of doubtful estimates (no ROS, no torch).

A segmentation gives instance numbers per frame only: the mug labelled 2 now may be labelled 1 in
the next frame. :class:`Tracker` associates each frame's estimates with the objects seen before, per
category, by optimal assignment (Hungarian method, :func:`scipy.optimize.linear_sum_assignment`) on
the distance between box centres, measured in object diagonals (so the gate suits a can and a
laptop alike) after predicting each track's centre with its velocity. An object keeps its
``track_id`` while it is seen and for ``max_missed`` frames without a match; ids are never reused.

Optional smoothing (``smoothing`` in [0, 1), 0 = off) filters the pose of each track:

* translation: an alpha-beta filter with ``alpha = 1 - smoothing`` and the critically damped
  ``beta`` of Kalata (1984), so constant motion is followed without a steady lag;
* rotation: spherical interpolation towards the measurement by ``alpha`` (no angular velocity: a
  spinning object lags); for objects whose rotation about their y axis is not observable the
  measurement is first turned about its y axis to the rotation closest to the track's, so the
  arbitrary angle the network picks does not flicker;
* size: exponential average with ``alpha``.

:func:`gate` marks estimates whose segmentation score is below a minimum or whose consistency
residual is above a maximum; gated estimates keep their pose but get a status saying why, are not
tracked (``track_id`` 0) and are left out of TF, markers and ``vision_msgs`` output by the node.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from ..core.estimates import EstimateStatus, ObjectEstimate

__all__ = ["Track", "Tracker", "TrackerSettings", "align_about_y", "gate"]


def gate(estimates: Sequence[ObjectEstimate], min_score: float = 0.0,
         max_consistency_residual: float = 0.0) -> list[ObjectEstimate]:
    """``estimates`` with status ``LOW_SCORE`` where the score is below ``min_score`` and
    ``HIGH_RESIDUAL`` where the consistency residual is above ``max_consistency_residual``
    (0 = no limit). Estimates that are not OK already (too few points) are left as they are."""
    result = []
    for estimate in estimates:
        if estimate.status == EstimateStatus.OK:
            if estimate.score < min_score:
                estimate = replace(estimate, status=EstimateStatus.LOW_SCORE)
            elif max_consistency_residual > 0 and not estimate.consistency_residual <= max_consistency_residual:
                estimate = replace(estimate, status=EstimateStatus.HIGH_RESIDUAL)
        result.append(estimate)
    return result


def align_about_y(rotation: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``rotation`` turned about its own y axis to be as close as possible to ``reference``.

    Maximises trace(reference^T rotation Ry(theta)) = c (M00 + M22) + s (M20 - M02) + M11 with
    M = reference^T rotation, whose maximum is at theta = atan2(M20 - M02, M00 + M22)."""
    m = reference.T @ rotation
    theta = math.atan2(m[2, 0] - m[0, 2], m[0, 0] + m[2, 2])
    c, s = math.cos(theta), math.sin(theta)
    about_y = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return rotation @ about_y


@dataclass(frozen=True)
class TrackerSettings:
    """How objects are followed; see the module documentation."""

    max_missed: int = 5  # frames a track survives without a match (>= 0)
    gate: float = 0.5  # largest centre distance of a match, in object diagonals (> 0)
    smoothing: float = 0.0  # pose smoothing strength in [0, 1); 0 = raw estimates

    def __post_init__(self) -> None:
        if not (isinstance(self.max_missed, int) and self.max_missed >= 0):
            raise ValueError(f"max_missed must be an integer >= 0, got {self.max_missed!r}")
        if not (math.isfinite(self.gate) and self.gate > 0):
            raise ValueError(f"gate must be > 0 object diagonals, got {self.gate!r}")
        if not (math.isfinite(self.smoothing) and 0.0 <= self.smoothing < 1.0):
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing!r}")

    @property
    def alpha(self) -> float:
        return 1.0 - self.smoothing

    @property
    def beta(self) -> float:
        """Velocity gain of the alpha-beta filter (Kalata's critically damped choice)."""
        alpha = self.alpha
        return 2.0 * (2.0 - alpha) - 4.0 * math.sqrt(max(0.0, 1.0 - alpha))


@dataclass
class Track:
    """One followed object: its filtered pose and motion."""

    track_id: int
    class_id: int
    translation: np.ndarray
    rotation: np.ndarray
    size: np.ndarray
    velocity: np.ndarray
    stamp: float
    symmetric: bool
    missed: int = 0
    hits: int = 1

    @property
    def scale(self) -> float:
        return float(np.linalg.norm(self.size))

    def predicted(self, stamp: float) -> np.ndarray:
        dt = stamp - self.stamp
        return self.translation + self.velocity * dt if dt > 0 else self.translation


class Tracker:
    """Gives each OK estimate a ``track_id`` that follows the object across frames (and smooths
    its pose when ``settings.smoothing`` > 0). Not thread-safe: one caller per tracker."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget every track (ids continue to increase)."""
        self.tracks = []

    def update(self, estimates: Sequence[ObjectEstimate], stamp: float) -> list[ObjectEstimate]:
        """Associate one frame's estimates (time ``stamp`` in seconds) with the tracks; returns the
        estimates in the same order with ``track_id`` set (0 for those that are not OK) and, with
        smoothing, the filtered pose and size."""
        if self.tracks and stamp < max(track.stamp for track in self.tracks):
            self.reset()  # time went backwards (a bag restarted): old tracks cannot be followed
        result = list(estimates)
        matched_tracks: set[int] = set()
        for class_id in sorted({e.class_id for e in estimates if e.status == EstimateStatus.OK}):
            indices = [i for i, e in enumerate(estimates) if e.status == EstimateStatus.OK and e.class_id == class_id]
            candidates = [t for t in self.tracks if t.class_id == class_id]
            pairs = self._assign([estimates[i] for i in indices], candidates, stamp)
            assigned = {}
            for row, col in pairs:
                track = candidates[col]
                assigned[indices[row]] = track
                matched_tracks.add(id(track))
            for index in indices:
                track = assigned.get(index)
                if track is None:
                    track = self._new_track(estimates[index], stamp)
                    matched_tracks.add(id(track))
                    result[index] = replace(estimates[index], track_id=track.track_id)
                else:
                    result[index] = self._update_track(track, estimates[index], stamp)
        survivors = []
        for track in self.tracks:
            if id(track) not in matched_tracks:
                track.missed += 1
                if track.missed > self.settings.max_missed:
                    continue
            survivors.append(track)
        self.tracks = survivors
        return result

    # -- association ------------------------------------------------------------------------------

    def _assign(self, detections: Sequence[ObjectEstimate], tracks: Sequence[Track],
                stamp: float) -> list[tuple[int, int]]:
        """(detection, track) index pairs of the optimal assignment within the gate."""
        if not detections or not tracks:
            return []
        cost = np.empty((len(detections), len(tracks)))
        for i, detection in enumerate(detections):
            for j, track in enumerate(tracks):
                diagonal = max(detection.scale, track.scale, 1e-6)
                cost[i, j] = np.linalg.norm(np.asarray(detection.translation) - track.predicted(stamp)) / diagonal
        outside = ~(cost <= self.settings.gate)
        cost[outside] = self.settings.gate * 1e3 + 1.0  # allowed by the solver, dropped below
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if not outside[r, c]]

    # -- track state --------------------------------------------------------------------------------

    def _new_track(self, estimate: ObjectEstimate, stamp: float) -> Track:
        track = Track(track_id=next(self._ids), class_id=int(estimate.class_id),
                      translation=np.asarray(estimate.translation, dtype=np.float64).copy(),
                      rotation=np.asarray(estimate.rotation, dtype=np.float64).copy(),
                      size=np.asarray(estimate.size, dtype=np.float64).copy(), velocity=np.zeros(3), stamp=stamp,
                      symmetric=bool(estimate.rotation_symmetric))
        self.tracks.append(track)
        return track

    def _update_track(self, track: Track, estimate: ObjectEstimate, stamp: float) -> ObjectEstimate:
        settings = self.settings
        measured_t = np.asarray(estimate.translation, dtype=np.float64)
        measured_r = np.asarray(estimate.rotation, dtype=np.float64)
        measured_s = np.asarray(estimate.size, dtype=np.float64)
        dt = stamp - track.stamp
        symmetric = bool(estimate.rotation_symmetric)
        if symmetric:
            measured_r = align_about_y(measured_r, track.rotation)
        if settings.smoothing == 0.0:
            if dt > 0:
                track.velocity = (measured_t - track.translation) / dt
            track.translation, track.rotation, track.size = measured_t, measured_r, measured_s
        else:
            alpha = settings.alpha
            predicted = track.predicted(stamp)
            residual = measured_t - predicted
            track.translation = predicted + alpha * residual
            if dt > 0:
                track.velocity = track.velocity + (settings.beta / dt) * residual
            delta = Rotation.from_matrix(track.rotation.T @ measured_r).as_rotvec()
            track.rotation = track.rotation @ Rotation.from_rotvec(alpha * delta).as_matrix()
            track.size = track.size + alpha * (measured_s - track.size)
        track.stamp = max(track.stamp, stamp)
        track.symmetric = symmetric
        track.missed = 0
        track.hits += 1
        if settings.smoothing == 0.0 and not symmetric:
            return replace(estimate, track_id=track.track_id)
        return replace(estimate, track_id=track.track_id, translation=track.translation.copy(),
                       rotation=track.rotation.copy(), size=track.size.copy())
