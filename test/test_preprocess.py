"""Pre-processing: back-projection, normalisation, sampling and the three spherical-map implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualposenet_ros.model.preprocess import (
    Intrinsics,
    backproject,
    centre,
    normalize_rgb,
    sample_point_indices,
    spherical_maps,
    spherical_maps_batch,
    spherical_maps_reference,
)


def test_intrinsics_presets_and_matrix_round_trip() -> None:
    assert Intrinsics.CAMERA == Intrinsics(577.5, 577.5, 319.5, 239.5)
    assert Intrinsics.REAL == Intrinsics(591.0125, 590.16775, 322.525, 244.11084)
    matrix = Intrinsics.REAL.matrix
    np.testing.assert_array_equal(matrix, [[591.0125, 0, 322.525], [0, 590.16775, 244.11084], [0, 0, 1]])
    assert Intrinsics.from_matrix(matrix) == Intrinsics.REAL
    assert Intrinsics.from_matrix(matrix.ravel().tolist()) == Intrinsics.REAL


def test_backproject_hand_made_image() -> None:
    intrinsics = Intrinsics(fx=2.0, fy=4.0, cx=1.0, cy=1.0)
    depth = np.array([[2.0, 0.0, 4.0], [np.nan, 8.0, 1.0]], dtype=np.float32)
    mask = np.array([[True, True, True], [True, True, False]])
    points, (rows, cols) = backproject(depth, intrinsics, mask)
    # Kept pixels (row, col, z): (0,0,2), (0,2,4), (1,1,8); zero depth, NaN and unmasked dropped.
    np.testing.assert_array_equal(rows, [0, 0, 1])
    np.testing.assert_array_equal(cols, [0, 2, 1])
    expected = [[-(0 - 1) * 2 / 2, -(0 - 1) * 2 / 4, 2], [-(2 - 1) * 4 / 2, -(0 - 1) * 4 / 4, 4], [0, 0, 8]]
    assert points.dtype == np.float32
    np.testing.assert_allclose(points, expected)


def test_backproject_integer_depth_and_label_mask() -> None:
    depth = np.full((4, 5), 1000, dtype=np.uint16)
    points, _ = backproject(depth, Intrinsics.CAMERA, np.eye(4, 5, dtype=np.uint8) * 3)
    assert points.shape == (4, 3) and np.all(points[:, 2] == 1000)


@pytest.mark.parametrize(("depth_shape", "mask_shape"), [((4, 5), (5, 4)), ((4, 5), (4, 5, 1)), ((4, 5, 1), (4, 5, 1))])
def test_backproject_rejects_mismatched_shapes(depth_shape: tuple[int, ...], mask_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        backproject(np.ones(depth_shape), Intrinsics.CAMERA, np.ones(mask_shape, dtype=bool))


def test_normalize_rgb() -> None:
    rgb = np.array([[123.7, 116.8, 103.9], [255, 0, 51]], dtype=np.float64)
    normalised = normalize_rgb(rgb)
    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised, [[0, 0, 0], [131.3 / 255, -116.8 / 255, -52.9 / 255]], atol=1e-6)
    with pytest.raises(ValueError):
        normalize_rgb(np.zeros((2, 4)))


def test_sample_point_indices_replacement_rule() -> None:
    unique = sample_point_indices(2000, 1024, np.random.default_rng(0))
    assert unique.shape == (1024,) and len(np.unique(unique)) == 1024 and unique.max() < 2000
    # Exactly as many points as needed still samples with replacement (the reference's rule).
    equal = sample_point_indices(1024, 1024, np.random.default_rng(0))
    np.testing.assert_array_equal(equal, np.random.default_rng(0).choice(1024, 1024, replace=True))
    few = sample_point_indices(10, 1024, np.random.default_rng(1))
    assert few.shape == (1024,) and set(few.tolist()) <= set(range(10))
    np.testing.assert_array_equal(few, sample_point_indices(10, 1024, np.random.default_rng(1)))
    with pytest.raises(ValueError):
        sample_point_indices(0)


def test_centre() -> None:
    points = np.array([[1, 2, 3], [3, 4, 5]], dtype=np.float32)
    centred, centroid = centre(points)
    np.testing.assert_array_equal(centroid, [2, 3, 4])
    np.testing.assert_array_equal(centred, [[-1, -1, -1], [1, 1, 1]])
    assert centred.dtype == centroid.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Spherical maps


def test_reference_quirks_on_hand_made_points() -> None:
    n = 64
    points = np.array(
        [
            [0, -1, 0],  # y < 0: atan2 + 2 pi -> azimuth 3n/4, polar n/2
            [-1, 0, 0],  # y == 0: azimuth 0 even though it points at azimuth pi
            [0, 0, -2],  # -z axis: polar round(n) wraps to 0
            [0, 0, 1],  # +z axis: same cell, smaller radius, does not replace
            [0, 0, -2],  # same radius as the first -z point: the later one wins
        ],
        dtype=np.float32,
    )
    colors = np.arange(15, dtype=np.float32).reshape(5, 3)
    distance, rgb = spherical_maps_reference(points, colors, n)
    assert distance[48, 32, 0] == pytest.approx(1.0) and np.all(rgb[48, 32] == colors[0])
    assert distance[0, 32, 0] == pytest.approx(1.0) and np.all(rgb[0, 32] == colors[1])
    assert distance[0, 0, 0] == pytest.approx(2.0) and np.all(rgb[0, 0] == colors[4])
    assert np.count_nonzero(distance) == 3 and np.count_nonzero(rgb.any(axis=-1)) == 3
    for fast_distance, fast_rgb in (spherical_maps(points, colors, n), _batch_maps([points], [colors], n)[0]):
        np.testing.assert_array_equal(fast_distance, distance)
        np.testing.assert_array_equal(fast_rgb, rgb)


def _tricky_cloud(generator: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantised coordinates: many equal radii (ties), many y == 0 points and points on the z axis."""
    points = generator.integers(-4, 5, size=(count, 3)).astype(np.float32) * np.float32(0.05)
    points[: count // 10, :2] = 0.0  # on the z axis, both poles
    points[count // 10 : count // 5, 1] = 0.0  # y == 0
    points = points[generator.permutation(count)]
    colors = generator.random((count, 3), dtype=np.float32)
    return points, colors


def _batch_maps(clouds: list[np.ndarray], colours: list[np.ndarray], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pad the clouds (with NaN garbage), run the batched version, and unpack to (n, n, c) maps."""
    size = max(len(cloud) for cloud in clouds) + 3
    points = torch.full((len(clouds), size, 3), float("nan"))
    colors = torch.full((len(clouds), size, 3), 7.0)
    valid = torch.zeros(len(clouds), size, dtype=torch.bool)
    for index, (cloud, colour) in enumerate(zip(clouds, colours)):
        points[index, : len(cloud)] = torch.from_numpy(cloud)
        colors[index, : len(cloud)] = torch.from_numpy(colour)
        valid[index, : len(cloud)] = True
    distance, rgb = spherical_maps_batch(points, colors, valid, n)
    assert distance.shape == (len(clouds), 1, n, n) and rgb.shape == (len(clouds), 3, n, n)
    return [(d.permute(1, 2, 0).numpy(), c.permute(1, 2, 0).numpy()) for d, c in zip(distance, rgb)]


@pytest.mark.parametrize("n", [16, 64])
def test_vectorised_maps_equal_reference(n: int) -> None:
    generator = np.random.default_rng(n)
    clouds = [_tricky_cloud(generator, count) for count in (1500, 700, 1)]
    smooth = generator.standard_normal((1000, 3)).astype(np.float32)
    clouds.append((smooth, generator.random((1000, 3), dtype=np.float32)))
    batched = _batch_maps([cloud for cloud, _ in clouds], [colour for _, colour in clouds], n)
    for (points, colors), (batch_distance, batch_rgb) in zip(clouds, batched):
        distance, rgb = spherical_maps_reference(points, colors, n)
        assert distance.shape == (n, n, 1) and rgb.shape == (n, n, 3)
        assert distance.dtype == rgb.dtype == np.float32
        fast_distance, fast_rgb = spherical_maps(points, colors, n)
        np.testing.assert_array_equal(fast_distance, distance)
        np.testing.assert_array_equal(fast_rgb, rgb)
        np.testing.assert_array_equal(batch_distance, distance)
        np.testing.assert_array_equal(batch_rgb, rgb)


def test_maps_of_empty_cloud_are_zero() -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    distance, rgb = spherical_maps(empty, empty, 8)
    assert not distance.any() and not rgb.any()
    ones = np.ones((2, 3), dtype=np.float32)
    batch_distance, batch_rgb = _batch_maps([empty, ones], [empty, ones], 8)[0]
    assert not batch_distance.any() and not batch_rgb.any()


def test_maps_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        spherical_maps(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError):
        spherical_maps_batch(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), torch.ones(2, 4, dtype=torch.bool))
