"""Umeyama similarity fit and its RANSAC wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dualposenet_ros.data.umeyama import ransac_umeyama, umeyama, umeyama_batch


def _transform(seed: int = 0):
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=seed).as_matrix()
    scale = rng.uniform(0.05, 0.4)
    translation = rng.normal(0, 0.5, 3)
    return rng, scale, rotation, translation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_recovery_without_noise(seed):
    rng, scale, rotation, translation = _transform(seed)
    source = rng.random((200, 3)) - 0.5
    target = scale * source @ rotation.T + translation
    s, r, t = umeyama(source, target)
    assert s == pytest.approx(scale, rel=1e-12)
    np.testing.assert_allclose(r, rotation, atol=1e-12)
    np.testing.assert_allclose(t, translation, atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    # Minimal set of 3 points also exact.
    s3, r3, t3 = umeyama(source[:3], target[:3])
    np.testing.assert_allclose(r3, rotation, atol=1e-9)
    assert s3 == pytest.approx(scale, rel=1e-9)


def test_without_scale():
    rng, _, rotation, translation = _transform(3)
    source = rng.random((50, 3))
    target = source @ rotation.T + translation
    s, r, t = umeyama(source, target, with_scale=False)
    assert s == 1.0
    np.testing.assert_allclose(r, rotation, atol=1e-12)
    np.testing.assert_allclose(t, translation, atol=1e-12)


def test_reflection_gives_a_proper_rotation():
    """Target is a mirror image: the best *rotation* is returned (det +1), never a reflection."""
    rng = np.random.default_rng(4)
    source = rng.random((100, 3)) - 0.5
    mirror = np.diag([1.0, 1.0, -1.0])
    target = 0.3 * source @ mirror.T
    s, r, t = umeyama(source, target)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    # A naive SVD solution would be the reflection itself, with zero residual; ours is not.
    assert not np.allclose(r, mirror, atol=1e-3)
    # Planar data (the classic degenerate case): z = 0 plane mirrored is exactly a rotation by pi about x.
    planar = source.copy()
    planar[:, 2] = 0
    s2, r2, t2 = umeyama(planar, 0.3 * planar @ mirror.T + 1.0)
    assert np.linalg.det(r2) == pytest.approx(1.0)
    np.testing.assert_allclose(s2 * planar @ r2.T + t2, 0.3 * planar @ mirror.T + 1.0, atol=1e-12)
    assert s2 == pytest.approx(0.3)


def test_batch_matches_single():
    rng = np.random.default_rng(5)
    source = rng.random((6, 10, 3))
    target = rng.random((6, 10, 3))
    scales, rotations, translations = umeyama_batch(source, target)
    for h in range(6):
        s, r, t = umeyama(source[h], target[h])
        assert scales[h] == pytest.approx(s)
        np.testing.assert_allclose(rotations[h], r, atol=1e-12)
        np.testing.assert_allclose(translations[h], t, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_ransac_with_30_percent_outliers(seed):
    rng, scale, rotation, translation = _transform(seed)
    count = 1000
    source = rng.random((count, 3)) - 0.5
    target = scale * source @ rotation.T + translation + rng.normal(0, 0.0005, (count, 3))  # 0.5 mm noise
    outliers = rng.permutation(count)[: int(0.3 * count)]
    target[outliers] += rng.normal(0, 0.2, (len(outliers), 3))  # decimetres off
    fit = ransac_umeyama(source, target, threshold=0.005, iterations=64, rng=np.random.default_rng(seed))
    angle = np.degrees(Rotation.from_matrix(fit.rotation.T @ rotation).magnitude())
    assert angle < 0.2
    assert fit.scale == pytest.approx(scale, rel=0.005)
    np.testing.assert_allclose(fit.translation, translation, atol=1e-3)
    truth = np.ones(count, bool)
    truth[outliers] = False
    far = np.linalg.norm(target - (scale * source @ rotation.T + translation), axis=1) > 0.005
    assert not fit.inliers[far].any()  # no true outlier is accepted
    assert fit.inliers[truth].mean() > 0.99
    assert fit.inlier_ratio == pytest.approx(0.7, abs=0.02)
    # Plain Umeyama on the same data is visibly wrong: the test can tell the difference.
    s, r, t = umeyama(source, target)
    assert np.degrees(Rotation.from_matrix(r.T @ rotation).magnitude()) > 1.0 or abs(s / scale - 1) > 0.05


def test_ransac_deterministic_and_rejects_garbage():
    rng = np.random.default_rng(7)
    source = rng.random((300, 3))
    target = rng.random((300, 3))  # no structure at all
    a = ransac_umeyama(source, target, threshold=0.01, iterations=32, rng=1)
    b = ransac_umeyama(source, target, threshold=0.01, iterations=32, rng=1)
    np.testing.assert_array_equal(a.rotation, b.rotation)
    assert a.inlier_ratio < 0.2
    with pytest.raises(ValueError):
        ransac_umeyama(source[:2], target[:2])
