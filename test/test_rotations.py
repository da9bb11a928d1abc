"""Quaternion conventions, symmetric canonicalisation and rotation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dualposenet_ros.core.rotations import (
    canonicalize_symmetric_rotation,
    matrix_to_quaternion,
    matrix_to_quaternion_np,
    quaternion_to_matrix,
    quaternion_to_matrix_np,
    rotation_error_deg,
    symmetric_rotation_error_deg,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)

HALF = math.sqrt(0.5)
# (axis, quaternion w x y z of +90 degrees about it, expected matrix)
QUARTER_TURNS = [
    ("x", [HALF, HALF, 0, 0], [[1, 0, 0], [0, 0, -1], [0, 1, 0]]),
    ("y", [HALF, 0, HALF, 0], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]),
    ("z", [HALF, 0, 0, HALF], [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),
]


def random_rotations(count: int, seed: int = 0) -> np.ndarray:
    return Rotation.random(count, random_state=seed).as_matrix()


def rotation_about_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], -2)


@pytest.mark.parametrize("axis, quaternion, matrix", QUARTER_TURNS)
def test_quarter_turns_torch(axis: str, quaternion: list[float], matrix: list[list[int]]) -> None:
    q = torch.tensor(quaternion, dtype=torch.float64)
    expected = torch.tensor(matrix, dtype=torch.float64)
    torch.testing.assert_close(quaternion_to_matrix(q), expected)
    torch.testing.assert_close(matrix_to_quaternion(expected), q)


@pytest.mark.parametrize("axis, quaternion, matrix", QUARTER_TURNS)
def test_quarter_turns_numpy(axis: str, quaternion: list[float], matrix: list[list[int]]) -> None:
    np.testing.assert_allclose(quaternion_to_matrix_np(np.array(quaternion)), matrix, atol=1e-12)
    np.testing.assert_allclose(matrix_to_quaternion_np(np.array(matrix, dtype=float)), quaternion, atol=1e-12)


def test_round_trip_and_sign_convention() -> None:
    matrices = random_rotations(200)
    # Half turns (w == 0) and the identity exercise the degenerate branches.
    extra = np.stack([np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0]), np.eye(3)])
    matrices = np.concatenate([matrices, extra])
    q = matrix_to_quaternion(torch.from_numpy(matrices))
    assert torch.all(q[:, 0] >= 0)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(len(q), dtype=torch.float64))
    torch.testing.assert_close(quaternion_to_matrix(q), torch.from_numpy(matrices))
    np.testing.assert_allclose(matrix_to_quaternion_np(matrices), q.numpy(), atol=1e-12)
    # -q is the same rotation and maps back to the canonical sign.
    torch.testing.assert_close(matrix_to_quaternion(quaternion_to_matrix(-q)), q)


def test_quaternion_to_matrix_accepts_non_unit_and_batches_under_vmap() -> None:
    q = torch.tensor([[2.0, 0.0, 0.0, 2.0], [0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(quaternion_to_matrix(q), torch.from_numpy(quaternion_to_matrix_np(q.numpy())))
    matrices = torch.from_numpy(random_rotations(5, seed=3))
    torch.testing.assert_close(torch.func.vmap(matrix_to_quaternion)(matrices), matrix_to_quaternion(matrices))


def test_ros_order() -> None:
    wxyz = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(wxyz_to_xyzw(wxyz), [0.2, 0.3, 0.4, 0.1])
    np.testing.assert_array_equal(xyzw_to_wxyz(wxyz_to_xyzw(wxyz)), wxyz)
    torch.testing.assert_close(wxyz_to_xyzw(torch.tensor([[1.0, 2.0, 3.0, 4.0]])), torch.tensor([[2.0, 3.0, 4.0, 1.0]]))
    # Same as SciPy's scalar-last order.
    q = matrix_to_quaternion_np(random_rotations(1, seed=4))[0]
    np.testing.assert_allclose(Rotation.from_quat(wxyz_to_xyzw(q)).as_matrix(), quaternion_to_matrix_np(q), atol=1e-12)


def test_canonicalisation_keeps_y_axis_and_is_minimal() -> None:
    rotations = random_rotations(100, seed=1)
    canonical = canonicalize_symmetric_rotation(rotations)
    np.testing.assert_allclose(canonical[:, :, 1], rotations[:, :, 1], atol=1e-12)
    identity = np.broadcast_to(np.eye(3), canonical.shape)
    np.testing.assert_allclose(canonical @ canonical.transpose(0, 2, 1), identity, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(canonical), 1.0, atol=1e-12)
    # The smallest-angle member of the family: its angle is the angle between e_y and R e_y.
    np.testing.assert_allclose(rotation_error_deg(canonical, np.eye(3)),
                               np.degrees(np.arccos(np.clip(rotations[:, 1, 1], -1, 1))), atol=1e-6)


def test_canonicalisation_ignores_rotation_about_y() -> None:
    rotations = random_rotations(50, seed=2)
    spins = rotation_about_y(np.random.default_rng(0).uniform(-np.pi, np.pi, 50))
    np.testing.assert_allclose(canonicalize_symmetric_rotation(rotations @ spins),
                               canonicalize_symmetric_rotation(rotations), atol=1e-10)
    identity = np.broadcast_to(np.eye(3), spins.shape)
    np.testing.assert_allclose(canonicalize_symmetric_rotation(spins), identity, atol=1e-12)


def test_canonicalisation_matches_reference_s_map() -> None:
    """The reference prepares targets with ``s_map @ R_co`` (R_co camera-to-object)."""
    for rotation in random_rotations(20, seed=5):
        r_co = rotation.T
        theta_x, theta_y = r_co[0, 0] + r_co[2, 2], r_co[0, 2] - r_co[2, 0]
        norm = math.hypot(theta_x, theta_y)
        s_map = np.array([[theta_x / norm, 0, -theta_y / norm], [0, 1, 0], [theta_y / norm, 0, theta_x / norm]])
        np.testing.assert_allclose(canonicalize_symmetric_rotation(rotation), (s_map @ r_co).T, atol=1e-10)


def test_canonicalisation_of_upside_down_object_is_half_turn_about_x() -> None:
    upside_down = Rotation.from_euler("zy", [180.0, 37.0], degrees=True).as_matrix()
    np.testing.assert_allclose(upside_down[:, 1], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(canonicalize_symmetric_rotation(upside_down), np.diag([1.0, -1.0, -1.0]), atol=1e-12)


def test_rotation_errors() -> None:
    identity = np.eye(3)
    about_x = Rotation.from_euler("x", 30.0, degrees=True).as_matrix()
    about_y = Rotation.from_euler("y", 70.0, degrees=True).as_matrix()
    np.testing.assert_allclose(rotation_error_deg(about_x, identity), 30.0)
    np.testing.assert_allclose(rotation_error_deg(about_y, identity), 70.0)
    np.testing.assert_allclose(symmetric_rotation_error_deg(about_x, identity), 30.0)
    np.testing.assert_allclose(symmetric_rotation_error_deg(about_y, identity), 0.0, atol=1e-6)
    np.testing.assert_allclose(rotation_error_deg(np.stack([identity, about_x]), identity), [0.0, 30.0], atol=1e-6)
