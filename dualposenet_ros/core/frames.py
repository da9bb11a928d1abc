"""Camera frame conventions, in one place.

Two camera frames appear in this project:

* the **optical frame** (REP 103/105): x right, y down, z forward, i.e. the pixel back-projection
  ``x = (u - cx) z / fx, y = (v - cy) z / fy`` without negation. Every ROS message, every public
  Python result of :mod:`dualposenet_ros.inference.pipeline` **and every public NOCS pose file** (``gt_RTs``
  and ``pred_RTs`` of the ``gts/`` and result pickles) is in this frame;
* the **NOCS camera frame**, in which the network works: the optical frame rotated 180 degrees
  about z (x left, y up, z forward), i.e. back-projected x and y are negated. It never leaves the
  ML core: the pipeline converts its output to the optical frame and training preparation
  converts into it (the original test phase likewise rotates its poses by 180 degrees about z
  before writing ``pred_RTs``).

The two differ by ``FLIP_XY = diag(-1, -1, 1)``, which is its own inverse, so the same functions
convert in both directions. Public pose matrices are read and written only through
:func:`public_pose_matrix` and :func:`public_pose`, so that the frame of the files is decided here.
"""

from __future__ import annotations

import numpy as np

FLIP_XY: np.ndarray = np.diag([-1.0, -1.0, 1.0])
"""Rotation by 180 degrees about z: maps optical-frame vectors to NOCS-frame vectors and back."""


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


def public_pose_matrix(rotation: np.ndarray, translation: np.ndarray, scale: float) -> np.ndarray:
    """The ``gt_RTs`` / ``pred_RTs`` matrix of an object-to-camera pose given in the optical frame.

    The public files are in the optical frame too, so no axis changes; the scale is folded in.
    """
    return pose_matrix(rotation, translation, scale)


def public_pose(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation, translation, scale) in the optical frame of a public ``gt_RTs`` / ``pred_RTs`` matrix."""
    return split_pose_matrix(matrix)


def public_pose_to_nocs(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation, translation, scale) in the network's NOCS camera frame of a public pose matrix."""
    rotation, translation, scale = public_pose(matrix)
    rotation, translation = flip_pose(rotation, translation)
    return rotation, translation, scale
