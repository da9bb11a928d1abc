"""Camera frame conventions, in one place.

Two camera frames appear in this project:

* the **optical frame** of ROS (REP 103/105): x right, y down, z forward. Every ROS message and
  every public Python result of :mod:`dualposenet_ros.pipeline` is in this frame;
* the **NOCS camera frame** used by the NOCS datasets, the public result pickles and the network:
  the optical frame rotated 180 degrees about z (x left, y up, z forward), i.e. back-projected
  x and y are negated.

The two differ by ``FLIP_XY = diag(-1, -1, 1)``, which is its own inverse, so the same functions
convert in both directions.
"""

from __future__ import annotations

import numpy as np

FLIP_XY: np.ndarray = np.diag([-1.0, -1.0, 1.0])
"""Rotation by 180 degrees about z: maps optical-frame vectors to NOCS-frame vectors and back."""


def flip_points(points: np.ndarray) -> np.ndarray:
    """Convert (..., 3) points between the optical and the NOCS camera frames."""
    out = np.array(points, dtype=np.result_type(points, np.float32), copy=True)
    out[..., :2] *= -1.0
    return out


def flip_pose(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert an object-to-camera pose (R, t) between the optical and the NOCS camera frames."""
    return FLIP_XY @ np.asarray(rotation), FLIP_XY @ np.asarray(translation)


def pose_matrix(rotation: np.ndarray, translation: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """4x4 matrix with ``scale`` folded into the rotation block, as in NOCS ``*_RTs`` arrays."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(rotation) * scale
    matrix[:3, 3] = translation
    return matrix


def split_pose_matrix(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Inverse of :func:`pose_matrix`: (rotation, translation, scale) of a NOCS ``RT`` matrix."""
    block = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = float(np.cbrt(np.linalg.det(block)))
    return block / scale, np.asarray(matrix, dtype=np.float64)[:3, 3].copy(), scale
