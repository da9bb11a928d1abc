"""Rotation conventions, in one place.

* Quaternions are ``(w, x, y, z)`` (scalar first, Hamilton product) everywhere in this package, as
  the network outputs them; ROS messages use ``(x, y, z, w)``: convert only at the ROS boundary with
  :func:`wxyz_to_xyzw` / :func:`xyzw_to_wxyz`.
* ``q`` and ``-q`` are the same rotation; :func:`matrix_to_quaternion` returns ``w >= 0`` (and, when
  ``w == 0``, the first non-zero component positive, as SciPy's ``canonical=True``) so training
  targets are unique.
* All functions are batched over leading dimensions. Torch versions are differentiable and work
  under ``torch.func.vmap``; ``*_np`` versions are float64 NumPy.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from scipy.spatial.transform import Rotation

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

_WXYZ_TO_XYZW = [1, 2, 3, 0]
_XYZW_TO_WXYZ = [3, 0, 1, 2]


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), not necessarily unit, to (..., 3, 3) rotation matrices."""
    w, x, y, z = quaternion.unbind(-1)
    two_s = 2.0 / (quaternion * quaternion).sum(-1)
    rows = (
        1 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w),
        two_s * (x * y + z * w), 1 - two_s * (x * x + z * z), two_s * (y * z - x * w),
        two_s * (x * z - y * w), two_s * (y * z + x * w), 1 - two_s * (x * x + y * y),
    )
    return torch.stack(rows, -1).reshape(quaternion.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices to (..., 4) unit quaternions (w, x, y, z) with ``w >= 0``.

    Uses the numerically best of the four standard candidates (largest |component|), chosen with
    tensor ops only so that it batches under ``vmap``.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * component^2 for w, x, y, z.
    squares = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    abs_q = torch.sqrt(squares.clamp_min(0.0)) / 2
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    # Row k: 4 * q_k * q, exact for every k; divide by 4 q_k for the best-conditioned k.
    candidates = torch.stack((
        torch.stack((squares[..., 0], d21, d02, d10), -1),
        torch.stack((d21, squares[..., 1], s01, s02), -1),
        torch.stack((d02, s01, squares[..., 2], s12), -1),
        torch.stack((d10, s02, s12, squares[..., 3]), -1),
    ), -2) / (4 * abs_q.clamp_min(0.1)).unsqueeze(-1)
    best = abs_q.argmax(-1)
    index = best[..., None, None].expand(best.shape + (1, 4))
    quaternion = torch.gather(candidates, -2, index).squeeze(-2)
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True)
    return canonical_quaternion_sign(quaternion)


def canonical_quaternion_sign(quaternion: torch.Tensor) -> torch.Tensor:
    """Flip q to -q where needed so the first non-zero component (normally w) is positive."""
    nonzero = quaternion != 0
    first = torch.argmax(nonzero.to(torch.uint8), dim=-1, keepdim=True)
    leading = torch.gather(quaternion, -1, first)
    return torch.where(leading < 0, -quaternion, quaternion)


def quaternion_to_matrix_np(quaternion: np.ndarray) -> np.ndarray:
    """NumPy (..., 4) (w, x, y, z) to (..., 3, 3); normalises the quaternion first."""
    q = np.asarray(quaternion, dtype=np.float64)
    # SciPy's order is (x, y, z, w) (scalar_first= needs SciPy >= 1.14; the floor is older).
    flat = Rotation.from_quat(wxyz_to_xyzw(q.reshape(-1, 4))).as_matrix()
    return flat.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion_np(matrix: np.ndarray) -> np.ndarray:
    """NumPy (..., 3, 3) to (..., 4) unit (w, x, y, z) with the same sign rule as the torch version."""
    m = np.asarray(matrix, dtype=np.float64)
    # as_quat(canonical=True, scalar_first=True) needs SciPy >= 1.14: reorder and fix the sign here.
    flat = xyzw_to_wxyz(Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat())
    return canonical_quaternion_sign(torch.from_numpy(flat)).numpy().reshape(m.shape[:-2] + (4,))


def wxyz_to_xyzw(quaternion: ArrayT) -> ArrayT:
    """Network / package order (w, x, y, z) to ROS ``geometry_msgs/Quaternion`` order (x, y, z, w)."""
    return quaternion[..., _WXYZ_TO_XYZW]


def xyzw_to_wxyz(quaternion: ArrayT) -> ArrayT:
    """ROS order (x, y, z, w) to package order (w, x, y, z)."""
    return quaternion[..., _XYZW_TO_WXYZ]


def canonicalize_symmetric_rotation(rotation: np.ndarray) -> np.ndarray:
    """Remove the unobservable rotation about the object y axis of (..., 3, 3) object-to-camera R.

    Returns R' with ``R' e_y = R e_y`` chosen as the *smallest-angle rotation taking e_y to R e_y*
    (rotation about the axis e_y x R e_y). Among all ``R Ry(alpha)`` this is the one of largest
    trace, which is exactly what the reference data preparation picks for bottle, bowl and can
    (its ``s_map`` maximises R00 + R22), so targets and official weights agree. R' depends only on
    R e_y, hence is invariant to any pre-rotation about y. When R e_y = -e_y every candidate is a
    half turn; R' is then the half turn about the object x axis, diag(1, -1, -1).
    """
    r = np.asarray(rotation, dtype=np.float64)
    v = r[..., :, 1] / np.linalg.norm(r[..., :, 1], axis=-1, keepdims=True)
    # Half-angle quaternion of the minimal rotation: (1 + e_y.v, e_y x v), normalised.
    q = np.stack((1.0 + v[..., 1], v[..., 2], np.zeros_like(v[..., 0]), -v[..., 0]), axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    flipped = norm < 1e-12
    q = np.where(flipped, np.array([0.0, 1.0, 0.0, 0.0]), q / np.where(flipped, 1.0, norm))
    return quaternion_to_matrix_np(q)


def rotation_error_deg(rotation_a: np.ndarray, rotation_b: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between (..., 3, 3) rotations."""
    a, b = np.asarray(rotation_a, dtype=np.float64), np.asarray(rotation_b, dtype=np.float64)
    cos = (np.einsum("...ij,...ij->...", a, b) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def symmetric_rotation_error_deg(rotation_a: np.ndarray, rotation_b: np.ndarray) -> np.ndarray:
    """Angle in degrees between the object y axes: the rotation error of y-symmetric objects."""
    a, b = np.asarray(rotation_a, dtype=np.float64), np.asarray(rotation_b, dtype=np.float64)
    ya, yb = a[..., :, 1], b[..., :, 1]
    cos = np.sum(ya * yb, axis=-1) / (np.linalg.norm(ya, axis=-1) * np.linalg.norm(yb, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
