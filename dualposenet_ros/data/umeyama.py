"""Least-squares similarity transforms (Umeyama 1991) and a vectorised RANSAC around them.

Used by :mod:`dualposenet_ros.data.prepare` to align an instance's NOCS coordinates (source,
``coord - 0.5``, the normalised object frame) to its back-projected depth points (target, metres,
NOCS camera frame): ``target ~= scale * rotation @ source + translation``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SimilarityFit", "umeyama", "umeyama_batch", "ransac_umeyama"]


@dataclass(frozen=True)
class SimilarityFit:
    """``target ~= scale * rotation @ source + translation``; ``inliers`` is a boolean (N,) mask."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    inliers: np.ndarray

    @property
    def inlier_ratio(self) -> float:
        return float(np.mean(self.inliers)) if self.inliers.size else 0.0

    @property
    def num_inliers(self) -> int:
        return int(np.count_nonzero(self.inliers))


def umeyama_batch(source: np.ndarray, target: np.ndarray, with_scale: bool = True,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched Umeyama: ``source``/``target`` (H, N, 3) -> scale (H,), rotation (H, 3, 3), translation (H, 3).

    ``weights`` (H, N) (0/1 or non-negative) restricts each problem to a subset of the points. The
    rotation is always proper (det +1): a reflection that would fit better is replaced by the best
    rotation (Umeyama's sign correction). Degenerate sets (all source points equal) give scale 0.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 3 or source.shape[-1] != 3:
        raise ValueError(f"expected source and target of equal shape (H, N, 3), got {source.shape} and {target.shape}")
    if weights is None:
        weights = np.ones(source.shape[:2])
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=1)  # (H,)
    if np.any(total <= 0):
        raise ValueError("every problem needs at least one point with positive weight")
    w = (weights / total[:, None])[..., None]  # (H, N, 1), sums to 1
    mean_source = (w * source).sum(axis=1)
    mean_target = (w * target).sum(axis=1)
    source_c = source - mean_source[:, None]
    target_c = target - mean_target[:, None]
    covariance = np.einsum("hni,hnj->hij", w * target_c, source_c)  # (H, 3, 3): E[y x^T]
    u, d, vt = np.linalg.svd(covariance)
    sign = np.ones_like(d)
    sign[:, 2] = np.where(np.linalg.det(u) * np.linalg.det(vt) < 0, -1.0, 1.0)
    rotation = np.einsum("hij,hj,hjk->hik", u, sign, vt)
    if with_scale:
        variance = (w[..., 0] * np.sum(source_c**2, axis=-1)).sum(axis=1)
        scale = np.where(variance > 0, (d * sign).sum(axis=1) / np.where(variance > 0, variance, 1.0), 0.0)
    else:
        scale = np.ones(len(source))
    translation = mean_target - scale[:, None] * np.einsum("hij,hj->hi", rotation, mean_source)
    return scale, rotation, translation


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, R, t) with ``target ~= scale * R @ source + t``, R proper.

    ``source`` and ``target`` are (N, 3) corresponding points (N >= 3 for a unique rotation).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or source.shape[-1] != 3 or source.shape != target.shape:
        raise ValueError(f"expected source and target of equal shape (N, 3), got {source.shape} and {target.shape}")
    if len(source) < 3:
        raise ValueError(f"a similarity fit needs at least 3 points, got {len(source)}")
    scale, rotation, translation = umeyama_batch(source[None], target[None], with_scale)
    return float(scale[0]), rotation[0], translation[0]


def _squared_residuals(source: np.ndarray, target: np.ndarray, scale: np.ndarray, rotation: np.ndarray,
                       translation: np.ndarray) -> np.ndarray:
    if np.ndim(scale) == 0:
        difference = source @ (scale * np.asarray(rotation)).T + translation - target
        return np.einsum("ni,ni->n", difference, difference)
    # (H, N, 3) through batched matmul (BLAS), not einsum.
    linear = np.asarray(scale)[:, None, None] * np.asarray(rotation)
    difference = np.matmul(source[None], linear.transpose(0, 2, 1))
    difference += (np.asarray(translation)[:, None, :] - target[None])
    return np.einsum("hni,hni->hn", difference, difference)


def ransac_umeyama(source: np.ndarray, target: np.ndarray, threshold: float = 0.01, iterations: int = 128,
                   rng: np.random.Generator | int | None = None, sample_size: int = 4,
                   max_score_points: int = 1024, refinements: int = 3) -> SimilarityFit:
    """Robust similarity fit: RANSAC over random minimal sets, then Umeyama on the inliers.

    ``iterations`` hypotheses, each from ``sample_size`` (3..5) random correspondences, are fitted and
    scored all at once (batched SVD, (H, M) residual matrix); the score is the number of points whose
    residual is below ``threshold`` (in target units, metres here). Scoring uses at most
    ``max_score_points`` random points, so the cost does not grow with large masks. The best
    hypothesis's inliers (over all points) are refitted with Umeyama, and the inlier set / refit is
    iterated ``refinements`` times. If fewer than 3 inliers remain, the returned fit is the
    best hypothesis with its (possibly empty) inlier mask, so callers can reject it by ratio.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or source.shape[-1] != 3 or source.shape != target.shape:
        raise ValueError(f"expected source and target of equal shape (N, 3), got {source.shape} and {target.shape}")
    count = len(source)
    if count < 3:
        raise ValueError(f"a similarity fit needs at least 3 points, got {count}")
    if not 3 <= sample_size <= 5:
        raise ValueError(f"sample_size must be 3..5, got {sample_size}")
    if threshold <= 0 or iterations < 1:
        raise ValueError("threshold must be > 0 and iterations >= 1")
    rng = np.random.default_rng(rng)
    k = min(sample_size, count)

    # Minimal sets without repeats inside a set: argsort of random keys (vectorised, no Python loop).
    if count <= 64:
        samples = np.argsort(rng.random((iterations, count)), axis=1)[:, :k]
    else:
        samples = rng.integers(0, count, size=(iterations, k))
        # Redraw the (rare) sets with a repeated index.
        for _ in range(8):
            sorted_samples = np.sort(samples, axis=1)
            bad = np.any(sorted_samples[:, 1:] == sorted_samples[:, :-1], axis=1)
            if not bad.any():
                break
            samples[bad] = rng.integers(0, count, size=(int(bad.sum()), k))
    scales, rotations, translations = umeyama_batch(source[samples], target[samples])

    if count > max_score_points:
        subset = rng.choice(count, size=max_score_points, replace=False)
        score_source, score_target = source[subset], target[subset]
    else:
        score_source, score_target = source, target
    squared = _squared_residuals(score_source, score_target, scales, rotations, translations)
    threshold_sq = threshold * threshold
    scores = np.count_nonzero(squared < threshold_sq, axis=1)
    # Tie-break on the mean clipped squared residual (MSAC), so equally supported hypotheses prefer tighter fits.
    cost = np.minimum(squared, threshold_sq).mean(axis=1)
    best = int(np.lexsort((cost, -scores))[0])
    scale, rotation, translation = float(scales[best]), rotations[best], translations[best]
    inliers = _squared_residuals(source, target, scale, rotation, translation) < threshold_sq

    for _ in range(max(refinements, 1)):
        if np.count_nonzero(inliers) < 3:
            break
        scale, rotation, translation = umeyama(source[inliers], target[inliers])
        new_inliers = _squared_residuals(source, target, scale, rotation, translation) < threshold_sq
        if np.array_equal(new_inliers, inliers):
            break
        inliers = new_inliers
    return SimilarityFit(scale=float(scale), rotation=np.asarray(rotation), translation=np.asarray(translation),
                         inliers=inliers)
